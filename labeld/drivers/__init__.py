"""Printer languages: preview (PNG), Brother QL raster, Zebra ZPL, CUPS."""

from labeld.drivers.base import Driver, LoadedMedia, PrinterStatus, known_drivers, make_driver, register_driver

__all__ = ["Driver", "LoadedMedia", "PrinterStatus", "known_drivers", "make_driver", "register_driver"]
