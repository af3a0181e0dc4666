"""How sharp every raster image on a label will print: its effective resolution at placed size.

A marketplace rejects a label whose barcode was rasterised too coarsely ("Invalid Document"),
however well the printer prints it, so each embedded image is measured where it sits: pixels per
inch of its placed width and height on the *printed* label (a page scaled to fit shrinks the
inches), whatever the rotation of the image, the page or the fit. Vector content has no
resolution to measure and always passes.

Two things make the rule fair (docs/decisions.md, "Resolution"): PDF coordinates are written with
a producer's rounding, so an image placed at exactly 300 dpi measures 299.99… or 300.01…; the
comparison allows ``DPI_TOLERANCE`` of that and reports the dpi rounded *down*, so the sentence never
says "300 dpi … requires ≥ 300". And a 1-D barcode is judged along its scan direction only: the
module widths are what a scanner resolves; stretching the bars' height loses nothing.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import pymupdf

from labeld.preflight.layers import image_info
from labeld.render.fit import PT_PER_INCH

#: How far below the required dpi an image may measure and still pass: the rounding of PDF
#: coordinates (1/100 pt, 1/100 mm, twips, float32) moves a 300-dpi image by less than 0.05 %.
DPI_TOLERANCE = 0.001


@dataclass(frozen=True)
class PlacedImage:
    """One image as placed on the page: ``box`` in page points (displayed orientation)."""

    xref: int
    box: pymupdf.Rect
    pixels: tuple[int, int]
    dpi: tuple[float, float]
    #: Whether the image's own width (its first pixel axis) runs along the displayed page's x axis.
    width_along_x: bool = True

    @property
    def min_dpi(self) -> float:
        return min(self.dpi)

    def dpi_along(self, page_x: bool) -> float:
        """The resolution along the displayed page's x axis (``page_x``) or y axis."""
        return self.dpi[0] if self.width_along_x == page_x else self.dpi[1]


def placed_images(page: pymupdf.Page, zoom: float = 1.0, drawn: pymupdf.DisplayList | None = None
                  ) -> list[PlacedImage]:
    """Every image drawn on ``page``; ``zoom`` is how much the label is scaled when printed; ``drawn``
    the page's display list, if the caller has one."""
    images = []
    for info in image_info(page, drawn, xrefs=True):
        a, b, c, d, _, _ = info["transform"]
        width_in = math.hypot(a, b) * zoom / PT_PER_INCH
        height_in = math.hypot(c, d) * zoom / PT_PER_INCH
        if width_in <= 0 or height_in <= 0:
            continue
        px_w, px_h = int(info["width"]), int(info["height"])
        box = pymupdf.Rect(info["bbox"]) * page.rotation_matrix
        turn = page.rotation_matrix
        along_x, along_y = a * turn.a + b * turn.c, a * turn.b + b * turn.d  # the width axis, as displayed
        images.append(PlacedImage(int(info.get("xref", 0)), box, (px_w, px_h), (px_w / width_in, px_h / height_in),
                                  abs(along_x) >= abs(along_y)))
    return images


def below(dpi: float, minimum: float) -> bool:
    """Whether ``dpi`` falls short of ``minimum`` by more than the rounding of PDF coordinates."""
    return dpi < minimum * (1 - DPI_TOLERANCE)


def shown_dpi(dpi: float) -> float:
    """The dpi to tell a person: rounded *down* to 0.1, so a shortfall never reads as the minimum."""
    return math.floor(dpi * 10) / 10


def print_zoom(transform: pymupdf.Matrix, dpi: int) -> float:
    """How much the renderer scaled the page (1.0 = true size), read from its page-to-dots transform."""
    return math.hypot(transform.a, transform.b) * PT_PER_INCH / dpi
