"""Barcodes on a label: what the PDF really holds, and whether the printer's bitmap keeps it.

The *truth* is a zxing-cpp decode of a fine grey render of the page (``TRUTH_DPI``): it finds every
barcode, its value, where it is and how many modules wide it is. *Verification* decodes the same
barcode from the exact 1-bit bitmap the printer will get, cropped to the barcode and its quiet
zone (a crop decodes in well under a millisecond where the whole label takes tens), and again with
one dot of print gain and one dot of loss, the way a fresh and a worn head print.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
import pymupdf
import zxingcpp

from labeld.bitmap import Bitmap
from labeld.preflight.layers import image_info

#: Resolution of the truth render. Measured on generated labels: 400 dpi finds Code128, QR,
#: DataMatrix and EAN-13 down to 0.12 mm modules; 300 dpi misses 0.12 mm, 600 dpi costs 2.4× more.
TRUTH_DPI = 400

Fmt = zxingcpp.BarcodeFormat
NAMES: dict[Fmt, str] = {
    Fmt.Code128: "Code128", Fmt.QRCode: "QR", Fmt.DataMatrix: "DataMatrix",
    Fmt.EAN13: "EAN-13", Fmt.EAN8: "EAN-8", Fmt.UPCA: "UPC-A", Fmt.UPCE: "UPC-E",
    Fmt.PDF417: "PDF417", Fmt.Aztec: "Aztec",
}
#: A symbol turned at least this many degrees off a right angle is measured (and left) askew.
SKEW_DEGREES = 1
#: How many times each distinct row of a linear code's crop is handed to the decoder.
LINE_REPEAT = 3
#: 2-D symbologies whose reader needs zxing-cpp to try the other orientation (the stacked rows of a PDF417).
TURN_TRIED = frozenset({Fmt.PDF417})
LINEAR = frozenset({Fmt.Code128, Fmt.EAN13, Fmt.EAN8, Fmt.UPCA, Fmt.UPCE})
#: Fixed widths in modules, guard bars included (the symbology fixes them).
FIXED_MODULES = {Fmt.EAN13: 95, Fmt.UPCA: 95, Fmt.EAN8: 67, Fmt.UPCE: 51}
#: Quiet zone each side, in modules, along the reading direction (ISO/IEC 15417, 15420, 18004, 16022).
QUIET_MODULES = {Fmt.Code128: 10, Fmt.EAN13: 11, Fmt.UPCA: 9, Fmt.EAN8: 7, Fmt.UPCE: 9,
                 Fmt.QRCode: 4, Fmt.DataMatrix: 1, Fmt.PDF417: 2, Fmt.Aztec: 1}

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
    #: Degrees the symbol is turned off ``reading`` (a few, when a label's producer drew it askew).
    skew: int = 0

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


def find_truth(page: pymupdf.Page, dpi: int = TRUTH_DPI, drawn: pymupdf.DisplayList | None = None
               ) -> list[TruthBarcode]:
    """Every barcode on ``page``, measured: decoded inside each place a barcode can be (``regions``),
    each at its own resolution, or on a fine render of the whole page where the page's content
    does not say where its barcodes are. ``drawn``: the page's display list, if the caller has one."""
    if drawn is None:
        drawn = page.get_displaylist()
    places = regions(page, drawn)
    if places is None:
        return _decode_region(drawn, Region(page.rect, ()), dpi)
    found: list[TruthBarcode] = []
    for region in places:
        for barcode in _decode_region(drawn, region, region.dpi or dpi):
            if not any(_same(barcode, other) for other in found):
                found.append(barcode)
    return found


@dataclass(frozen=True)
class Region:
    """A part of the page that may hold barcodes (page points, displayed orientation), the marks drawn
    in it, and the resolution to decode it at (0: the default; an embedded image's own)."""

    rect: pymupdf.Rect
    marks: tuple[pymupdf.Rect, ...]
    dpi: int = 0

    def explained_by(self, barcodes: list[TruthBarcode]) -> bool:
        """Whether every mark of the region lies in one of ``barcodes`` (so no other can be there)."""
        boxes = [_grown(b.box, JOIN_PT) for b in barcodes]
        return all(any(box.contains(mark) for box in boxes) for mark in self.marks)


