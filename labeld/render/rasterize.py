"""Where a PDF page becomes dots: PyMuPDF renders straight onto the printer's dot grid.

No render-then-resample: the page is rasterised once, at the printer's resolution, with
anti-aliasing off, and thresholded at a fixed level (never dithered), so that a bar edge either
is a dot or is not. The only post-processing is an integer shift into the canvas, which keeps
the dot grid intact.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pymupdf

from labeld.bitmap import Bitmap
from labeld.media import Geometry
from labeld.reasons import Reason
from labeld.render.fit import PT_PER_INCH, Box, Fit, plan_fit
from labeld.render.image import image_pixels, sample

#: Resolution of the quick render used to find a large page's inked area.
INK_DPI = 36

#: Dots added to every coordinate to undo float32 rounding at exact dot boundaries.
GRID_NUDGE = 0.002

pymupdf.TOOLS.set_aa_level(0)


@dataclass(frozen=True)
class RenderedLabel:
    """A page on the dot grid.

    ``transform`` maps page points (displayed orientation, as ``page.rect``) to bitmap
    coordinates (x = dot across the head, y = row), so that pre-flight can find on the
    bitmap what it found on the page.
    """

    bitmap: Bitmap
    transform: pymupdf.Matrix
    fit: Fit
    dpi: int
    #: The red plane, for two-colour (black/red) media; None when not asked for.
    red: Bitmap | None = None
    #: The page's MuPDF display list the bitmap was drawn from (None for a picture label), kept so
    #: that pre-flight's decodes replay it instead of interpreting the page again.
    drawn: pymupdf.DisplayList | None = field(default=None, compare=False, repr=False)

    @property
    def warnings(self) -> tuple[Reason, ...]:
        return self.fit.warnings


def page_box(page: pymupdf.Page) -> Box:
    r = page.rect
    return Box(r.x0, r.y0, r.x1, r.y1)


def ink_box(page: pymupdf.Page, drawn: pymupdf.DisplayList | None = None) -> Box | None:
    """The inked area of ``page`` from a coarse render (to the nearest coarse pixel); None if blank.
    ``drawn``: the page's display list, when the caller has one (the same pixels, one parse less)."""
    zoom = INK_DPI / PT_PER_INCH
    if drawn is None:
        drawn = page.get_displaylist()
    pix = drawn.get_pixmap(matrix=pymupdf.Matrix(zoom, zoom), colorspace=pymupdf.csGRAY, alpha=False)
    gray = np.frombuffer(pix.samples, dtype=np.uint8).reshape(pix.height, pix.stride)[:, : pix.width]
    rows = np.flatnonzero((gray < 250).any(axis=1))
    cols = np.flatnonzero((gray < 250).any(axis=0))
    if rows.size == 0:
        return None
    page_rect = page.rect
    x0 = max(page_rect.x0, (cols[0] + pix.x) / zoom)
    y0 = max(page_rect.y0, (rows[0] + pix.y) / zoom)
    x1 = min(page_rect.x1, (cols[-1] + 1 + pix.x) / zoom)
    y1 = min(page_rect.y1, (rows[-1] + 1 + pix.y) / zoom)
    return Box(x0, y0, x1, y1)


