"""Barcodes on a label: what the PDF really holds, and whether the printer's bitmap keeps it.

The *truth* is a zxing-cpp decode of a fine grey render of the page (``TRUTH_DPI``): it finds every
barcode, its value, where it is and how many modules wide it is. *Verification* decodes the same
barcode from the exact 1-bit bitmap the printer will get, cropped to the barcode and its quiet
zone (a crop decodes in well under a millisecond where the whole label takes tens), and again with
one dot of print gain and one dot of loss, the way a fresh and a worn head print.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
import pymupdf
import zxingcpp

from labeld.bitmap import Bitmap

#: Resolution of the truth render. Measured on generated labels: 400 dpi finds Code128, QR,
#: DataMatrix and EAN-13 down to 0.12 mm modules; 300 dpi misses 0.12 mm, 600 dpi costs 2.4× more.
TRUTH_DPI = 400

Fmt = zxingcpp.BarcodeFormat
NAMES: dict[Fmt, str] = {
    Fmt.Code128: "Code128", Fmt.QRCode: "QR", Fmt.DataMatrix: "DataMatrix",
    Fmt.EAN13: "EAN-13", Fmt.EAN8: "EAN-8", Fmt.UPCA: "UPC-A", Fmt.UPCE: "UPC-E",
}
LINEAR = frozenset({Fmt.Code128, Fmt.EAN13, Fmt.EAN8, Fmt.UPCA, Fmt.UPCE})
#: Fixed widths in modules, guard bars included (the symbology fixes them).
FIXED_MODULES = {Fmt.EAN13: 95, Fmt.UPCA: 95, Fmt.EAN8: 67, Fmt.UPCE: 51}
#: Quiet zone each side, in modules, along the reading direction (ISO/IEC 15417, 15420, 18004, 16022).
QUIET_MODULES = {Fmt.Code128: 10, Fmt.EAN13: 11, Fmt.UPCA: 9, Fmt.EAN8: 7, Fmt.UPCE: 9,
                 Fmt.QRCode: 4, Fmt.DataMatrix: 1}

Gray = npt.NDArray[np.uint8]


@dataclass(frozen=True)
class TruthBarcode:
    """One barcode as the PDF holds it.

    ``box`` is the symbol's dark area in page points (displayed orientation, as ``page.rect``).
    ``modules`` is its size in modules along page x and page y (a linear code counts 1 across
    its bars). ``reading`` is the reading direction in page space, in degrees (0 = left to right,
    90 = top to bottom), as zxing-cpp reports it.
    """

    format: Fmt
    value: str
    box: pymupdf.Rect
    modules: tuple[int, int]
    reading: int
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def symbology(self) -> str:
        return NAMES.get(self.format, str(self.format))

    @property
    def linear(self) -> bool:
        return self.format in LINEAR

    @property
    def across_x(self) -> bool:
        """Whether the reading direction runs along page x."""
        return self.reading % 180 == 0


@dataclass(frozen=True)
class Verification:
    """Whether a barcode decodes to its value on the bitmap: as is, with one dot of gain, of loss."""

    plain: bool
    gain: bool
    loss: bool
    found: str | None = None  # a different value read where this barcode should be

    @property
    def robust(self) -> bool:
        return self.plain and self.gain and self.loss

    def failures(self) -> list[str]:
        return [name for name, ok in (("as rendered", self.plain), ("with 1 dot of print gain", self.gain),
                                      ("with 1 dot of loss", self.loss)) if not ok]


def render_gray(page: pymupdf.Page, dpi: int) -> Gray:
    pix = page.get_pixmap(dpi=dpi, colorspace=pymupdf.csGRAY, alpha=False)
    gray: Gray = np.frombuffer(pix.samples, dtype=np.uint8).reshape(pix.height, pix.stride)[:, : pix.width]
    return gray


def find_truth(page: pymupdf.Page, dpi: int = TRUTH_DPI) -> list[TruthBarcode]:
    """Every barcode zxing-cpp finds on a fine render of ``page``, measured."""
    gray = render_gray(page, dpi)
    scale = dpi / 72.0
    found: list[TruthBarcode] = []
    for result in zxingcpp.read_barcodes(gray, formats=_wanted_formats()):
        measured = _measure(gray, result)
        if measured is None:
            continue
        (x0, y0, x1, y1), modules, reading = measured
        box = pymupdf.Rect(x0 / scale, y0 / scale, x1 / scale, y1 / scale)
        found.append(TruthBarcode(result.format, result.text, box, modules, reading, _extra(result)))
    return found


def _extra(result: zxingcpp.Barcode) -> dict[str, str]:
    """zxing-cpp's symbology details (QR ``Version``/``ECLevel``, DataMatrix ``Version``) as text."""
    raw = result.extra
    return {str(k): str(v) for k, v in raw.items()} if isinstance(raw, dict) else {}


