"""~HS / ~HQES answers into labeld's printer states."""

from __future__ import annotations

import pytest

from labeld.drivers.zpl_status import (
    ExtendedStatus,
    HostStatus,
    extended_status_answer,
    host_status_answer,
    parse_answer,
    to_printer_status,
)

READY = (b"\x02030,0,0,0959,000,0,0,0,000,0,0,0\x03\r\n"
         b"\x02001,0,0,0,0,2,0,0,00000000,1,000\x03\r\n"
         b"\x021234,0\x03\r\n")
HQES_OK = b"\x02\r\nPRINTER STATUS\r\n   ERRORS:         0 00000000 00000000\r\n" \
          b"   WARNINGS:       0 00000000 00000000\r\n\x03\r\n"


def _host(paper: str = "0", pause: str = "0", formats: str = "000", full: str = "0", head: str = "0",
          ribbon: str = "0", remaining: str = "00000000") -> bytes:
    return (f"\x02030,{paper},{pause},0959,{formats},{full},0,0,000,0,0,0\x03\r\n"
            f"\x02001,0,{head},{ribbon},0,2,0,0,{remaining},1,000\x03\r\n\x021234,0\x03\r\n").encode()


def test_ready_printer_has_no_reasons() -> None:
    """A printer with nothing wrong and nothing queued is ready and not busy."""
    status = to_printer_status(parse_answer(READY + HQES_OK))
    assert (status.reasons, status.busy, status.blocked) == ((), False, False)
    assert status.detail["label_length_dots"] == 959


@pytest.mark.parametrize(
    ("answer", "reason"),
    [(_host(paper="1"), "media-empty"), (_host(head="1"), "cover-open"), (_host(ribbon="1"), "marker-supply-empty"),
     (_host(pause="1"), "paused"), (_host(full="1"), "spool-area-full")],
)
def test_host_status_flags_map_to_ipp_reasons(answer: bytes, reason: str) -> None:
    """Each ~HS flag becomes the IPP keyword the Brother driver uses for the same trouble."""
    status = to_printer_status(parse_answer(answer))
    assert status.reasons == (reason,)
    assert status.blocked


def test_labels_remaining_and_formats_make_it_busy() -> None:
    """Formats in the buffer or labels left in a batch: printing, not drained."""
    answer = parse_answer(_host(formats="002", remaining="00000005"))
    assert answer.host is not None
    assert (answer.host.formats_in_buffer, answer.host.labels_remaining, answer.host.drained) == (2, 5, False)
    status = to_printer_status(answer)
    assert status.busy and "5 label(s) left" in status.message


@pytest.mark.parametrize(
    ("errors", "reason"),
    [(0x1, "media-empty"), (0x2, "marker-supply-empty"), (0x4, "cover-open"), (0x8, "cutter-error"),
     (0x10, "overheated"), (0x4000, "media-jam"), (0x100000, "other")],
)
def test_hqes_alone_names_the_fault_when_hs_is_silent(errors: int, reason: str) -> None:
    """Firmware that keeps quiet on ~HS in a fault still answers ~HQES: the fault is known."""
    data = f"\x02\r\nPRINTER STATUS\r\n   ERRORS:         1 00000000 {errors:08X}\r\n" \
           f"   WARNINGS:       0 00000000 00000000\r\n\x03\r\n".encode()
    status = to_printer_status(parse_answer(data))
    assert reason in status.reasons
    assert "no answer to ~HS" in status.message


def test_paper_near_end_warning_does_not_block() -> None:
    data = b"\x02\r\nPRINTER STATUS\r\n   ERRORS:         0 00000000 00000000\r\n" \
           b"   WARNINGS:       1 00000000 00000008\r\n\x03\r\n"
    status = to_printer_status(parse_answer(READY + data))
    assert status.reasons == ("media-low",)
    assert not status.blocked


def test_silence_is_offline_with_a_sentence() -> None:
    """No answer at all is a state: offline, with the message the caller gives."""
    status = to_printer_status(parse_answer(b""), "the printer did not answer ~HS or ~HQES within 2 s")
    assert status.reasons == ("offline",)
    assert status.message.startswith("the printer did not answer")


def test_half_an_answer_is_not_misread() -> None:
    """An answer cut before its second line reads as no ~HS answer, not as garbage."""
    assert parse_answer(READY[:40]).host is None


def test_written_answers_parse_back() -> None:
    """What the emulator writes is what the driver reads."""
    host = HostStatus(paper_out=True, formats_in_buffer=3, labels_remaining=7, head_open=True, print_mode="cut",
                      label_length=1417)
    extended = ExtendedStatus(errors=0x5, warnings=0x8)
    answer = parse_answer(host_status_answer(host) + extended_status_answer(extended))
    assert (answer.host, answer.extended) == (host, extended)
