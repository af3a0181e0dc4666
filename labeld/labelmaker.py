"""Label PDFs made on demand, shaped like marketplace (Ozon FBS) shipping labels.

``labelctl test`` prints one; tests, benchmarks and the demo use them instead of binary
fixtures. Barcodes are drawn from
zxing-cpp's module patterns, either as vector rectangles or as an embedded raster image at a
chosen resolution, so that every resolution and dot-grid case can be made to order.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pymupdf
import zxingcpp
from PIL import Image

PT_PER_MM = 72 / 25.4
A4_MM = (210.0, 297.0)

_FORMATS = {
    "code128": zxingcpp.BarcodeFormat.Code128,
    "qr": zxingcpp.BarcodeFormat.QRCode,
    "datamatrix": zxingcpp.BarcodeFormat.DataMatrix,
    "ean13": zxingcpp.BarcodeFormat.EAN13,
    "pdf417": zxingcpp.BarcodeFormat.PDF417,
    "aztec": zxingcpp.BarcodeFormat.Aztec,
}


@dataclass(frozen=True)
class Symbol:
    """One barcode on a label: what it encodes and where it goes (millimetres from top-left)."""

    kind: str  # code128 | qr | datamatrix | ean13 | pdf417 | aztec
    value: str
    x_mm: float
    y_mm: float
    module_mm: float
    height_mm: float | None = None  # linear codes only; 2-D codes are square
    #: Turned by this many degrees about its top-left corner (vector symbols only; 90 = reads downwards).
    angle: float = 0.0


@dataclass(frozen=True)
class LabelSpec:
    """A label page. ``raster_dpi`` None draws barcodes as vectors; a number embeds them as an
    image of that resolution. ``page_mm`` larger than ``size_mm`` puts the label on a bigger
    page (an A4 sheet); ``landscape`` turns the page 90° with the content upright on it."""

    posting: str = "12345678-0012-1"
    tracking: str = "TRK000000001"
    size_mm: tuple[float, float] = (75.0, 120.0)
    symbols: tuple[Symbol, ...] | None = None
    raster_dpi: int | None = None
    page_mm: tuple[float, float] | None = None
    rotated: bool = False
    offset_mm: tuple[float, float] = (10.0, 10.0)
    extra_text: tuple[str, ...] = field(default_factory=tuple)
    #: More on the page, as marketplace labels have: Cyrillic text blocks in several sizes, rules,
    #: a filled banner with white text, a small vector logo.
    rich: bool = False

    def resolved_symbols(self) -> tuple[Symbol, ...]:
        if self.symbols is not None:
            return self.symbols
        return default_symbols(self.posting, self.tracking, self.size_mm)


def default_symbols(posting: str, tracking: str, size_mm: tuple[float, float]) -> tuple[Symbol, ...]:
    """A Code128 of the posting number and a QR of a tracking link, sized to fit the label."""
    width, height = size_mm
    modules = module_count("code128", posting)
    module = min(0.4, round((width - 8) / modules, 3))
    qr_module = 0.5 if height >= 60 else 0.4
    qr_size = module_count("qr", f"https://ozon.example/t/{tracking}") * qr_module
    return (
        Symbol("code128", posting, 4.0, 4.0, module, height_mm=min(18.0, height * 0.3)),
        Symbol("qr", f"https://ozon.example/t/{tracking}", 4.0, height - qr_size - 3.0, qr_module),
    )


def module_pattern(kind: str, value: str) -> np.ndarray:
    """The barcode's modules as a 2-D bool array (True = dark), one element per module.

    Linear codes come back as a single row.
    """
    barcode = zxingcpp.create_barcode(value, _FORMATS[kind])
    image = np.asarray(barcode.to_image(scale=1, add_quiet_zones=False, add_hrt=False))
    dark = image < 128
    return dark[:1] if kind in ("code128", "ean13") else dark


def module_count(kind: str, value: str) -> int:
    return int(module_pattern(kind, value).shape[1])


def label_pdf(specs: LabelSpec | Sequence[LabelSpec], *, metadata_date: str | None = None) -> bytes:
    """A PDF with one page per spec."""
    doc = pymupdf.open()
    for spec in [specs] if isinstance(specs, LabelSpec) else specs:
        _draw_page(doc, spec)
    if metadata_date:
        doc.set_metadata({"creationDate": metadata_date, "modDate": metadata_date})
    data: bytes = doc.tobytes(garbage=3, deflate=True)
    doc.close()
    return data


def batch_pdf(count: int, *, size_mm: tuple[float, float] = (75.0, 120.0), raster_dpi: int | None = None,
              first_posting: int = 10000000, rich: bool = False) -> bytes:
    """``count`` labels for distinct postings, one per page (``rich``: with more on each, see LabelSpec)."""
    specs = [
        LabelSpec(
            posting=f"{first_posting + i:08d}-0001-1",
            tracking=f"TRK{first_posting + i:09d}",
            size_mm=size_mm,
            raster_dpi=raster_dpi,
            rich=rich,
        )
        for i in range(count)
    ]
    return label_pdf(specs)


def _draw_page(doc: pymupdf.Document, spec: LabelSpec) -> None:
    width, height = spec.size_mm
    page_w, page_h = spec.page_mm or spec.size_mm
    offset = spec.offset_mm if spec.page_mm else (0.0, 0.0)
    page = doc.new_page(width=page_w * PT_PER_MM, height=page_h * PT_PER_MM)
    page.draw_rect(_mm_rect(offset[0], offset[1], width, height), color=(0, 0, 0), width=0.8)
    lines = [f"Posting {spec.posting}", f"Tracking {spec.tracking}", *spec.extra_text]
    for i, text in enumerate(lines):
        y = offset[1] + height * 0.45 + i * 6.0
        if y + 4 > offset[1] + height:
            break
        page.insert_text(pymupdf.Point((offset[0] + 4) * PT_PER_MM, y * PT_PER_MM), text, fontsize=9)
    for symbol in spec.resolved_symbols():
        moved = Symbol(symbol.kind, symbol.value, symbol.x_mm + offset[0], symbol.y_mm + offset[1],
                       symbol.module_mm, symbol.height_mm, symbol.angle)
        if spec.raster_dpi:
            _draw_raster(page, moved, spec.raster_dpi)
        else:
            _draw_vector(page, moved)
    if spec.rich:
        _draw_rich(page, spec, offset)
    if spec.rotated:
        page.set_rotation(90)


def _mm_rect(x: float, y: float, w: float, h: float) -> pymupdf.Rect:
    return pymupdf.Rect(x * PT_PER_MM, y * PT_PER_MM, (x + w) * PT_PER_MM, (y + h) * PT_PER_MM)


def symbol_rect_mm(symbol: Symbol) -> tuple[float, float, float, float]:
    """(x, y, width, height) of the symbol's dark area in millimetres."""
    pattern = module_pattern(symbol.kind, symbol.value)
    width = pattern.shape[1] * symbol.module_mm
    height = symbol.height_mm if pattern.shape[0] == 1 and symbol.height_mm else pattern.shape[0] * symbol.module_mm
    return symbol.x_mm, symbol.y_mm, width, height


