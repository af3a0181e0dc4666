"""The Brother QL driver: labels as Brother raster jobs, status from the 32-byte reply.

Geometry comes from brother_ql's label table (printable dots at 300 dpi; endless tape has no
fixed length). Encoding is :mod:`labeld.drivers.brother_raster`, status parsing
:mod:`labeld.drivers.brother_status`. Over ``tcp://`` a QL never answers on the print port: its
status comes over SNMP where the printer answers it (:mod:`labeld.drivers.snmp_status`; a label
is then confirmed by the page counter), else the path is write-only: status unknown, completion
never confirmed.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

import numpy as np

from labeld.config import PrinterConfig
from labeld.devices.base import Device
from labeld.drivers.base import Driver, PrinterStatus, drain_input, register_driver
from labeld.drivers.brother_raster import (
    MEDIA_DIE_CUT,
    MEDIA_ENDLESS,
    STATUS_REQUEST,
    RasterSetup,
    encode_job,
)
from labeld.drivers.brother_status import (
    STATUS_ERROR,
    STATUS_PRINTED,
    STATUS_SIZE,
    BrotherStatus,
)
from labeld.drivers.snmp_status import FINISH_MIN, snmp_status_for
from labeld.errors import DeviceError
from labeld.media import Geometry, parse_media
from labeld.reasons import Reason

if TYPE_CHECKING:
    from labeld.bitmap import Bitmap

DEFAULT_MODEL = "QL-820NWB"
DPI = 300
WRITE_ONLY_SCHEMES = ("tcp://", "socket://")
STATUS_TIMEOUT = 2.0
#: Width tolerance where only the Printer MIB's width is known (it may come in 1/10000 in).
WIDTH_TOLERANCE_MM = 1.0


class BrotherQLDriver(Driver[Device]):
    name = "brother_ql"
    extension = "bin"
    native_copies = True

    def __init__(self, printer: PrinterConfig) -> None:
        super().__init__(printer)
        self.snmp = snmp_status_for(printer, brother=True)

    @property
    def model_name(self) -> str:
        return self.printer.model or DEFAULT_MODEL

    @property
    def geometry(self) -> Geometry:
        label = _label(self.printer.media)
        width, length = label.dots_printable
        media = parse_media(self.printer.media)
        return Geometry(DPI, int(width), None if media.endless else int(length), media)

    def self_check(self) -> str | None:
        try:
            _model(self.model_name)
            _label(self.printer.media)
        except ValueError as error:
            return str(error)
        return None

    def setup(self) -> RasterSetup:
        """The fixed part of every job for this printer, model and medium."""
        model = _model(self.model_name)
        label = _label(self.printer.media)
        endless = label.tape_size[1] == 0
        two_colour = bool(self.printer.red) and int(label.color) == 1 and bool(model.two_color)
        return RasterSetup(
            head_bytes=int(model.number_bytes_per_row),
            offset_right=int(label.offset_r) + int(model.additional_offset_r),
            media_type=MEDIA_ENDLESS if endless else MEDIA_DIE_CUT,
            width_mm=int(label.tape_size[0]),
            length_mm=int(label.tape_size[1]),
            feed_margin=int(label.feed_margin),
            invalidate_bytes=int(model.num_invalidate_bytes),
            compress=bool(model.compression),
            cut=self.printer.cut,
            two_colour=two_colour,
        )

    def encode(self, bitmap: Bitmap, copies: int = 1) -> bytes:
        return encode_job(self._fit(bitmap), self.setup(), copies)

    @property
    def prints_red(self) -> bool:
        return self.setup().two_colour

    def encode_two_colour(self, bitmap: Bitmap, red: Bitmap, copies: int = 1) -> bytes:
        if not self.prints_red:
            return super().encode_two_colour(bitmap, red, copies)
        return encode_job(self._fit(bitmap), self.setup(), copies, red=self._fit(red))

    def _fit(self, bitmap: Bitmap) -> Bitmap:
        """Checks the dot grid; pads endless labels shorter than the printer's minimum length."""
        geometry = self.geometry
        rows, dots = bitmap.shape
        if dots != geometry.width_dots:
            raise ValueError(f"bitmap is {dots} dots wide; {geometry.media.describe()} needs {geometry.width_dots}")
        if geometry.length_dots is not None and rows != geometry.length_dots:
            raise ValueError(f"bitmap has {rows} rows; {geometry.media.describe()} needs {geometry.length_dots}")
        minimum = int(_model(self.model_name).min_max_length_dots[0])
        if rows < minimum:
            bitmap = np.vstack([bitmap, np.zeros((minimum - rows, dots), dtype=bool)])
        return bitmap

    def status(self, device: Device) -> PrinterStatus:
        if self.snmp is not None and (status := self.snmp.status()) is not None:
            return status
        return self._answer(device)

    def _answer(self, device: Device) -> PrinterStatus:
        """The status the connection itself gives (none over TCP)."""
        if not _answers(device):
            return PrinterStatus.unknown("a Brother QL does not answer over a raw TCP connection")
        drain_input(device, STATUS_SIZE)
        device.write(STATUS_REQUEST)
        reply = _read_status(device, STATUS_TIMEOUT)
        if reply is None:
            return PrinterStatus(reasons=("offline",), message="the printer did not answer a status request")
        return reply.to_printer_status()

    def confirm(self, device: Device, timeout: float, labels: int | None = None) -> bool:
        """Waits for status type 01 (printing completed); an error status or silence is False. Over
        TCP with SNMP: the page counter going up by ``labels``; where it cannot tell, the job ends as
        on any write-only connection (:meth:`Device.finish`) and is not confirmed."""
        if self.snmp is not None and self.snmp.in_use:
            started = time.monotonic()
            if self.snmp.confirm(device, timeout, labels):
                return True
            device.finish(max(FINISH_MIN, timeout - (time.monotonic() - started)))
            return False
        if not _answers(device):
            return False
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            reply = _read_status(device, left)
            if reply is None or reply.status_type == STATUS_ERROR:
                return False
            if reply.status_type == STATUS_PRINTED:
                return True
        return False

    def probe(self) -> PrinterStatus:
        if self.snmp is not None:
            return self.snmp.probe(lambda: self.connected(self._answer))
        return super().probe()

    def media_mismatch(self, status: PrinterStatus) -> Reason | None:
        loaded = status.media
        if loaded is None:
            return None
        needed = self.geometry.media
        wanted = needed.describe() if needed.endless else f"{needed.describe()} die-cut"
        if loaded.kind not in ("endless", "die-cut"):  # only the width is known (the Printer MIB's)
            if abs(loaded.width_mm - needed.width_mm) <= WIDTH_TOLERANCE_MM:
                return None
            return Reason("printer.media_mismatch", loaded=loaded.describe(), wanted=wanted,
                          label_id=needed.brother_id or needed.name)
        same_kind = (loaded.length_mm is None) == needed.endless
        same_size = loaded.width_mm == needed.width_mm and (needed.endless or loaded.length_mm == needed.length_mm)
        if same_kind and same_size:
            return None
        return Reason("printer.media_mismatch", loaded=loaded.describe(), wanted=wanted,
                      label_id=needed.brother_id or needed.name)

