"""Image labels (PNG, SVG) made into a PDF page of their physical size, the form the renderer takes.

A marketplace sticker is a picture, not a page: Wildberries hands over PNG or SVG at 10 pixels to
the millimetre (580×400 px for 58×40 mm, 400×300 px for 40×30 mm). Each becomes a one-page PDF of
its size in millimetres:

- **SVG** keeps its vector drawing (PyMuPDF opens SVG). A root sized in ``mm``/``cm``/``in``/``pt``
  is taken as is; one sized in pixels (or unitless) is sized like a PNG of that many pixels.
- **PNG**: the size comes from its ``pHYs`` chunk when it has one, else from the sticker or medium
  its pixel count matches. It is flattened to grey on white and placed to fill the page. The page
  is marked (:data:`IMAGE_MARK`) so that the page job samples it onto the dot grid nearest-neighbour
  (never smoothed) instead of letting MuPDF scale it; a PNG sized by matching a sticker (no ``pHYs``)
  is also marked a *sticker* (:data:`STICKER_MARK`): 254 dpi by design, it is judged by decoding its
  barcodes on the printer's bitmap, not by the ≥ 300 dpi rule (docs/decisions.md, #16).

Runs in the render sandbox (through the inspector): a hostile picture costs that file only.
"""

from __future__ import annotations

import re
import struct
import zlib
from collections.abc import Sequence

import numpy as np
import pymupdf

from labeld.errors import RejectedInput
from labeld.reasons import Reason
from labeld.render.image import IMAGE_MARK, STICKER_MARK

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
#: Marketplace sticker sizes in mm, matched before the printers' media (Wildberries: 58×40, 40×30).
STICKER_SIZES: tuple[tuple[float, float], ...] = ((58.0, 40.0), (40.0, 30.0), (75.0, 120.0))
#: How far the two axes' pixels per millimetre may disagree for a size to match (2 %).
MATCH_TOLERANCE = 0.02
#: The resolutions a matched size may imply (dots per inch): a 4×3 px image matches no label.
MATCH_DPI = (150.0, 650.0)
MAX_PIXELS = 40_000_000
MM_PER_INCH = 25.4
PT_PER_MM = 72.0 / MM_PER_INCH


def sniff_image(head: bytes) -> str | None:
    """"png" or "svg" from the first bytes of a file, else None."""
    if head.startswith(PNG_MAGIC):
        return "png"
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if text.startswith((b"<svg", b"<?xml", b"<!doctype svg")) and b"<svg" in head.lower():
        return "svg"
    return None


def png_header(data: bytes) -> tuple[int, int, float | None]:
    """Width and height in pixels, and pixels per millimetre from ``pHYs`` (None without one)."""
    if len(data) < 33 or not data.startswith(PNG_MAGIC) or data[12:16] != b"IHDR":
        raise RejectedInput(Reason("intake.bad_image", kind="PNG", error="no IHDR header"))
    width, height = struct.unpack(">II", data[16:24])
    per_mm = None
    at = 8
    while at + 8 <= len(data):
        length, kind = struct.unpack(">I4s", data[at:at + 8])
        if kind == b"pHYs" and length == 9 and at + 17 <= len(data):
            x, y, unit = struct.unpack(">IIB", data[at + 8:at + 17])
            if unit == 1 and x > 0 and y > 0 and abs(x - y) <= 0.01 * x:
                per_mm = x / 1000.0
            break
        if kind in (b"IDAT", b"IEND"):
            break
        at += 12 + length
    return width, height, per_mm


def match_size(pixels: tuple[int, int], sizes: Sequence[tuple[float, float]]) -> tuple[float, float] | None:
    """The first of ``sizes`` (either way round) whose proportions ``pixels`` has, at a plausible dpi."""
    width, height = pixels
    for size in [*STICKER_SIZES, *sizes]:
        for w, h in (size, size[::-1]):
            if w <= 0 or h <= 0:
                continue
            across, down = width / w, height / h
            dpi = across * MM_PER_INCH
            if abs(across - down) <= MATCH_TOLERANCE * across and MATCH_DPI[0] <= dpi <= MATCH_DPI[1]:
                return w, h
    return None


def png_as_pdf(data: bytes, sizes: Sequence[tuple[float, float]]) -> bytes:
    """A PNG label as a one-page PDF of its physical size (see the module docstring)."""
    width, height, per_mm = png_header(data)
    if width * height > MAX_PIXELS or not width or not height:
        raise RejectedInput(Reason("intake.bad_image", kind="PNG", error=f"{width}×{height} pixels"))
    sticker = per_mm is None
    if per_mm is not None:
        size = (width / per_mm, height / per_mm)
    else:
        matched = match_size((width, height), sizes)
        if matched is None:
            raise RejectedInput(Reason("intake.image_no_size", width=width, height=height))
        size = matched
    try:
        pix = pymupdf.Pixmap(data)
    except Exception as error:  # PyMuPDF raises several types for broken files
        raise RejectedInput(Reason("intake.bad_image", kind="PNG", error=str(error))) from error
    gray = _flat_gray(pix)
    flat = pymupdf.Pixmap(pymupdf.csGRAY, width, height, gray.tobytes(), False)
    doc = pymupdf.open()
    try:
        page = doc.new_page(width=size[0] * PT_PER_MM, height=size[1] * PT_PER_MM)
        page.insert_image(page.rect, pixmap=flat)
        doc.set_metadata({"producer": "labeld", "keywords": IMAGE_MARK + (" " + STICKER_MARK if sticker else "")})
        return bytes(doc.tobytes(garbage=3, deflate=True, no_new_id=True))
    finally:
        doc.close()


