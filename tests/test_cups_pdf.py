"""pdf mode: the one-page PDF a CUPS driver queue receives, checked by rendering it back."""

from __future__ import annotations

import numpy as np
import pymupdf
import pytest
import zxingcpp

from labeld.bitmap import Bitmap
from labeld.drivers.cups import bitmap_pdf
from labeld.labelmaker import A4_MM, LabelSpec, label_pdf
from labeld.media import generic_geometry, parse_media
from labeld.render.place import placed_page_pdf as encode_pdf_page

pymupdf.TOOLS.set_aa_level(0)
PT_PER_MM = 72 / 25.4


def render(pdf: bytes, dpi: int, page: int = 0) -> Bitmap:
    with pymupdf.open(stream=pdf, filetype="pdf") as doc:
        pix = doc[page].get_pixmap(dpi=dpi, colorspace=pymupdf.csGRAY, alpha=False)
    gray = np.frombuffer(pix.samples, dtype=np.uint8).reshape(pix.height, pix.stride)[:, : pix.width]
    return gray < 128


def decoded(bitmap: Bitmap) -> set[str]:
    image = np.where(bitmap, 0, 255).astype(np.uint8)
    return {result.text for result in zxingcpp.read_barcodes(image)}


def page_mm(pdf: bytes) -> tuple[float, float]:
    with pymupdf.open(stream=pdf, filetype="pdf") as doc:
        assert doc.page_count == 1
        rect = doc[0].rect
    return rect.width / PT_PER_MM, rect.height / PT_PER_MM


SPEC = LabelSpec(posting="87654321-0042-1", tracking="TRK000004242")
EXPECTED = {"87654321-0042-1", "https://ozon.example/t/TRK000004242"}


@pytest.mark.parametrize("spec", [
    SPEC,
    LabelSpec(posting=SPEC.posting, tracking=SPEC.tracking, page_mm=A4_MM, offset_mm=(60.0, 90.0)),
    LabelSpec(posting=SPEC.posting, tracking=SPEC.tracking, rotated=True),
], ids=["label-size", "on-a4", "turned"])
def test_page_becomes_one_page_on_the_medium_with_readable_barcodes(spec: LabelSpec) -> None:
    """Whatever the page (label size, A4 sheet, turned), the PDF is one 75×120 mm page whose
    barcodes decode when rendered at the printer's 203 dpi."""
    geometry = generic_geometry(parse_media("75x120mm"), 203)
    source = label_pdf([LabelSpec(posting="11111111-0001-1"), spec])
    out = encode_pdf_page(source, 1, geometry)
    assert page_mm(out) == pytest.approx((geometry.width_mm, geometry.length_mm), abs=0.1)
    bitmap = render(out, 203)
    assert decoded(bitmap) == EXPECTED


def test_page_stays_vector() -> None:
    """The label's barcodes stay drawings, not images, so the queue rasterises them once."""
    geometry = generic_geometry(parse_media("75x120mm"), 300)
    out = encode_pdf_page(label_pdf(SPEC), 0, geometry)
    with pymupdf.open(stream=out, filetype="pdf") as doc:
        assert doc[0].get_images() == []
        assert sum(len(path["items"]) for path in doc[0].get_drawings()) > 100


def test_endless_media_takes_the_content_length() -> None:
    """On 62 mm endless tape the page is 62 mm wide (printable) and as long as the label needs."""
    geometry = generic_geometry(parse_media("62x1000mm"), 300)
    endless = type(geometry)(geometry.dpi, geometry.width_dots, None, geometry.media)
    out = encode_pdf_page(label_pdf(LabelSpec(size_mm=(58.0, 40.0))), 0, endless)
    width, length = page_mm(out)
    assert width == pytest.approx(62.0, abs=0.05)
    assert 39.5 <= length <= 40.5


@pytest.mark.parametrize("dpi", [203, 300])
def test_bitmap_pdf_renders_back_to_the_same_dots(dpi: int) -> None:
    """The bitmap wrapped as PDF (one image pixel per dot) renders back dot for dot at its dpi."""
    bitmap = render(label_pdf(SPEC), dpi)
    out = bitmap_pdf(bitmap, dpi, copies=2)
    with pymupdf.open(stream=out, filetype="pdf") as doc:
        assert doc.page_count == 2
    assert np.array_equal(render(out, dpi, page=1), bitmap)
    assert decoded(render(out, dpi)) == EXPECTED
