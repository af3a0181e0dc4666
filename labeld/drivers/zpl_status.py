"""Zebra status answers (``~HS`` and ``~HQES``): parsed into :class:`PrinterStatus`, and written.

``~HS`` answers three ``STX … ETX CR LF`` strings of comma-separated fields (ZPL II guide,
"Host Status Return"): string 1 carries paper out, pause, formats in the receive buffer and
buffer full; string 2 head up (open), ribbon out, print mode and labels remaining in the batch.
Several firmwares stay silent on ``~HS`` while in a fault (media out, head open, ribbon out),
so the driver asks ``~HQES`` in the same breath: its error word names the fault even then.

The writers (:func:`host_status_answer`, :func:`extended_status_answer`) are here for the
emulator, so that what it says and what the driver reads are defined in one place; the tests
also parse answers written out by hand from the guide's layout.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from labeld.drivers.base import PrinterStatus

STX, ETX = "\x02", "\x03"
_FRAME = re.compile(r"\x02(.*?)\x03", re.DOTALL)
_HQES_LINE = re.compile(r"(ERRORS|WARNINGS):\s*([01])\s+([0-9A-Fa-f]{8})\s+([0-9A-Fa-f]{8})")

#: ~HQES error flags (group 2) → IPP printer-state-reasons keyword.
ERROR_FLAGS: dict[int, tuple[str, str]] = {
    0x00000001: ("media-empty", "out of media"),
    0x00000002: ("marker-supply-empty", "ribbon out"),
    0x00000004: ("cover-open", "print head open"),
    0x00000008: ("cutter-error", "cutter fault"),
    0x00000010: ("overheated", "print head over temperature"),
    0x00000020: ("overheated", "motor over temperature"),
    0x00000040: ("other", "bad print head element"),
    0x00000080: ("other", "print head detection error"),
    0x00000100: ("other", "invalid firmware configuration"),
    0x00000200: ("other", "print head thermistor open"),
    0x00001000: ("media-jam", "paper jam during retract"),
    0x00002000: ("other", "presenter not running"),
    0x00004000: ("media-jam", "paper feed error"),
    0x00008000: ("media-jam", "clear paper path failed"),
}
#: ~HQES warning flags (group 2) → (keyword or "", sentence). Warnings never stop printing.
WARNING_FLAGS: dict[int, tuple[str, str]] = {
    0x00000001: ("", "media needs calibrating"),
    0x00000002: ("", "print head needs cleaning"),
    0x00000004: ("", "print head needs replacing"),
    0x00000008: ("media-low", "paper near its end"),
}
PRINT_MODES = {"0": "rewind", "1": "peel", "2": "tear", "3": "cut", "4": "applicator", "5": "delayed-cut"}
MODE_CODES = {mode: code for code, mode in PRINT_MODES.items()}


@dataclass(frozen=True)
class HostStatus:
    """The fields of a ``~HS`` answer that labeld acts on."""

    paper_out: bool = False
    paused: bool = False
    label_length: int = 0
    formats_in_buffer: int = 0
    buffer_full: bool = False
    partial_format: bool = False
    under_temperature: bool = False
    over_temperature: bool = False
    head_open: bool = False
    ribbon_out: bool = False
    print_mode: str = "tear"
    labels_remaining: int = 0
    graphics_stored: int = 0

    @property
    def drained(self) -> bool:
        """Nothing left to print: the format buffer is empty and no batch is running."""
        return self.formats_in_buffer == 0 and self.labels_remaining == 0 and not self.partial_format


@dataclass(frozen=True)
class ExtendedStatus:
    """A ``~HQES`` answer: the group-2 error and warning words."""

    errors: int = 0
    warnings: int = 0


@dataclass(frozen=True)
class StatusAnswer:
    """What came back for one status question; either part is None when the printer kept quiet."""

    host: HostStatus | None
    extended: ExtendedStatus | None

    @property
    def silent(self) -> bool:
        return self.host is None and self.extended is None


def frames(data: bytes) -> list[str]:
    """The texts between STX and ETX, in order (incomplete frames are left out)."""
    return _FRAME.findall(data.decode("latin-1"))


def parse_answer(data: bytes) -> StatusAnswer:
    """Read everything a printer sent after ``~HS~HQES`` (in any order, with or without either)."""
    host_lines: list[list[str]] = []
    extended = None
    for frame in frames(data):
        if "PRINTER STATUS" in frame or "ERRORS" in frame:
            extended = parse_extended_status(frame)
        elif "," in frame or frame.strip().isdigit():
            host_lines.append([field.strip() for field in frame.split(",")])
    return StatusAnswer(parse_host_status(host_lines), extended)


def parse_host_status(lines: list[list[str]]) -> HostStatus | None:
    """String 1 and 2 of ``~HS`` (string 3 adds nothing labeld uses); None if they are missing."""
    first = next((line for line in lines if len(line) >= 12), None)
    second = next((line for line in lines if len(line) == 11), None)
    if first is None or second is None:
        return None
    try:
        return HostStatus(
            paper_out=first[1] == "1",
            paused=first[2] == "1",
            label_length=int(first[3]),
            formats_in_buffer=int(first[4]),
            buffer_full=first[5] == "1",
            partial_format=first[7] == "1",
            under_temperature=first[10] == "1",
            over_temperature=first[11] == "1",
            head_open=second[2] == "1",
            ribbon_out=second[3] == "1",
            print_mode=PRINT_MODES.get(second[5], second[5]),
            labels_remaining=int(second[8]),
            graphics_stored=int(second[10]),
        )
    except ValueError:
        return None


def parse_extended_status(frame: str) -> ExtendedStatus | None:
    words = {m.group(1): int(m.group(4), 16) if m.group(2) == "1" else 0 for m in _HQES_LINE.finditer(frame)}
    if "ERRORS" not in words:
        return None
    return ExtendedStatus(errors=words["ERRORS"], warnings=words.get("WARNINGS", 0))


def to_printer_status(answer: StatusAnswer, silence: str = "the printer did not answer") -> PrinterStatus:
    """The printer's state in labeld's vocabulary (IPP reasons, a sentence, busy, detail)."""
    if answer.silent:
        return PrinterStatus(reasons=("offline",), message=silence)
    reasons: list[str] = []
    words: list[str] = []
    detail: dict[str, object] = {}
    if answer.host is not None:
        _read_host(answer.host, reasons, words, detail)
    if answer.extended is not None:
        _read_extended(answer.extended, reasons, words, detail)
    if answer.host is None:
        words.append("no answer to ~HS (the printer keeps quiet while in a fault)")
    busy = answer.host is not None and not answer.host.drained
    unique = tuple(dict.fromkeys(reasons))
    message = "; ".join(dict.fromkeys(words)) or ("printing" if busy else "ready")
    return PrinterStatus(reasons=unique, message=message, busy=busy, detail=detail)


def _read_host(host: HostStatus, reasons: list[str], words: list[str], detail: dict[str, object]) -> None:
    flags = (
        (host.paper_out, "media-empty", "out of paper"),
        (host.head_open, "cover-open", "print head open"),
        (host.ribbon_out, "marker-supply-empty", "ribbon out"),
        (host.paused, "paused", "paused"),
        (host.buffer_full, "spool-area-full", "receive buffer full"),
        (host.over_temperature, "overheated", "print head over temperature"),
    )
    for on, reason, sentence in flags:
        if on:
            reasons.append(reason)
            words.append(sentence)
    if host.labels_remaining:
        words.append(f"{host.labels_remaining} label(s) left in the batch")
    detail.update(
        formats_in_buffer=host.formats_in_buffer,
        partial_format=host.partial_format,
        labels_remaining=host.labels_remaining,
        label_length_dots=host.label_length,
        print_mode=host.print_mode,
    )


def _read_extended(extended: ExtendedStatus, reasons: list[str], words: list[str], detail: dict[str, object]) -> None:
    for flag, (reason, sentence) in ERROR_FLAGS.items():
        if extended.errors & flag:
            reasons.append(reason)
            words.append(sentence)
    known = sum(ERROR_FLAGS)
    if extended.errors & ~known:
        reasons.append("other")
        words.append(f"printer error {extended.errors:08X}")
    for flag, (reason, sentence) in WARNING_FLAGS.items():
        if extended.warnings & flag:
            if reason:
                reasons.append(reason)
            words.append(sentence)
    detail.update(error_flags=f"{extended.errors:08X}", warning_flags=f"{extended.warnings:08X}")


# --- answers, as a printer writes them --------------------------------------------------------


def host_status_answer(status: HostStatus) -> bytes:
    """The three ``~HS`` strings for ``status`` (9600 8N1 comm settings, like a factory printer)."""
    first = ",".join((
        "030", _flag(status.paper_out), _flag(status.paused), f"{status.label_length:04d}",
        f"{status.formats_in_buffer:03d}", _flag(status.buffer_full), "0", _flag(status.partial_format),
        "000", "0", _flag(status.under_temperature), _flag(status.over_temperature),
    ))
    second = ",".join((
        "001", "0", _flag(status.head_open), _flag(status.ribbon_out), "0",
        MODE_CODES.get(status.print_mode, "2"), "0", "0", f"{status.labels_remaining:08d}", "1",
        f"{status.graphics_stored:03d}",
    ))
    third = "1234,0"
    return "".join(f"{STX}{line}{ETX}\r\n" for line in (first, second, third)).encode("ascii")


def extended_status_answer(status: ExtendedStatus) -> bytes:
    """The ``~HQES`` answer for ``status``."""

    def line(name: str, word: int) -> str:
        return f"   {name + ':':<16}{1 if word else 0} 00000000 {word:08X}\r\n"

    body = "PRINTER STATUS\r\n" + line("ERRORS", status.errors) + line("WARNINGS", status.warnings)
    return f"{STX}\r\n{body}{ETX}\r\n".encode("ascii")


def _flag(on: bool) -> str:
    return "1" if on else "0"
