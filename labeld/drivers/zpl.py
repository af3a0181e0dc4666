"""Zebra ZPL: the label bitmap as one ``^GF`` graphic, status over ``~HS``/``~HQES``.

Zebra printers answer on the same connection they print from (TCP 9100, USB), so status and
completion come from the printer itself: a label is confirmed when ``~HS`` says the format
buffer is empty and no batch is running. See docs/devdocs/ZPL.md for the protocol notes.
"""

from __future__ import annotations

import re
import time
from typing import TYPE_CHECKING

from labeld.bitmap import Bitmap
from labeld.devices.base import Device
from labeld.drivers.base import Driver, PrinterStatus, drain_input, register_driver
from labeld.drivers.snmp_status import snmp_status_for
from labeld.drivers.zpl_graphics import DEFAULT_COMPRESSION, encode_field_data, pack_bitmap
from labeld.drivers.zpl_status import StatusAnswer, parse_answer, to_printer_status
from labeld.errors import DeviceError
from labeld.media import Geometry, generic_geometry, parse_media

if TYPE_CHECKING:
    from labeld.config import PrinterConfig

DEFAULT_DPI = 203
#: Printable dots across a 4-inch (104 mm) desktop head such as the ZD420's.
HEAD_DOTS = {203: 832, 300: 1248}
MODE_COMMANDS = {"tear": "T", "peel": "P", "cut": "C"}
STATUS_QUERY = b"~HS~HQES\r\n"
#: How long to wait for a status answer before calling the printer silent.
STATUS_TIMEOUT = 2.0
#: Once one of the two answers is in, how long to wait for the other (it may never come).
SECOND_ANSWER_GRACE = 0.3
CONFIRM_POLL = 0.03  # seconds; the printer idles up to this long between labels

_BINARY_OK = re.compile(rb"\^GFB|~DY|~DB|~DU", re.IGNORECASE)
_CONTROL = re.compile(rb"[\x00-\x01\x04-\x08\x0b\x0c\x0e-\x1f\x7f]")
_COMMAND = re.compile(rb"[\^~][A-Za-z@][A-Za-z0-9@]?")