def _draw_vector(page: pymupdf.Page, symbol: Symbol) -> None:
    pattern = module_pattern(symbol.kind, symbol.value)
    x0, y0, _, height = symbol_rect_mm(symbol)
    row_h = height / pattern.shape[0]
    shape = page.new_shape()
    for r, row in enumerate(pattern):
        for start, stop in _runs(row):
            rect = _mm_rect(x0 + start * symbol.module_mm, y0 + r * row_h, (stop - start) * symbol.module_mm, row_h)
            shape.draw_rect(rect)
    pivot = pymupdf.Point(x0 * PT_PER_MM, y0 * PT_PER_MM)
    morph = (pivot, pymupdf.Matrix(-symbol.angle)) if symbol.angle else None
    shape.finish(fill=(0, 0, 0), color=None, width=0, morph=morph)
    shape.commit()


#: Text of the richer label, as an Ozon FBS label carries it (sender, recipient, parcel lines).
RICH_TEXT = (
    ("ОТ: ООО «Ромашка», Москва", 6), ("КОМУ: Иванов И. И.", 7),
    ("ПВЗ: СПб, Невский пр., 28", 6), ("Заказ 0123456789 · 0,45 кг", 6),
    ("Курьер Ozon · до 12.05", 6), ("Футболка, размер M", 5),
)


