"""How sharp every raster image on a label will print: its effective resolution at placed size.

A marketplace rejects a label whose barcode was rasterised too coarsely ("Invalid Document"),
however well the printer prints it, so each embedded image is measured where it sits: pixels per
inch of its placed width and height on the *printed* label (a page scaled to fit shrinks the
inches), whatever the rotation of the image, the page or the fit. Vector content has no
resolution to measure and always passes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import pymupdf

from labeld.render.fit import PT_PER_INCH


@dataclass(frozen=True)
class PlacedImage:
    """One image as placed on the page: ``box`` in page points (displayed orientation)."""

    xref: int
    box: pymupdf.Rect
    pixels: tuple[int, int]
    dpi: tuple[float, float]

    @property
    def min_dpi(self) -> float:
        return min(self.dpi)


def placed_images(page: pymupdf.Page, zoom: float = 1.0) -> list[PlacedImage]:
    """Every image drawn on ``page``; ``zoom`` is how much the label is scaled when printed."""
    images = []
    for info in page.get_image_info(xrefs=True):
        a, b, c, d, _, _ = info["transform"]
        width_in = math.hypot(a, b) * zoom / PT_PER_INCH
        height_in = math.hypot(c, d) * zoom / PT_PER_INCH
        if width_in <= 0 or height_in <= 0:
            continue
        px_w, px_h = int(info["width"]), int(info["height"])
        box = pymupdf.Rect(info["bbox"]) * page.rotation_matrix
        images.append(PlacedImage(int(info.get("xref", 0)), box, (px_w, px_h), (px_w / width_in, px_h / height_in)))
    return images


def print_zoom(transform: pymupdf.Matrix, dpi: int) -> float:
    """How much the renderer scaled the page (1.0 = true size), read from its page-to-dots transform."""
    return math.hypot(transform.a, transform.b) * PT_PER_INCH / dpi