#: Drawing operations (MuPDF's bbox log) that can make up a barcode.
INK_KINDS = frozenset({"fill-path", "stroke-path", "fill-image", "fill-imgmask", "fill-shade"})
IMAGE_KINDS = frozenset({"fill-image", "fill-imgmask"})
#: Fonts that draw barcodes as text: a page using one is searched whole.
BARCODE_FONT = re.compile(r"barcode|code.?128|code.?39|3.?of.?9|ean|upc|interleaved|i2of5|qr|datamatrix|"
                          r"pdf.?417|aztec|idautomation|libre.?bar|gnivc", re.IGNORECASE)
#: Marks closer than this (points) belong to one symbol: a Code128's widest space is 4 modules,
#: 2 mm at 0.5 mm modules.
JOIN_PT = 2.5 * 72 / 25.4
#: Margin decoded around a region (points), at least: room for a quiet zone the decoder looks for.
MARGIN_PT = 3.0 * 72 / 25.4
#: ... and at least this share of the region's longer side (Code128 needs 10 of its ~170 modules).
MARGIN_SHARE = 0.07
#: A line this long and thin is a rule or a frame, not a bar (the longest bars on labels are ~30 mm).
RULE_LONG_PT, RULE_THIN_PT = 45 * 72 / 25.4, 0.6 * 72 / 25.4
#: A mark wider and taller than this (points) may be a plain shape (no bar or module is this big).
SOLID_PT = 2.5 * 72 / 25.4
#: A mark covering more than this share of the page is a frame or a background when it holds others.
BIG_SHARE = 0.25
#: Largest area decoded at the default resolution (pixels); a larger region is decoded coarser.
MAX_REGION_PIXELS = 2_500_000
#: Embedded images are decoded at their own resolution, within these bounds.
IMAGE_DPI = (150, 600)


def regions(page: pymupdf.Page, drawn: pymupdf.DisplayList | None = None) -> list[Region] | None:
    """Where barcodes can be on ``page``: groups of nearby vector marks and every embedded image, from
    MuPDF's log of what the page draws (form XObjects included). None when the page draws text in a
    barcode font or a Type3 font (glyphs can be bars), so only a whole-page decode can tell."""
    for font in page.get_fonts(full=True):
        if font[2] == "Type3" or BARCODE_FONT.search(str(font[3])) or BARCODE_FONT.search(str(font[4])):
            return None
    turn, page_rect = page.rotation_matrix, page.rect
    page_area = max(1.0, page_rect.get_area())
    log = [(kind, pymupdf.Rect(bbox) * turn) for kind, bbox in page.get_bboxlog()]
    everything = [rect for _, rect in log]
    marks: list[pymupdf.Rect] = []
    images: list[pymupdf.Rect] = []
    for kind, rect in log:
        if kind not in INK_KINDS:
            continue
        if (rect & page_rect).is_empty:
            continue
        if kind in IMAGE_KINDS:
            images.append(rect & page_rect)
            continue
        long_side, short_side = max(rect.width, rect.height), min(rect.width, rect.height)
        if long_side > RULE_LONG_PT and short_side < RULE_THIN_PT:
            continue  # a rule
        if rect.get_area() > BIG_SHARE * page_area and (kind == "stroke-path"
                                                         or any(_holds(rect, o) for o in everything)):
            continue  # a frame or a background
        marks.append(rect & page_rect)
    marks = _without_plain_shapes(page, marks)
    found = [Region(_margin(group) & page_rect, tuple(m for m in marks if group.contains(m)))
             for group in _groups(marks)]
    infos = image_info(page, drawn) if images else []
    found += [Region(_margin(rect) & page_rect, (rect,), _image_dpi(page, rect, infos)) for rect in images]
    return found


def _without_plain_shapes(page: pymupdf.Page, marks: list[pymupdf.Rect]) -> list[pymupdf.Rect]:
    """``marks`` less the plain shapes: a path that is one rectangle (or only curves) wider and taller
    than any bar or module is a banner, a box or a logo, never part of a barcode. Only asked of
    MuPDF (its path list) when there is such a mark: most labels have none."""
    solid = [m for m in marks if min(m.width, m.height) > SOLID_PT]
    if not solid:
        return marks
    turn = page.rotation_matrix
    plain = []
    for path in page.get_cdrawings():
        items = path.get("items", ())
        ops = {item[0] for item in items}
        if (len(items) == 1 and ops <= {"re", "qu"}) or (items and ops <= {"c"}):
            plain.append(pymupdf.Rect(path["rect"]) * turn)
    return [m for m in marks if not (m in solid and any(_same_rect(m, p) for p in plain))]