def _answers(device: Device) -> bool:
    return device.bidirectional and not device.uri.startswith(WRITE_ONLY_SCHEMES)


def _read_status(device: Device, timeout: float) -> BrotherStatus | None:
    """The next complete 32-byte reply, resynchronising on the ``80 20 42`` header."""
    deadline = time.monotonic() + timeout
    buffer = b""
    while True:
        start = buffer.find(b"\x80\x20\x42")
        if start >= 0 and len(buffer) - start >= STATUS_SIZE:
            return BrotherStatus.parse(buffer[start : start + STATUS_SIZE])
        left = deadline - time.monotonic()
        if left <= 0:
            return None
        try:
            buffer += device.read(STATUS_SIZE, left)
        except DeviceError:
            return None


def _model(name: str) -> Any:
    from brother_ql.models import ModelsManager

    try:
        return ModelsManager()[name]
    except (KeyError, LookupError):
        raise ValueError(f"unknown Brother model {name!r}; try QL-820NWB, QL-800, QL-700 or QL-1110NWB") from None


def _label(media: str) -> Any:
    from brother_ql.labels import LabelsManager

    try:
        return LabelsManager()[media]
    except (KeyError, LookupError):
        raise ValueError(f"media {media!r} is not a Brother QL label id; use e.g. \"62\" or \"62x29\"") from None


register_driver("brother_ql", BrotherQLDriver)