def _wanted_formats() -> zxingcpp.BarcodeFormats:
    return zxingcpp.BarcodeFormats(list(NAMES))


def _measure(gray: Gray, result: zxingcpp.Barcode) -> tuple[tuple[int, int, int, int], tuple[int, int], int] | None:
    reading = round(result.orientation / 90) * 90 % 360
    dark = gray < 128
    points = [result.position.top_left, result.position.top_right,
              result.position.bottom_right, result.position.bottom_left]
    xs, ys = [p.x for p in points], [p.y for p in points]
    if result.format in LINEAR:
        view = dark if reading % 180 == 0 else dark.T
        lo, hi = (min(xs), max(xs)) if reading % 180 == 0 else (min(ys), max(ys))
        across = (min(ys) + max(ys)) // 2 if reading % 180 == 0 else (min(xs) + max(xs)) // 2
        linear = _measure_linear(view, lo, hi, across, result)
        if linear is None:
            return None
        (a0, a1, b0, b1), count = linear
        if reading % 180 == 0:
            return (a0, b0, a1, b1), (count, 1), reading
        return (b0, a0, b1, a1), (1, count), reading
    box = _ink_box(dark, min(xs), min(ys), max(xs), max(ys))
    if box is None:
        return None
    cols, rows = _matrix_modules(result, box)
    return box, ((cols, rows) if reading % 180 == 0 else (rows, cols)), reading


def _measure_linear(dark: Bitmap, lo: int, hi: int, row: int,
                    result: zxingcpp.Barcode) -> tuple[tuple[int, int, int, int], int] | None:
    """Bars of a code read along x of ``dark``: (x0, x1, y0, y1) and the module count."""
    margin = 3
    line = dark[row, max(0, lo - margin) : hi + margin + 1]
    ink = np.flatnonzero(line)
    if ink.size == 0:
        return None
    x0, x1 = max(0, lo - margin) + int(ink[0]), max(0, lo - margin) + int(ink[-1]) + 1
    pattern = dark[row, x0:x1]
    agree = (dark[:, x0:x1] == pattern).mean(axis=1) >= 0.95
    y0 = y1 = row
    while y0 > 0 and agree[y0 - 1]:
        y0 -= 1
    while y1 + 1 < dark.shape[0] and agree[y1 + 1]:
        y1 += 1
    return (x0, x1, y0, y1 + 1), _linear_modules(pattern, result)


def _linear_modules(pattern: Bitmap, result: zxingcpp.Barcode) -> int:
    fmt = result.format
    if fmt in FIXED_MODULES:
        return FIXED_MODULES[fmt]
    bars = int(np.count_nonzero(pattern[1:] & ~pattern[:-1])) + int(pattern[0])
    if (bars - 4) % 3 == 0 and bars >= 7:
        return 11 * (bars - 4) // 3 + 13  # Code128: 3 bars per 11-module character, stop = 4 bars in 13
    return int(module_pattern(fmt, result.text).shape[1])


def _matrix_modules(result: zxingcpp.Barcode, box: tuple[int, int, int, int]) -> tuple[int, int]:
    version = _extra(result).get("Version", "")
    if result.format == Fmt.QRCode and version.isdigit():
        side = 17 + 4 * int(version)
        return side, side
    if result.format == Fmt.DataMatrix and "x" in version:
        rows, cols = (int(v) for v in version.split("x"))
        return cols, rows
    pattern = module_pattern(result.format, result.text)
    return int(pattern.shape[1]), int(pattern.shape[0])