def _same_rect(a: pymupdf.Rect, b: pymupdf.Rect) -> bool:
    return max(abs(a.x0 - b.x0), abs(a.y0 - b.y0), abs(a.x1 - b.x1), abs(a.y1 - b.y1)) < 1.0


def _image_dpi(page: pymupdf.Page, rect: pymupdf.Rect, infos: list[dict[str, Any]]) -> int:
    """The resolution of the image placed at ``rect`` (pixels per inch, its finer axis), within bounds;
    ``infos``: the page's image placements (``layers.image_info``)."""
    for info in infos:
        placed = pymupdf.Rect(info["bbox"]) * page.rotation_matrix
        if abs(placed.x0 - rect.x0) < 1 and abs(placed.y0 - rect.y0) < 1:
            a, b, c, d = info["transform"][:4]
            own = max(info["width"] * 72 / max(1e-6, math.hypot(a, b)),
                      info["height"] * 72 / max(1e-6, math.hypot(c, d)))
            return int(min(IMAGE_DPI[1], max(IMAGE_DPI[0], round(own))))
    return 0


def _holds(outer: pymupdf.Rect, inner: pymupdf.Rect) -> bool:
    centre = pymupdf.Point((inner.x0 + inner.x1) / 2, (inner.y0 + inner.y1) / 2)
    return bool(outer.contains(centre)) and inner.get_area() < outer.get_area()


def _grown(rect: pymupdf.Rect, by: float) -> pymupdf.Rect:
    return pymupdf.Rect(rect.x0 - by, rect.y0 - by, rect.x1 + by, rect.y1 + by)


def _margin(rect: pymupdf.Rect) -> pymupdf.Rect:
    return _grown(rect, max(MARGIN_PT, MARGIN_SHARE * max(rect.width, rect.height)))


def _groups(marks: list[pymupdf.Rect]) -> list[pymupdf.Rect]:
    """The bounding boxes of marks that lie within ``JOIN_PT`` of each other, transitively."""
    boxes = [pymupdf.Rect(m) for m in marks]
    merged = True
    while merged:
        merged = False
        out: list[pymupdf.Rect] = []
        for box in sorted(boxes, key=lambda r: (r.x0, r.y0)):
            for i, other in enumerate(out):
                if _near(box, other):
                    out[i] = other | box
                    merged = True
                    break
            else:
                out.append(box)
        boxes = out
    return boxes


def _near(a: pymupdf.Rect, b: pymupdf.Rect) -> bool:
    return a.x0 - JOIN_PT <= b.x1 and b.x0 - JOIN_PT <= a.x1 and a.y0 - JOIN_PT <= b.y1 and b.y0 - JOIN_PT <= a.y1