def render_label(page: pymupdf.Page, geometry: Geometry, threshold: int = 128, fit: Fit | None = None,
                 red: bool = False) -> RenderedLabel:
    """Render ``page`` onto ``geometry``'s dot grid as a 1-bit bitmap of exactly the printable width.

    With ``red``, the page is rendered in colour and split into a black and a red plane (for
    Brother's black/red media): a dot is red where the colour is clearly red, black where it is
    dark otherwise."""
    picture = image_pixels(page)
    # One display list serves the fit's coarse render, the dots and pre-flight's decodes (what
    # ``page.get_pixmap`` would build and throw away each time).
    drawn = None if picture is not None else page.get_displaylist()
    if fit is None:
        box = page_box(page)
        same = _same_size(box, geometry)
        fit = plan_fit(box, None if same else ink_box(page, drawn), geometry)
    scale = geometry.dpi / PT_PER_INCH * fit.zoom
    matrix = pymupdf.Matrix(scale, scale)
    if fit.rotate:
        matrix = matrix * pymupdf.Matrix(-90)
    # PyMuPDF's matrices are float32: an edge meant to sit exactly on a dot boundary arrives a
    # hair below it and MuPDF's non-anti-aliased fill then claims the dot before. A nudge far
    # below a dot but far above float32 noise puts such edges back where they were drawn.
    matrix = matrix * pymupdf.Matrix(1, 0, 0, 1, GRID_NUDGE, GRID_NUDGE)
    clip = pymupdf.Rect(fit.box.x0, fit.box.y0, fit.box.x1, fit.box.y1)
    turned = clip * matrix
    width = geometry.width_dots
    length = geometry.length_dots or max(1, round(turned.height))
    # Integer shift that centres the content: whole dots only, so the grid is untouched.
    dx = round((width - turned.width) / 2 - turned.x0)
    dy = round((length - turned.height) / 2 - turned.y0)
    if picture is not None:  # a PNG label: nearest-neighbour, never MuPDF's smoothing scaler
        transform = matrix * pymupdf.Matrix(1, 0, 0, 1, dx, dy)
        canvas = sample(picture[0], picture[1], transform, (length, width), clip, threshold)
        blank = np.zeros((length, width), dtype=np.bool_) if red else None
        return RenderedLabel(canvas, transform, fit, geometry.dpi, blank)
    if drawn is None:  # only a picture label comes without one, and it has returned above
        drawn = page.get_displaylist()
    pix = drawn.get_pixmap(matrix=matrix, clip=clip, colorspace=pymupdf.csRGB if red else pymupdf.csGRAY,
                           alpha=False)
    samples = np.frombuffer(pix.samples, dtype=np.uint8).reshape(pix.height, pix.stride)
    if red:
        # int32: the luma sum below (255 × 587 …) overflows int16
        rgb = samples[:, : pix.width * 3].reshape(pix.height, pix.width, 3).astype(np.int32)
        red_dots = (rgb[..., 0] >= 128) & (rgb[..., 0] - np.maximum(rgb[..., 1], rgb[..., 2]) >= 96)
        luma = (rgb[..., 0] * 299 + rgb[..., 1] * 587 + rgb[..., 2] * 114) // 1000
        dots = (luma < threshold) & ~red_dots
    else:
        dots = samples[:, : pix.width] < threshold
    canvas = np.zeros((length, width), dtype=np.bool_)
    _paste(canvas, dots, pix.x + dx, pix.y + dy)
    red_plane = None
    if red:
        red_plane = np.zeros((length, width), dtype=np.bool_)
        _paste(red_plane, red_dots, pix.x + dx, pix.y + dy)
    transform = matrix * pymupdf.Matrix(1, 0, 0, 1, dx, dy)
    return RenderedLabel(canvas, transform, fit, geometry.dpi, red_plane, drawn)


def _same_size(box: Box, geometry: Geometry) -> bool:
    width, length = box.size_mm()
    fits = (geometry.width_mm + 1.0 >= width and (geometry.length_mm is None or geometry.length_mm + 1.0 >= length))
    turned = (geometry.width_mm + 1.0 >= length and (geometry.length_mm is None or geometry.length_mm + 1.0 >= width))
    return fits or turned


def _paste(canvas: Bitmap, dots: Bitmap, x: int, y: int) -> None:
    """Copy ``dots`` into ``canvas`` at (x, y), clipping whatever falls outside."""
    rows, cols = canvas.shape
    src_y0, src_x0 = max(0, -y), max(0, -x)
    dst_y0, dst_x0 = max(0, y), max(0, x)
    h = min(dots.shape[0] - src_y0, rows - dst_y0)
    w = min(dots.shape[1] - src_x0, cols - dst_x0)
    if h > 0 and w > 0:
        canvas[dst_y0 : dst_y0 + h, dst_x0 : dst_x0 + w] = dots[src_y0 : src_y0 + h, src_x0 : src_x0 + w]
