"""What a handheld scanner types is read as the posting, tracking number, barcode value or job it
names, whatever the scanner's settings, the keyboard layout or Caps Lock did to it."""

from __future__ import annotations

import pytest

from labeld.config import PreflightConfig
from labeld.daemon.scan import Reading, clean, readings

PATTERN = PreflightConfig().posting_pattern


def kinds(raw: str, kind: str) -> list[str]:
    return [r.value for r in readings(raw, PATTERN) if r.kind == kind]


@pytest.mark.parametrize("raw", [
    "73710533-0456-1",
    "OZON:73710533-0456-1",
    "ozon:73710533-0456-1",
    "  OZON:73710533-0456-1\r\n",
    "]Q1OZON:73710533-0456-1",
    "73710533 0456 1",
    "7371053304561",
    "73710533_0456_1\t",
    "*73710533-0456-1*",
    "ЩЯЩТЖ73710533-0456-1",  # OZON: typed with the Russian layout active
    "щящтж73710533-0456-1",  # ... and Caps Lock on
])
def test_every_form_of_an_ozon_posting_reads_as_the_posting(raw: str) -> None:
    """The posting number comes out of Ozon's QR text, spaced, bare, prefixed and layout-bent scans."""
    assert kinds(raw, "posting")[0] == "73710533-0456-1"


def test_a_two_digit_last_part_is_rebuilt_from_bare_digits() -> None:
    """Bare digits are split 8-4-1 or 8-4-2, whichever the posting pattern takes."""
    assert kinds("12345678001212", "posting") == ["12345678-0012-12"]


def test_a_tracking_number_and_a_tracking_link_read_as_tracking() -> None:
    """A tracking number is tried as typed and in capitals; a link's last path segment is tried too."""
    assert kinds("ra123456789ru", "tracking")[:2] == ["ra123456789ru", "RA123456789RU"]
    assert "TRK000000042" in kinds("https://ozon.example/t/TRK000000042", "tracking")
    assert "TRK7" in kinds("https://track.example/?id=TRK7", "tracking")


def test_a_wildberries_sticker_barcode_is_kept_exactly_and_case_bent_back() -> None:
    """A WB sticker's Code128 text is looked up as a barcode value, also with Caps Lock undone."""
    assert kinds("!uKEtQZVx\n", "barcode")[0] == "!uKEtQZVx"
    assert "!uKEtQZVx" in kinds("!UkeTqzvX", "barcode")


def test_a_job_id_is_the_last_reading_and_only_for_short_numbers() -> None:
    """"1042", "#1042" and "job 1042" may name a job; a 13-digit scan never does."""
    assert readings("#1042", PATTERN)[-1] == Reading("job", "1042")
    assert kinds("job 1042", "job") == ["1042"]
    assert kinds("7371053304561", "job") == []


def test_control_characters_and_an_aim_identifier_are_removed() -> None:
    """GS separators, CR/LF and a leading ]C1 are not part of what a label holds."""
    assert clean("]C1\x1dABC-123\r\n") == "ABC-123"
    assert readings(" \r\n\t", PATTERN) == []
