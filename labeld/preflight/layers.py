"""A page's text and its image placements, read from the display list the renderer already drew.

``Page.get_text`` and ``Page.get_image_info`` each interpret the page's content streams again to
build a MuPDF text page (about 0.2 ms each on a rich 75×120 label); replaying the display list
that ``labeld.render`` kept (``RenderedLabel.drawn``) builds the same text page in a tenth of that.
The results are the page methods' own (``tests/test_preflight_layers.py``). A page with a
``/Rotate`` is read by the page methods, which read it unrotated (the display list is drawn as
displayed); so is a page without a display list.
"""

from __future__ import annotations

from typing import Any

import pymupdf


def _text_page(page: pymupdf.Page, drawn: pymupdf.DisplayList | None, flags: int) -> pymupdf.TextPage | None:
    if drawn is None or page.rotation:
        return None
    return pymupdf.TextPage(drawn.get_textpage(flags))


def page_text(page: pymupdf.Page, drawn: pymupdf.DisplayList | None = None) -> str:
    """What ``page.get_text()`` returns."""
    layer = _text_page(page, drawn, pymupdf.TEXTFLAGS_TEXT)
    if layer is None:
        return str(page.get_text())
    return str(layer.extractText())


def image_info(page: pymupdf.Page, drawn: pymupdf.DisplayList | None = None, xrefs: bool = False
               ) -> list[dict[str, Any]]:
    """What ``page.get_image_info(xrefs=xrefs)`` returns (each image's xref matched by its pixels' digest)."""
    layer = _text_page(page, drawn, pymupdf.TEXT_PRESERVE_IMAGES)
    if layer is None:
        return list(page.get_image_info(xrefs=xrefs))
    infos: list[dict[str, Any]] = list(layer.extractIMGINFO(hashes=xrefs))
    if xrefs and infos:
        doc = page.parent
        digests = {}
        for item in page.get_images():
            digests[pymupdf.Pixmap(doc, item[0]).digest] = item[0]
        for info in infos:
            info["xref"] = digests.get(info["digest"], 0)
    return infos