class ZplDriver(Driver[Device]):
    """Zebra ZPL II printers (ZD420 first). ``compression`` picks the ``^GF`` data form."""

    name = "zpl"
    extension = "zpl"
    native_copies = True

    def __init__(self, printer: PrinterConfig, compression: str = DEFAULT_COMPRESSION) -> None:
        super().__init__(printer)
        self.compression = compression
        self.status_timeout = STATUS_TIMEOUT
        #: Only with ``status = "snmp"``: ~HS answers on the print connection already.
        self.snmp = snmp_status_for(printer, brother=False)

    @property
    def dpi(self) -> int:
        return self.printer.dpi or DEFAULT_DPI

    @property
    def geometry(self) -> Geometry:
        head = HEAD_DOTS.get(self.dpi)
        if head is None:
            raise ValueError(f"printer {self.printer.name!r}: a Zebra head has 203 or 300 dpi, not {self.dpi}")
        geometry = generic_geometry(parse_media(self.printer.media), self.dpi)
        if geometry.width_dots > head:
            raise ValueError(
                f"printer {self.printer.name!r}: media {self.printer.media} is {geometry.width_dots} dots wide "
                f"at {self.dpi} dpi, wider than the {head}-dot (4-inch) head"
            )
        return geometry

    def self_check(self) -> str | None:
        try:
            _ = self.geometry
        except ValueError as error:
            return str(error)
        return None

    def encode(self, bitmap: Bitmap, copies: int = 1) -> bytes:
        if copies < 1:
            raise ValueError(f"copies must be at least 1, not {copies}")
        rows, dots = bitmap.shape
        head = HEAD_DOTS.get(self.dpi, 0)
        if dots > head:
            raise ValueError(f"the label is {dots} dots wide, wider than the {head}-dot head at {self.dpi} dpi")
        graphic = pack_bitmap(bitmap)
        data = encode_field_data(graphic, self.compression)
        lines = [*self._settings_before(), "^XA", f"^PW{dots}", f"^LL{rows}", "^LH0,0", *self._settings_inside(),
                 f"^FO0,0^GFA,{graphic.total},{graphic.total},{graphic.row_bytes},{data}^FS", f"^PQ{copies}", "^XZ"]
        return ("\n".join(lines) + "\n").encode("ascii")

    def _settings_before(self) -> list[str]:
        """``~SD``: darkness is absolute (0–30, the menu's scale); ``^MD`` would only shift the
        printer's own setting, so the same config would print differently on two printers."""
        darkness = self.printer.darkness
        return [] if darkness is None else [f"~SD{darkness:02d}"]

    def _settings_inside(self) -> list[str]:
        settings = [f"^MM{MODE_COMMANDS[self.printer.mode]}"]
        if self.printer.speed is not None:
            settings.insert(0, f"^PR{print_speed_ips(self.printer.speed)}")
        return settings

    def encode_raw(self, data: bytes) -> bytes:
        problem = zpl_problem(data)
        if problem:
            raise ValueError(f"not sent to {self.printer.name!r}: {problem}")
        return data

    def status(self, device: Device) -> PrinterStatus:
        if self.snmp is not None and (status := self.snmp.status()) is not None:
            return status
        return self._answer(device)

    def _answer(self, device: Device) -> PrinterStatus:
        """``~HS`` and ``~HQES`` on the print connection."""
        if not device.bidirectional:
            return PrinterStatus.unknown()
        try:
            answer = query_status(device, self.status_timeout)
        except DeviceError as error:
            return PrinterStatus(reasons=(error.reason,), message=str(error))
        silence = f"the printer did not answer ~HS or ~HQES within {self.status_timeout:g} s"
        return to_printer_status(answer, silence)

    def probe(self) -> PrinterStatus:
        if self.snmp is not None:
            return self.snmp.probe(lambda: self.connected(self._answer))
        return super().probe()

    def ask(self, device: Device) -> PrinterStatus:
        silence = f"the printer did not answer ~HS or ~HQES within {self.status_timeout:g} s"
        return to_printer_status(query_status(device, self.status_timeout), silence)

    def queued(self, status: PrinterStatus) -> int | None:
        """Formats in the receive buffer by ``~HS`` (at least one while the head is busy); None with
        SNMP status, which confirms by the page counter one label at a time."""
        if self.snmp is not None or not status.known or "formats_in_buffer" not in status.detail:
            return None
        formats = status.detail["formats_in_buffer"]
        in_buffer = formats if isinstance(formats, int) else 0
        return max(in_buffer, 1) if status.busy else 0

    def confirm(self, device: Device, timeout: float, labels: int | None = None) -> bool:
        """Poll ``~HS`` until the format buffer is empty and no batch is running (with SNMP status:
        until the page counter went up by ``labels``, then ``~HS`` where it cannot tell).

        A connection lost meanwhile raises :class:`DeviceError`: a Zebra drops a format it had
        not finished when its connection drops, so the label must be sent again (the engine
        marks it interrupted), not counted as printed.
        """
        if not device.bidirectional:
            return False
        if self.snmp is not None and self.snmp.in_use and self.snmp.confirm(device, timeout, labels):
            return True
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            answer = query_status(device, min(self.status_timeout, left))
            if answer.host is not None and answer.host.drained:
                return True
            time.sleep(min(CONFIRM_POLL, max(0.0, deadline - time.monotonic())))


def print_speed_ips(speed: float) -> int:
    """``^PR`` takes whole inches per second (1–14); config ``speed`` is in inches per second."""
    return max(1, min(14, round(speed)))


def query_status(device: Device, timeout: float) -> StatusAnswer:
    """Ask ``~HS`` and ``~HQES`` together and read until both answered or the printer went quiet."""
    device.open()
    drain_input(device, 4096)
    device.write(STATUS_QUERY, None)
    received = b""
    deadline = time.monotonic() + timeout
    while True:
        answer = parse_answer(received)
        if answer.host is not None and answer.extended is not None:
            return answer
        if not answer.silent:
            deadline = min(deadline, time.monotonic() + SECOND_ANSWER_GRACE)
        left = deadline - time.monotonic()
        if left <= 0:
            return answer
        received += device.read(4096, left)


def zpl_problem(data: bytes) -> str | None:
    """Why ``data`` is not a ZPL file that can be sent as is, or None when it is."""
    text = data.lstrip(b"\xef\xbb\xbf \t\r\n")
    if text.startswith(b"%PDF"):
        return "this is a PDF, not ZPL (drop it in the inbox as .pdf)"
    if not text:
        return "the file is empty"
    if not _BINARY_OK.search(text) and _CONTROL.search(text):
        return "the file holds binary bytes; ZPL is text"
    upper = text.upper()
    starts, ends = upper.count(b"^XA"), upper.count(b"^XZ")
    if starts == 0:
        return "no ^XA (start of a label format) in the file"
    if starts != ends:
        return f"{starts} ^XA but {ends} ^XZ: every label format must be closed"
    if upper.rfind(b"^XZ") < upper.rfind(b"^XA"):
        return "the file ends inside a label format (no ^XZ after the last ^XA)"
    head = text[: upper.find(b"^XA")]
    if head.strip() and not head.lstrip().startswith(b"~"):
        return f"text before the first ^XA that is not a ~ command: {head.strip()[:40]!r}"
    if not _COMMAND.search(text):
        return "no ZPL command found"
    return None


register_driver("zpl", ZplDriver)