def _ink_box(dark: Bitmap, x0: int, y0: int, x1: int, y1: int) -> tuple[int, int, int, int] | None:
    pad = max(2, (x1 - x0) // 40)
    ox, oy = max(0, x0 - pad), max(0, y0 - pad)
    crop = dark[oy : y1 + pad + 1, ox : x1 + pad + 1]
    rows, cols = np.flatnonzero(crop.any(axis=1)), np.flatnonzero(crop.any(axis=0))
    if rows.size == 0:
        return None
    return ox + int(cols[0]), oy + int(rows[0]), ox + int(cols[-1]) + 1, oy + int(rows[-1]) + 1


def module_pattern(fmt: Fmt, value: str) -> Bitmap:
    """zxing-cpp's own modules for ``value`` (True = dark), one element per module, no quiet zone."""
    image = zxingcpp.create_barcode(value, fmt).to_image(scale=1, add_quiet_zones=False, add_hrt=False)
    dark: Bitmap = np.asarray(image) < 128
    return dark[:1] if fmt in LINEAR else dark


# --- the truth on the bitmap -------------------------------------------------------------------

def dot_box(truth: TruthBarcode, transform: pymupdf.Matrix) -> tuple[int, int, int, int]:
    """The barcode's box on the bitmap in whole dots (x0, y0, x1, y1), rounded to the nearest edge."""
    r = truth.box * transform
    return round(r.x0), round(r.y0), round(r.x1), round(r.y1)


def turns(transform: pymupdf.Matrix) -> bool:
    """Whether page x runs along bitmap y (the label was turned to fit)."""
    return abs(transform.b) > abs(transform.a)


def module_dots(truth: TruthBarcode, transform: pymupdf.Matrix) -> float:
    """The module width on the bitmap in dots (mean of both axes for 2-D codes)."""
    r = truth.box * transform
    across_x = (r.width, r.height) if not turns(transform) else (r.height, r.width)
    mx, my = truth.modules
    if truth.linear:
        return float(across_x[0] / mx if truth.across_x else across_x[1] / my)
    return float(across_x[0] / mx + across_x[1] / my) / 2


def reads_along_x(truth: TruthBarcode, transform: pymupdf.Matrix) -> bool:
    """Whether the barcode's reading direction runs along the bitmap's x (across the head)."""
    return truth.across_x != turns(transform)


def quiet_box(truth: TruthBarcode, box: tuple[int, int, int, int], dots: float,
              along_x: bool) -> tuple[int, int, int, int]:
    """``box`` (dots) grown by the barcode's quiet zone; may run past the bitmap's edges."""
    x0, y0, x1, y1 = box
    quiet = math.ceil(QUIET_MODULES.get(truth.format, 4) * max(1.0, dots))
    if truth.linear:
        qx, qy = (quiet, 2) if along_x else (2, quiet)
    else:
        qx = qy = quiet
    return x0 - qx, y0 - qy, x1 + qx, y1 + qy


def crop_white(bitmap: Bitmap, box: tuple[int, int, int, int]) -> Bitmap:
    """``bitmap`` inside ``box``; whatever lies beyond the bitmap's edges is white."""
    x0, y0, x1, y1 = box
    rows, cols = bitmap.shape
    out = np.zeros((y1 - y0, x1 - x0), dtype=np.bool_)
    sx0, sy0, sx1, sy1 = max(0, x0), max(0, y0), min(cols, x1), min(rows, y1)
    if sx1 > sx0 and sy1 > sy0:
        out[sy0 - y0 : sy1 - y0, sx0 - x0 : sx1 - x0] = bitmap[sy0:sy1, sx0:sx1]
    return out


def grow(bitmap: Bitmap) -> Bitmap:
    """One dot of print gain: every black area one dot wider and taller (dilation by a 2×2 block)."""
    out = bitmap.copy()
    out[:, 1:] |= bitmap[:, :-1]
    out[1:, :] |= out[:-1, :].copy()
    return out


def shrink(bitmap: Bitmap) -> Bitmap:
    """One dot of loss: every black area one dot narrower and shorter (erosion by a 2×2 block)."""
    return ~grow(~bitmap)


def read_values(crop: Bitmap, fmt: Fmt) -> list[str]:
    """Values of ``fmt`` barcodes zxing-cpp reads in a 1-bit crop."""
    image = np.where(crop, 0, 255).astype(np.uint8)
    return [r.text for r in zxingcpp.read_barcodes(image, formats=zxingcpp.BarcodeFormats(fmt), try_invert=False)]


def verify(bitmap: Bitmap, truth: TruthBarcode, transform: pymupdf.Matrix) -> Verification:
    """Decode ``truth``'s barcode where the plain render put it: as is, grown by a dot, shrunk by a dot."""
    dots = module_dots(truth, transform)
    return verify_at(bitmap, truth, dot_box(truth, transform), dots, reads_along_x(truth, transform))


def verify_at(bitmap: Bitmap, truth: TruthBarcode, box: tuple[int, int, int, int], dots: float,
              along_x: bool) -> Verification:
    """Decode ``truth``'s barcode from ``bitmap`` inside ``box`` (dots) and its quiet zone."""
    crop = crop_white(bitmap, quiet_box(truth, box, dots, along_x))
    plain = read_values(crop, truth.format)
    found = next((v for v in plain if v != truth.value), None) if truth.value not in plain else None
    return Verification(
        plain=truth.value in plain,
        gain=truth.value in read_values(grow(crop), truth.format),
        loss=truth.value in read_values(shrink(crop), truth.format),
        found=found,
    )
