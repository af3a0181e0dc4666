"""Brother QL raster: PackBits and the byte stream of a print job, as pure functions.

Our own encoder instead of brother_ql's ``BrotherQLRaster``: that class takes a PIL image,
flips and converts it per call and PackBits-encodes every row on its own; here the whole page
is placed, mirrored and packed with numpy at once, empty rows become ``Z``, and identical rows
(barcode bars, borders) are compressed once. The bytes follow the same command set (see
docs/devdocs/BROTHER.md); the emulator and the tests check them dot for dot.
"""

from __future__ import annotations

import re
import struct
from dataclasses import dataclass

import numpy as np

from labeld.bitmap import Bitmap

INVALIDATE = b"\x00"
INITIALIZE = b"\x1b@"
RASTER_MODE = b"\x1bia\x01"
STATUS_REQUEST = b"\x1biS"
PRINT_INFO = b"\x1biz"
AUTO_CUT = b"\x1biM"
CUT_EVERY = b"\x1biA"
EXPANDED = b"\x1biK"
MARGINS = b"\x1bid"
COMPRESSION = b"M"
EMPTY_LINE = b"Z"
NEXT_PAGE = b"\x0c"
LAST_PAGE = b"\x1a"

MEDIA_ENDLESS = 0x0A
MEDIA_DIE_CUT = 0x0B
#: ESC i z n1: media type, width, length and line count are valid; print at high quality.
PRINT_INFO_FLAGS = 0x80 | 0x02 | 0x04 | 0x08 | 0x40
AUTO_CUT_FLAG = 0x40
EXPANDED_TWO_COLOUR = 0x01
EXPANDED_CUT_AT_END = 0x08


@dataclass(frozen=True)
class RasterSetup:
    """Everything about a job except its dots: the head, the medium and the cutting."""

    head_bytes: int  # bytes per raster line across the whole head (90 for 720 dots)
    offset_right: int  # blank dots between the right end of the head and the label
    media_type: int  # MEDIA_ENDLESS or MEDIA_DIE_CUT
    width_mm: int
    length_mm: int  # 0 for endless
    feed_margin: int  # ESC i d dots: 35 for endless, 0 for die-cut
    invalidate_bytes: int = 400
    compress: bool = True
    cut: bool = True
    two_colour: bool = False


def packbits(data: bytes) -> bytes:
    """PackBits (Apple TN1023): runs of 2..128 equal bytes as (257-n, byte), other bytes as
    literal blocks (n-1, n bytes) of up to 128. A pair inside a literal stays literal (a run
    there would cost a byte). Runs are found by the regex engine, not a Python loop per byte."""
    out = bytearray()
    literal_start = 0
    for match in _RUN.finditer(data):
        start, stop = match.span()
        if stop - start == 2 and start != literal_start:
            continue
        _flush_literal(out, data, literal_start, start)
        out += bytes((257 - (stop - start), data[start]))
        literal_start = stop
    _flush_literal(out, data, literal_start, len(data))
    return bytes(out)


#: 2 to 128 equal bytes.
_RUN = re.compile(rb"(.)\1{1,127}", re.S)


def _flush_literal(out: bytearray, data: bytes, start: int, stop: int) -> None:
    while start < stop:
        chunk = data[start : min(stop, start + 128)]
        out.append(len(chunk) - 1)
        out += chunk
        start += len(chunk)


def unpackbits(data: bytes) -> bytes:
    """The inverse of :func:`packbits`; raises ValueError on truncated input."""
    out = bytearray()
    i = 0
    while i < len(data):
        header = data[i]
        if header < 128:
            chunk = data[i + 1 : i + 2 + header]
            if len(chunk) != header + 1:
                raise ValueError(f"PackBits literal of {header + 1} bytes cut short at offset {i}")
            out += chunk
            i += header + 2
        elif header > 128:
            if i + 1 >= len(data):
                raise ValueError(f"PackBits run without its byte at offset {i}")
            out += bytes((data[i + 1],)) * (257 - header)
            i += 2
        else:
            i += 1
    return bytes(out)


