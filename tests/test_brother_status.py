"""The 32-byte Brother QL status reply: every error bit, the media, and the mismatch sentence."""

from __future__ import annotations

import pytest

from labeld.config import PrinterConfig
from labeld.drivers.base import LoadedMedia, PrinterStatus
from labeld.drivers.brother_ql import BrotherQLDriver
from labeld.drivers.brother_status import BrotherStatus


def reply(error1: int = 0, error2: int = 0, width: int = 62, kind: int = 0x0A, length: int = 0,
          status_type: int = 0, notification: int = 0) -> bytes:
    """A status reply written byte by byte from the command reference (not via to_bytes)."""
    data = bytearray(32)
    data[0:8] = bytes((0x80, 0x20, 0x42, 0x34, 0x41, 0x30, 0x00, 0x00))
    data[8], data[9], data[10], data[11] = error1, error2, width, kind
    data[17], data[18], data[22] = length, status_type, notification
    return bytes(data)


@pytest.mark.parametrize(("error1", "error2", "reason"), [
    (0x01, 0, "media-empty"), (0x02, 0, "media-needed"), (0x04, 0, "media-jam"), (0x20, 0, "offline"),
    (0x80, 0, "other"), (0, 0x01, "media-mismatch"), (0, 0x02, "spool-area-full"), (0, 0x04, "other"),
    (0, 0x10, "cover-open"), (0, 0x40, "media-jam"), (0, 0x80, "other"),
])
def test_each_error_bit_becomes_its_reason(error1: int, error2: int, reason: str) -> None:
    """Every documented error bit maps to an IPP reason that blocks the printer."""
    status = BrotherStatus.parse(reply(error1, error2, status_type=2)).to_printer_status()
    assert status.reasons == (reason,)
    assert status.blocked and status.message


def test_cooling_notification_is_overheated() -> None:
    """Notification 03 (cooling started) reads as overheated."""
    assert BrotherStatus.parse(reply(status_type=5, notification=3)).to_printer_status().reasons == ("overheated",)


def test_ready_printer_has_no_reasons_and_reports_loaded_media() -> None:
    """A clean reply: no reasons, 62 mm endless loaded, model code kept."""
    parsed = BrotherStatus.parse(reply())
    status = parsed.to_printer_status()
    assert status.reasons == () and not status.blocked
    assert status.media == LoadedMedia(62.0, None, "endless")
    assert parsed.model_code == 0x41


def test_die_cut_media_has_a_length() -> None:
    assert BrotherStatus.parse(reply(width=62, kind=0x0B, length=29)).loaded_media == LoadedMedia(62.0, 29.0, "die-cut")


def test_in_use_bit_is_busy_not_an_error() -> None:
    status = BrotherStatus.parse(reply(error1=0x10)).to_printer_status()
    assert status.busy and status.reasons == ()


def test_builder_and_parser_agree() -> None:
    """The emulator's builder writes what the parser reads."""
    built = BrotherStatus(error1=0x01, error2=0x10, media_width_mm=29, media_type=0x0A, status_type=2)
    assert BrotherStatus.parse(built.to_bytes()) == built
    assert built.to_bytes()[:3] == b"\x80\x20\x42"


@pytest.mark.parametrize("data", [b"", b"\x80\x20\x42" + bytes(28), b"\x00" * 32])
def test_garbage_is_not_a_status(data: bytes) -> None:
    with pytest.raises(ValueError):
        BrotherStatus.parse(data)


def driver(media: str) -> BrotherQLDriver:
    return BrotherQLDriver(PrinterConfig(name="ql", driver="brother_ql", uri="usb://0x04f9:0x209d", media=media))


def test_media_mismatch_says_what_is_loaded_and_what_is_needed() -> None:
    """62 mm endless loaded, 62x29 die-cut wanted: the sentence names both."""
    loaded = BrotherStatus.parse(reply(width=62, kind=0x0A)).to_printer_status()
    mismatch = driver("62x29").media_mismatch(loaded)
    assert mismatch is not None and mismatch.code == "printer.media_mismatch"
    assert "62 mm endless" in mismatch.text() and "62×29 mm die-cut" in mismatch.text()


def test_matching_or_unknown_media_is_no_mismatch() -> None:
    assert driver("62").media_mismatch(BrotherStatus.parse(reply()).to_printer_status()) is None
    assert driver("29x90").media_mismatch(
        BrotherStatus.parse(reply(width=29, kind=0x0B, length=90)).to_printer_status()) is None
    assert driver("62").media_mismatch(PrinterStatus.unknown()) is None


def test_geometry_comes_from_the_label_table() -> None:
    """62 endless: 696 dots, no length; 62x29: 696×271; 29: 306; all at 300 dpi."""
    assert (driver("62").geometry.width_dots, driver("62").geometry.length_dots) == (696, None)
    assert (driver("62x29").geometry.width_dots, driver("62x29").geometry.length_dots) == (696, 271)
    assert driver("29").geometry.width_dots == 306 and driver("29").geometry.dpi == 300