def _draw_rich(page: pymupdf.Page, spec: LabelSpec, offset: tuple[float, float]) -> None:
    """The extra content of a ``rich`` label, placed clear of the default symbols' spots."""
    width, height = spec.size_mm
    x, y = offset[0], offset[1]
    top = y + min(18.0, height * 0.3) + 8
    shape = page.new_shape()
    shape.draw_rect(_mm_rect(x + 3, top, width - 6, 6))  # a banner, white text on black
    shape.finish(fill=(0, 0, 0), color=None, width=0)
    for line in (top + 8, height * 0.78 + y):  # table rules
        shape.draw_line(pymupdf.Point((x + 2) * PT_PER_MM, line * PT_PER_MM),
                        pymupdf.Point((x + width - 2) * PT_PER_MM, line * PT_PER_MM))
    shape.finish(color=(0, 0, 0), width=0.6)
    logo = pymupdf.Point((x + width - 14) * PT_PER_MM, (y + height - 14) * PT_PER_MM)
    shape.draw_circle(logo, 4 * PT_PER_MM)  # a round vector logo
    shape.finish(fill=(0, 0, 0), color=None)
    shape.commit()
    page.insert_text(pymupdf.Point((x + 5) * PT_PER_MM, (top + 4.5) * PT_PER_MM), "OZON FBS",
                     fontsize=9, fontname="china-s", color=(1, 1, 1))
    line_y = y + height * 0.45 + 18  # below the posting and tracking lines
    for text, size in RICH_TEXT:
        if line_y > y + height * 0.75:
            break
        page.insert_text(pymupdf.Point((x + 4) * PT_PER_MM, line_y * PT_PER_MM), text, fontsize=size,
                         fontname="china-s")
        line_y += size * 0.5 + 1.5


def _draw_raster(page: pymupdf.Page, symbol: Symbol, dpi: int) -> None:
    pattern = module_pattern(symbol.kind, symbol.value)
    x0, y0, width, height = symbol_rect_mm(symbol)
    px_w = max(1, round(width * dpi / 25.4))
    px_h = max(1, round(height * dpi / 25.4))
    image = Image.fromarray(np.where(pattern, 0, 255).astype(np.uint8)).resize((px_w, px_h), Image.Resampling.NEAREST)
    out = io.BytesIO()
    image.save(out, format="PNG")
    page.insert_image(_mm_rect(x0, y0, width, height), stream=out.getvalue())


def _runs(row: np.ndarray) -> list[tuple[int, int]]:
    """[start, stop) of each run of True in a 1-D bool array."""
    padded = np.concatenate(([False], row, [False]))
    edges = np.flatnonzero(padded[1:] != padded[:-1])
    return list(zip(edges[0::2].tolist(), edges[1::2].tolist(), strict=True))


def sticker_png(value: str, *, size_px: tuple[int, int] = (580, 400), module_px: int = 3,
                dpi: float | None = None) -> bytes:
    """A marketplace sticker as a PNG (Wildberries: 10 px to the millimetre, no size in the file): a
    Code128 of ``value`` with ``module_px`` pixels per module, centred. ``dpi`` writes a pHYs chunk."""
    image = Image.fromarray(_sticker_pixels(value, size_px, module_px))
    out = io.BytesIO()
    image.save(out, format="PNG", **({"dpi": (dpi, dpi)} if dpi else {}))
    return out.getvalue()


def sticker_svg(value: str, *, size_px: tuple[int, int] = (580, 400), module_px: int = 3) -> bytes:
    """The same sticker as an SVG sized in pixels (as Wildberries sends it): one rectangle per bar."""
    width, height = size_px
    pattern = module_pattern("code128", value)[0]
    x0 = (width - len(pattern) * module_px) // 2
    top, bottom = height // 5, height * 3 // 5
    bars = "".join(f'<rect x="{x0 + start * module_px}" y="{top}" width="{(end - start) * module_px}" '
                   f'height="{bottom - top}" fill="#000"/>' for start, end in _runs(pattern))
    return (f'<?xml version="1.0" encoding="UTF-8"?>\n<svg xmlns="http://www.w3.org/2000/svg" width="{width}" '
            f'height="{height}"><rect width="{width}" height="{height}" fill="#fff"/>{bars}</svg>\n').encode()


def _sticker_pixels(value: str, size_px: tuple[int, int], module_px: int) -> np.ndarray:
    width, height = size_px
    pattern = module_pattern("code128", value)[0]
    bars = np.repeat(pattern, module_px)
    if bars.size > width - 20 * module_px:
        raise ValueError(f"{value!r} at {module_px} px per module does not fit {width} px")
    pixels = np.full((height, width), 255, dtype=np.uint8)
    x0 = (width - bars.size) // 2
    pixels[height // 5: height * 3 // 5, x0: x0 + bars.size][:, bars] = 0
    return pixels
