"""The 1-bit label bitmap, the currency between renderer, pre-flight and drivers.

A bitmap is a 2-D numpy array of ``bool``: shape ``(rows, dots)``, ``True`` = a black dot.
Row 0 is the top of the label as the PDF shows it after fitting; ``dots`` is exactly the
printable width of the medium, across the head.
"""

from __future__ import annotations

import hashlib
import io

import numpy as np
import numpy.typing as npt
from PIL import Image

Bitmap = npt.NDArray[np.bool_]


def to_image(bitmap: Bitmap) -> Image.Image:
    """A Pillow mode-"1" image of ``bitmap`` (black dots black)."""
    return Image.fromarray(~bitmap)


def to_png(bitmap: Bitmap, *, dpi: int | None = None) -> bytes:
    out = io.BytesIO()
    extra = {"dpi": (dpi, dpi)} if dpi else {}
    to_image(bitmap).save(out, format="PNG", optimize=False, **extra)
    return out.getvalue()


def from_image(image: Image.Image, threshold: int = 128) -> Bitmap:
    """A bitmap from any Pillow image: dots darker than ``threshold`` are black (no dithering)."""
    gray = np.asarray(image.convert("L"))
    return gray < threshold


def from_png(data: bytes) -> Bitmap:
    with Image.open(io.BytesIO(data)) as image:
        return from_image(image)


def digest(bitmap: Bitmap) -> str:
    """A content hash of the dots (shape included)."""
    h = hashlib.sha256(f"{bitmap.shape[0]}x{bitmap.shape[1]}".encode())
    h.update(np.packbits(bitmap, axis=1).tobytes())
    return h.hexdigest()
