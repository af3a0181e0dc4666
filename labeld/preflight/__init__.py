"""Pre-flight: the checks a label passes before it is printed.

Resolution of embedded images, barcode verification on the printer's own bitmap (with ±1 dot of
gain), barcode repair on the dot grid, and the label's identity (posting and tracking number).
All pure: a page and its render in, a :class:`PageReport` out; policies are the pipeline's.
"""

from labeld.preflight.report import BarcodeReport, Finding, ImageReport, PageReport, check_page

__all__ = ["BarcodeReport", "Finding", "ImageReport", "PageReport", "check_page"]