def _flat_gray(pix: pymupdf.Pixmap) -> np.ndarray:
    """The picture as grey levels, transparent parts white (a sticker's background)."""
    channels = pix.n
    samples = np.frombuffer(pix.samples, dtype=np.uint8).reshape(pix.height, pix.stride)[:, : pix.width * channels]
    pixels = samples.reshape(pix.height, pix.width, channels).astype(np.float32)
    colour = channels - (1 if pix.alpha else 0)
    gray = pixels[..., 0] * 0.299 + pixels[..., 1] * 0.587 + pixels[..., 2] * 0.114 if colour >= 3 else pixels[..., 0]
    if pix.alpha:
        alpha = pixels[..., colour] / 255.0
        gray = gray * alpha + 255.0 * (1.0 - alpha)
    return np.clip(np.rint(gray), 0, 255).astype(np.uint8)


_SVG_ROOT = re.compile(rb"<svg\b[^>]*>", re.IGNORECASE)
_SIZE_ATTR = re.compile(rb'\s(width|height)\s*=\s*["\']\s*([0-9.]+)\s*([a-z%]*)\s*["\']', re.IGNORECASE)
_UNIT_MM = {b"mm": 1.0, b"cm": 10.0, b"in": MM_PER_INCH, b"pt": MM_PER_INCH / 72.0}


def svg_size(data: bytes, sizes: Sequence[tuple[float, float]]) -> tuple[float, float] | None:
    """The SVG's size in mm: from its root's units, or (pixels) the sticker or medium it matches.
    None when its root gives no size (PyMuPDF's own reading is kept)."""
    root = _SVG_ROOT.search(data[:65536])
    if root is None:
        raise RejectedInput(Reason("intake.bad_image", kind="SVG", error="no <svg> element"))
    found = {m.group(1).lower(): (float(m.group(2) or 0), m.group(3).lower())
             for m in _SIZE_ATTR.finditer(root.group(0))}
    if set(found) != {b"width", b"height"}:
        return None
    (width, unit_w), (height, unit_h) = found[b"width"], found[b"height"]
    if unit_w in _UNIT_MM and unit_h in _UNIT_MM:
        return width * _UNIT_MM[unit_w], height * _UNIT_MM[unit_h]
    if unit_w in (b"", b"px") and unit_h in (b"", b"px"):
        matched = match_size((round(width), round(height)), sizes)
        if matched is None:
            raise RejectedInput(Reason("intake.image_no_size", width=round(width), height=round(height)))
        return matched
    return None


def svg_as_pdf(data: bytes, size_mm: tuple[float, float] | None = None,
               sizes: Sequence[tuple[float, float]] = ()) -> bytes:
    """An SVG label as a PDF page of its physical size, still vector. Wildberries' SVG is sized in
    pixels, 10 to the millimetre, which a PDF reader would take for 0.75 pt each: the root element's
    ``width``/``height`` are rewritten in millimetres (its ``viewBox`` kept, or made from them)."""
    size = size_mm or svg_size(data, sizes)
    source = data
    root = _SVG_ROOT.search(data[:65536])
    if root is None:
        raise RejectedInput(Reason("intake.bad_image", kind="SVG", error="no <svg> element"))
    if size is not None:
        tag = root.group(0)
        given = {m.group(1).lower(): m.group(2) for m in _SIZE_ATTR.finditer(tag)}
        fixed = _SIZE_ATTR.sub(b"", tag)
        extra = f' width="{size[0]:g}mm" height="{size[1]:g}mm"'.encode()
        if b"viewbox" not in tag.lower() and len(given) == 2:
            extra += b' viewBox="0 0 ' + given[b"width"] + b" " + given[b"height"] + b'"'
        fixed = fixed[:4] + extra + fixed[4:]
        source = data[:root.start()] + fixed + data[root.end():]
    try:
        svg = pymupdf.open(stream=source, filetype="svg")
        try:
            pdf: bytes = svg.convert_to_pdf()
        finally:
            svg.close()
    except Exception as error:  # PyMuPDF raises several types for broken files
        raise RejectedInput(Reason("intake.bad_image", kind="SVG", error=str(error))) from error
    return pdf


def crc_ok(data: bytes) -> bool:
    """Whether every chunk of a PNG is whole and its CRC right (a truncated download is not)."""
    at = 8
    while at + 12 <= len(data):
        length, kind = struct.unpack(">I4s", data[at:at + 8])
        end = at + 12 + length
        if end > len(data):
            return False
        if zlib.crc32(data[at + 4:at + 8 + length]) != struct.unpack(">I", data[end - 4:end])[0]:
            return False
        if kind == b"IEND":
            return True
        at = end
    return False