@dataclass(frozen=True)
class Read:
    """One zxing-cpp result, its corners (x, y) mapped back onto the region's full render."""

    format: Fmt
    text: str
    orientation: int
    points: tuple[tuple[int, int], ...]
    extra: dict[str, str]

    @staticmethod
    def of(result: zxingcpp.Barcode, rows: npt.NDArray[np.intp] | None = None, turned: bool = False) -> Read:
        """``result`` from an image whose row ``i`` is the render's row ``rows[i // LINE_REPEAT]`` (and,
        ``turned``, whose axes are the render's swapped)."""
        p = result.position
        points = [(c.x, c.y) for c in (p.top_left, p.top_right, p.bottom_right, p.bottom_left)]
        orientation = result.orientation
        if rows is not None:
            last = len(rows) - 1
            points = [(x, int(rows[min(last, max(0, y) // LINE_REPEAT)])) for x, y in points]
        if turned:
            points = [(y, x) for x, y in points]
            orientation = 90 - orientation
        return Read(result.format, result.text, orientation, tuple(points), _extra(result))


def _decode_region(drawn: pymupdf.DisplayList, region: Region, dpi: int) -> list[TruthBarcode]:
    """The barcodes zxing-cpp finds in ``region`` rendered at ``dpi`` (coarser if that would be huge).

    Cheapest first, and only as far as needed to account for every mark of the region: linear
    codes along either axis on the render's distinct rows (or columns); then 2-D codes, dark on
    light, at a fixed threshold (the render is sharp); then, for vector marks, every symbology in
    both orientations and light on dark too, and for an image or a whole page zxing-cpp's thorough
    defaults (local thresholds for soft pixels, downscaling)."""
    rect = region.rect
    if rect.is_empty:
        return []
    pixels = rect.get_area() * (dpi / 72.0) ** 2
    if pixels > MAX_REGION_PIXELS:
        dpi = max(IMAGE_DPI[0], int(dpi * math.sqrt(MAX_REGION_PIXELS / pixels)))
    scale = dpi / 72.0
    pix = drawn.get_pixmap(matrix=pymupdf.Matrix(scale, scale), clip=rect, colorspace=pymupdf.csGRAY, alpha=False)
    gray: Gray = np.frombuffer(pix.samples, dtype=np.uint8).reshape(pix.height, pix.stride)[:, : pix.width]
    found: list[TruthBarcode] = []

    def add(reads: list[Read]) -> bool:
        for read in reads:
            measured = _measure(gray, read)
            if measured is None:
                continue
            (x0, y0, x1, y1), modules, reading = measured
            box = pymupdf.Rect((x0 + pix.x) / scale, (y0 + pix.y) / scale, (x1 + pix.x) / scale,
                               (y1 + pix.y) / scale)
            skew = (read.orientation - reading + 180) % 360 - 180
            if abs(skew) >= SKEW_DEGREES and read.format in LINEAR and not region.dpi:
                # Rows of a code drawn askew never agree: its box is the marks its scan line crosses.
                crossed = [mark for mark in region.marks if not (mark & box).is_empty]
                for mark in crossed:
                    box |= mark
            barcode = TruthBarcode(read.format, read.text, box, modules, reading, read.extra,
                                   skew if abs(skew) >= SKEW_DEGREES else 0)
            if not any(_same(barcode, other) for other in found):
                found.append(barcode)
        return region.explained_by(found) if region.marks else False

    if region.marks:
        for turned in (False, True):
            view = gray.T if turned else gray
            rows = _new_rows(view)
            image = np.ascontiguousarray(np.repeat(view[rows], LINE_REPEAT, axis=0))
            if add([Read.of(r, rows, turned) for r in _quick(image, _linear_formats())]):
                return found
        if add([Read.of(r) for r in _quick(gray, _matrix_formats())]):
            return found
    if region.marks and not region.dpi:  # vector marks render sharp: what is left to try is light on dark
        add([Read.of(r) for r in zxingcpp.read_barcodes(gray, formats=_wanted_formats(), try_invert=True,
                                                         try_downscale=False,
                                                         binarizer=zxingcpp.Binarizer.FixedThreshold)])
    else:
        add([Read.of(r) for r in zxingcpp.read_barcodes(gray, formats=_wanted_formats())])
    return found


def _quick(image: Gray, formats: zxingcpp.BarcodeFormats) -> list[zxingcpp.Barcode]:
    return zxingcpp.read_barcodes(image, formats=formats, try_rotate=False, try_invert=False, try_downscale=False,
                                  binarizer=zxingcpp.Binarizer.FixedThreshold)


def _new_rows(view: Gray) -> npt.NDArray[np.intp]:
    """Indices of the rows of ``view`` that differ from the row above (the first row included)."""
    new = np.ones(view.shape[0], dtype=np.bool_)
    new[1:] = (view[1:] != view[:-1]).any(axis=1)
    return np.flatnonzero(new)


def _linear_formats() -> zxingcpp.BarcodeFormats:
    return zxingcpp.BarcodeFormats([f for f in NAMES if f in LINEAR])


def _matrix_formats() -> zxingcpp.BarcodeFormats:
    return zxingcpp.BarcodeFormats([f for f in NAMES if f not in LINEAR])


def _same(a: TruthBarcode, b: TruthBarcode) -> bool:
    return a.format == b.format and a.value == b.value and not (a.box & b.box).is_empty


def _extra(result: zxingcpp.Barcode) -> dict[str, str]:
    """zxing-cpp's symbology details (QR ``Version``/``ECLevel``, DataMatrix ``Version``) as text."""
    raw = result.extra
    return {str(k): str(v) for k, v in raw.items()} if isinstance(raw, dict) else {}


def _wanted_formats() -> zxingcpp.BarcodeFormats:
    return zxingcpp.BarcodeFormats(list(NAMES))


def _measure(gray: Gray, result: Read) -> tuple[tuple[int, int, int, int], tuple[int, int], int] | None:
    reading = round(result.orientation / 90) * 90 % 360
    dark = gray < 128
    xs, ys = [p[0] for p in result.points], [p[1] for p in result.points]
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
                    result: Read) -> tuple[tuple[int, int, int, int], int] | None:
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


def _linear_modules(pattern: Bitmap, result: Read) -> int:
    fmt = result.format
    if fmt in FIXED_MODULES:
        return FIXED_MODULES[fmt]
    bars = int(np.count_nonzero(pattern[1:] & ~pattern[:-1])) + int(pattern[0])
    if (bars - 4) % 3 == 0 and bars >= 7:
        return 11 * (bars - 4) // 3 + 13  # Code128: 3 bars per 11-module character, stop = 4 bars in 13
    return int(module_pattern(fmt, result.text).shape[1])


def _matrix_modules(result: Read, box: tuple[int, int, int, int]) -> tuple[int, int]:
    version = result.extra.get("Version", "")
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


def read_values(crop: Bitmap, fmt: Fmt, along_x: bool = True) -> list[str]:
    """Values of ``fmt`` barcodes zxing-cpp reads in a 1-bit crop; a linear code is read along x, or
    along y where ``along_x`` is false (the crop is transposed: one scan direction, no rotation tried).

    The crop is already 1-bit, so a fixed threshold binarises it exactly; no downscaling (which would
    blur a broken code into a readable one) and no inversion."""
    if fmt in LINEAR:
        crop = _distinct_rows(crop if along_x else crop.T)
    image = np.ascontiguousarray(np.where(crop, np.uint8(0), np.uint8(255)))
    results = zxingcpp.read_barcodes(image, formats=zxingcpp.BarcodeFormats(fmt), try_rotate=fmt in TURN_TRIED,
                                     try_invert=False, try_downscale=False, binarizer=zxingcpp.Binarizer.FixedThreshold)
    return [r.text for r in results]


def _distinct_rows(crop: Bitmap) -> Bitmap:
    """The crop without rows that repeat the row above, each kept row three times: a linear code reads
    along one row, so identical rows (a printed code's bars are mostly all alike) need reading once,
    not hundreds of times; zxing-cpp wants a result on two lines before it trusts it."""
    if crop.shape[0] <= LINE_REPEAT:
        return crop
    packed = np.packbits(crop, axis=1)
    new = np.ones(packed.shape[0], dtype=np.bool_)
    new[1:] = (packed[1:] != packed[:-1]).any(axis=1)
    return np.repeat(crop[new], LINE_REPEAT, axis=0)


def verify(bitmap: Bitmap, truth: TruthBarcode, transform: pymupdf.Matrix) -> Verification:
    """Decode ``truth``'s barcode where the plain render put it: as is, grown by a dot, shrunk by a dot."""
    dots = module_dots(truth, transform)
    return verify_at(bitmap, truth, dot_box(truth, transform), dots, reads_along_x(truth, transform))


def verify_at(bitmap: Bitmap, truth: TruthBarcode, box: tuple[int, int, int, int], dots: float,
              along_x: bool) -> Verification:
    """Decode ``truth``'s barcode from ``bitmap`` inside ``box`` (dots) and its quiet zone."""
    crop = crop_white(bitmap, quiet_box(truth, box, dots, along_x))
    plain = read_values(crop, truth.format, along_x)
    found = next((v for v in plain if v != truth.value), None) if truth.value not in plain else None
    return Verification(
        plain=truth.value in plain,
        gain=truth.value in read_values(grow(crop), truth.format, along_x),
        loss=truth.value in read_values(shrink(crop), truth.format, along_x),
        found=found,
    )
