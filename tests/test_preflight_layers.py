"""Pre-flight reads a page's text and image placements from the renderer's display list: the same
text and the same placements as the page's own methods give, on every kind of label it meets."""

from __future__ import annotations

import pymupdf
import pytest

from labeld.labelmaker import LabelSpec, label_pdf
from labeld.media import generic_geometry, parse_media
from labeld.preflight.layers import image_info, page_text
from labeld.render.rasterize import render_label

A4 = (210.0, 297.0)
SPECS = {
    "rich": LabelSpec(rich=True),
    "raster": LabelSpec(size_mm=(58.0, 40.0), raster_dpi=300),
    "rich on A4": LabelSpec(rich=True, page_mm=A4),
    "raster on A4": LabelSpec(page_mm=A4, offset_mm=(30, 40), raster_dpi=200),
    "rotated page": LabelSpec(rotated=True),
    "rotated raster page": LabelSpec(rotated=True, raster_dpi=300),
}


@pytest.mark.parametrize("name", SPECS)
def test_text_and_images_from_the_display_list_are_the_pages_own(name: str) -> None:
    page = pymupdf.open(stream=label_pdf(SPECS[name]))[0]
    drawn = render_label(page, generic_geometry(parse_media("75x120mm"), 300)).drawn
    assert drawn is not None
    assert page_text(page, drawn) == page.get_text()
    assert image_info(page, drawn) == page.get_image_info()
    with_xrefs = image_info(page, drawn, xrefs=True)
    assert with_xrefs == page.get_image_info(xrefs=True)
    assert all(info["xref"] for info in with_xrefs)
    if SPECS[name].raster_dpi:
        assert with_xrefs
