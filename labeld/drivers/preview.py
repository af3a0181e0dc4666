"""The preview printer: the exact bitmap as a PNG, one file per label."""

from __future__ import annotations

from labeld.bitmap import Bitmap, to_png
from labeld.devices.base import Device
from labeld.drivers.base import Driver, register_driver
from labeld.media import Geometry, generic_geometry, parse_media


class PreviewDriver(Driver[Device]):
    name = "preview"
    extension = "png"
    native_copies = False

    @property
    def geometry(self) -> Geometry:
        return generic_geometry(parse_media(self.printer.media), self.printer.dpi or 300)

    def encode(self, bitmap: Bitmap, copies: int = 1) -> bytes:
        return to_png(bitmap, dpi=self.geometry.dpi)


register_driver("preview", PreviewDriver)
