"""A picture label (a PNG made into a page by intake) sampled onto the dot grid, nearest-neighbour.

MuPDF smooths an image it scales (a 254-dpi sticker on a 203-dpi head comes out in greys), so a
page that intake marked as a picture (:data:`IMAGE_MARK` in its keywords) is not rendered by MuPDF:
each dot takes the one source pixel under its centre, through the same page-to-dots transform
the vector renderer uses, so pre-flight finds its barcodes where it expects them.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pymupdf

#: Keywords written into a PDF made from a PNG: its image is sampled nearest-neighbour.
IMAGE_MARK = "labeld:image"
#: ... and, for a PNG sized by matching a sticker, exempts it from the ≥ min_dpi rule.
STICKER_MARK = "labeld:sticker"

Gray = npt.NDArray[np.uint8]


def _keywords(doc: pymupdf.Document) -> str:
    return str((doc.metadata or {}).get("keywords") or "")


def image_pixels(page: pymupdf.Page) -> tuple[Gray, pymupdf.Rect] | None:
    """The grey pixels of a marked picture page and where they sit on it (page points), else None."""
    doc = page.parent
    if IMAGE_MARK not in _keywords(doc):
        return None
    infos = page.get_image_info(xrefs=True)
    if len(infos) != 1 or not infos[0].get("xref"):
        return None
    pix = pymupdf.Pixmap(doc, infos[0]["xref"])
    if pix.n != 1 or pix.alpha:
        pix = pymupdf.Pixmap(pymupdf.csGRAY, pix)
    gray: Gray = np.frombuffer(pix.samples, dtype=np.uint8).reshape(pix.height, pix.stride)[:, : pix.width]
    return gray, pymupdf.Rect(infos[0]["bbox"]) * page.rotation_matrix


def is_sticker(page: pymupdf.Page) -> bool:
    """A PNG sticker sized by the medium it matched: 254 dpi by design (docs/decisions.md, #16)."""
    return STICKER_MARK in _keywords(page.parent)


def sample(gray: Gray, where: pymupdf.Rect, transform: pymupdf.Matrix, shape: tuple[int, int],
           clip: pymupdf.Rect, threshold: int) -> npt.NDArray[np.bool_]:
    """Dots of a ``shape`` canvas: the source pixel under each dot's centre is darker than ``threshold``.

    ``transform`` maps page points to dots; ``where`` is the image's place on the page; only the
    part inside ``clip`` (the fit's box) is drawn."""
    rows, cols = shape
    back = ~transform
    ys, xs = np.mgrid[0:rows, 0:cols]
    cx, cy = xs + 0.5, ys + 0.5
    px = cx * back.a + cy * back.c + back.e
    py = cx * back.b + cy * back.d + back.f
    height, width = gray.shape
    ix = np.floor((px - where.x0) / where.width * width).astype(np.int64)
    iy = np.floor((py - where.y0) / where.height * height).astype(np.int64)
    inside = (ix >= 0) & (ix < width) & (iy >= 0) & (iy < height)
    inside &= (px >= clip.x0) & (px < clip.x1) & (py >= clip.y0) & (py < clip.y1)
    dots = np.zeros(shape, dtype=np.bool_)
    dots[inside] = gray[iy[inside], ix[inside]] < threshold
    return dots