def head_rows(bitmap: Bitmap, setup: RasterSetup) -> np.ndarray:
    """The raster lines as the head gets them: label placed ``offset_right`` dots from the
    head's right end, mirrored (the head's first dot is the label's right edge), MSB first."""
    rows, dots = bitmap.shape
    head_dots = setup.head_bytes * 8
    left = head_dots - dots - setup.offset_right
    if left < 0:
        raise ValueError(f"a {dots}-dot label does not fit a {head_dots}-dot head with offset {setup.offset_right}")
    full = np.zeros((rows, head_dots), dtype=bool)
    full[:, left : left + dots] = bitmap
    return np.packbits(full[:, ::-1], axis=1)


def raster_lines(bitmap: Bitmap, setup: RasterSetup, red: Bitmap | None = None) -> bytes:
    """The ``g``/``w``/``Z`` commands of one page; on two-colour media each line is a black
    (``w 01``) and a red (``w 02``) line, the red one from ``red`` (blank without it)."""
    if not setup.two_colour:
        return _one_colour_lines(head_rows(bitmap, setup), setup)
    black = head_rows(bitmap, setup)
    reds = head_rows(red, setup) if red is not None else np.zeros_like(black)
    cache: dict[tuple[bytes, bytes], bytes] = {}
    out = []
    for black_row, red_row in zip(black, reds, strict=True):
        key = (black_row.tobytes(), red_row.tobytes())
        line = cache.get(key)
        if line is None:
            line = _line(key[0], setup, b"w\x01") + _line(key[1], setup, b"w\x02")
            cache[key] = line
        out.append(line)
    return b"".join(out)


def _one_colour_lines(packed: np.ndarray, setup: RasterSetup) -> bytes:
    inked: list[bool] = np.any(packed, axis=1).tolist()
    cache: dict[bytes, bytes] = {}
    out = []
    for row, has_ink in zip(packed, inked, strict=True):
        if not has_ink:
            out.append(EMPTY_LINE)
            continue
        raw = row.tobytes()
        line = cache.get(raw)
        if line is None:
            line = _line(raw, setup, b"g\x00")
            cache[raw] = line
        out.append(line)
    return b"".join(out)


def _line(raw: bytes, setup: RasterSetup, command: bytes) -> bytes:
    data = packbits(raw) if setup.compress else raw
    return command + bytes((len(data),)) + data


def page_header(setup: RasterSetup, lines: int, first: bool) -> bytes:
    """ESC i z (media and line count), cutting, expanded mode, margins and compression."""
    header = PRINT_INFO + bytes((PRINT_INFO_FLAGS, setup.media_type, setup.width_mm, setup.length_mm & 0xFF))
    header += struct.pack("<L", lines) + bytes((0 if first else 1, 0))
    if setup.cut:
        header += AUTO_CUT + bytes((AUTO_CUT_FLAG,)) + CUT_EVERY + b"\x01"
    expanded = (EXPANDED_CUT_AT_END if setup.cut else 0) | (EXPANDED_TWO_COLOUR if setup.two_colour else 0)
    header += EXPANDED + bytes((expanded,))
    header += MARGINS + struct.pack("<H", setup.feed_margin)
    if setup.compress:
        header += COMPRESSION + b"\x02"
    return header


def encode_job(bitmap: Bitmap, setup: RasterSetup, copies: int = 1, red: Bitmap | None = None) -> bytes:
    """A complete job printing ``bitmap`` (and on two-colour media its ``red`` plane) ``copies``
    times, one page per copy, cut after each."""
    if copies < 1:
        raise ValueError(f"copies must be at least 1, not {copies}")
    lines = raster_lines(bitmap, setup, red)
    preamble = INVALIDATE * setup.invalidate_bytes + INITIALIZE + RASTER_MODE
    pages = [
        page_header(setup, bitmap.shape[0], first=(n == 0)) + lines + (LAST_PAGE if n == copies - 1 else NEXT_PAGE)
        for n in range(copies)
    ]
    return preamble + b"".join(pages)
