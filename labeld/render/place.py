"""A page placed on the medium as a one-page PDF, still vector: for printers that take PDF.

Printers behind a CUPS driver queue rasterise for themselves, so labeld hands them the page
placed by the same rules the renderer follows (:mod:`labeld.render.fit`): cropped to its ink
when the page is larger, turned when it fits only turned, scaled down only when it fits neither
way. The queue then rasterises it once, at its own resolution.
"""

from __future__ import annotations

import pymupdf

from labeld.media import Geometry
from labeld.render.fit import PT_PER_INCH, plan_fit
from labeld.render.rasterize import ink_box, page_box


def placed_page_pdf(pdf: bytes, page_index: int, geometry: Geometry) -> bytes:
    """Page ``page_index`` of ``pdf`` as a one-page PDF the size of ``geometry``'s medium."""
    source = pymupdf.open(stream=pdf, filetype="pdf")
    try:
        page = source[page_index]
        page.remove_rotation()  # a private copy: from here on, page.rect is what a person sees
        fit = plan_fit(page_box(page), ink_box(page), geometry)
        clip = pymupdf.Rect(fit.box.x0, fit.box.y0, fit.box.x1, fit.box.y1)
        doc = pymupdf.open()
        width = geometry.width_dots * PT_PER_INCH / geometry.dpi
        content_h = (clip.width if fit.rotate else clip.height) * fit.zoom
        height = content_h if geometry.length_dots is None else geometry.length_dots * PT_PER_INCH / geometry.dpi
        target = doc.new_page(width=width, height=height)
        # rotate=90 turns a quarter counter-clockwise, the way labeld's renderer turns a page.
        target.show_pdf_page(target.rect, source, page_index, clip=clip, rotate=90 if fit.rotate else 0)
        try:
            return bytes(doc.tobytes(garbage=3, deflate=True))
        finally:
            doc.close()
    finally:
        source.close()
