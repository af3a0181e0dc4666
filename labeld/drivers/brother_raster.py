"""Brother QL raster: PackBits and the byte stream of a print job, as pure functions.

Our own encoder instead of brother_ql's ``BrotherQLRaster``: that class takes a PIL image,
flips and converts it per call and PackBits-encodes every row on its own in Python; here the
whole page is placed, mirrored and bit-packed at once, empty rows become ``Z``, a row equal to
the one before it (barcode bars, borders) is compressed once, and PackBits runs over all the
other rows together as numpy array operations (no Python loop per row or byte). The bytes are
those of the plain per-row algorithm (``tests/test_brother_raster.py`` holds the reference) and
follow the same command set (see docs/devdocs/BROTHER.md); the emulator checks them dot for dot.
"""

from __future__ import annotations

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
    there would cost a byte). One line of :func:`_packbits_rows`."""
    if not data:
        return b""
    row = np.frombuffer(data, dtype=np.uint8).reshape(1, -1)
    buffer, starts, lengths = _packbits_rows(row, b"")
    packed: bytes = buffer[int(starts[0]) + 1 : int(starts[0] + lengths[0])].tobytes()
    return packed


#: The longest run and the longest literal block one PackBits header can say.
_BLOCK = 128


def _spread(starts: np.ndarray, lengths: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``starts[i] + 0 .. starts[i] + lengths[i] - 1`` for every i, concatenated, and the
    offsets ``0 .. lengths[i] - 1`` alone."""
    within = np.arange(int(lengths.sum())) - np.repeat(np.cumsum(lengths) - lengths, lengths)
    return np.repeat(starts, lengths) + within, within


def _packbits_rows(rows: np.ndarray, command: bytes) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every row (``uint8``, shape ``(n, width)``) as ``command``, one length byte and the row's
    PackBits, all rows at once with numpy: a buffer and each row's start and length in it.

    The same bytes as packing each row on its own by TN1023 with the rule above: runs are the
    maximal stretches of equal bytes, cut into pieces of 128; a piece of 3 or more is a run, a
    single byte literal, and a pair is a run exactly when the last piece before it in the row
    that is not a pair is a run (or there is none) — i.e. when no literal is pending."""
    width = rows.shape[1]
    prefix = len(command) + 1
    data = np.ascontiguousarray(rows).reshape(-1)
    total = data.size
    new_run = np.empty(total, dtype=bool)
    new_run[0] = True
    np.not_equal(data[1:], data[:-1], out=new_run[1:])
    new_run[::width] = True
    starts = np.flatnonzero(new_run)
    lengths = np.diff(starts, append=total)
    if lengths.max() > _BLOCK:  # heads wider than 128 bytes: cut long runs into pieces of 128
        parts = (lengths + _BLOCK - 1) // _BLOCK
        _, piece = _spread(starts, parts)
        starts = np.repeat(starts, parts) + piece * _BLOCK
        lengths = np.minimum(_BLOCK, np.repeat(lengths, parts) - piece * _BLOCK)
    row_first = starts % width == 0
    row_of = starts // width
    last_not_pair = np.maximum.accumulate(np.where(lengths != 2, np.arange(starts.size), -1))
    before = np.empty_like(last_not_pair)
    before[0] = -1
    before[1:] = last_not_pair[:-1]
    anchor = np.maximum(before, 0)
    pair_is_run = (before < 0) | (row_of[anchor] != row_of) | (lengths[anchor] >= 3)
    run = (lengths >= 3) | ((lengths == 2) & pair_is_run)
    literal = ~run
    block_first = literal.copy()  # literal pieces that start a literal block
    block_first[1:] &= row_first[1:] | run[:-1]
    block_last = literal.copy()
    block_last[:-1] &= row_first[1:] | run[1:]
    block_start = starts[block_first]
    block_length = (starts + lengths)[block_last] - block_start
    headers = (block_length + _BLOCK - 1) // _BLOCK
    size = np.where(run, 2, 0) + row_first * prefix
    size[block_first] += block_length + headers
    end = np.cumsum(size)
    token = end - size + row_first * prefix  # where each piece's own bytes go
    out = np.empty(int(end[-1]), dtype=np.uint8)
    row_start = token[row_first] - prefix
    row_length = np.diff(row_start, append=end[-1])
    for i, byte in enumerate(command):
        out[row_start + i] = byte
    out[row_start + len(command)] = row_length - prefix
    at = token[run]
    out[at] = 257 - lengths[run]
    out[at + 1] = data[starts[run]]
    block_out = token[block_first]
    source, within = _spread(block_start, block_length)
    out[np.repeat(block_out, block_length) + within + within // _BLOCK + 1] = data[source]
    _, header = _spread(block_out, headers)
    last = np.repeat(block_length, headers) - header * _BLOCK
    out[np.repeat(block_out, headers) + header * (_BLOCK + 1)] = np.minimum(_BLOCK, last) - 1
    return out, row_start, row_length


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
    return _padded_head_rows(bitmap, setup)[:, : setup.head_bytes]


def _padded_head_rows(bitmap: Bitmap, setup: RasterSetup) -> np.ndarray:
    """:func:`head_rows`, each row padded with zero bytes to a multiple of 8 (whole 64-bit words).

    The mirrored line packed MSB first is the line itself packed LSB first, bytes in reverse
    order; so the label is packed once as it is and its bytes are written backwards."""
    rows, dots = bitmap.shape
    head_dots = setup.head_bytes * 8
    left = head_dots - dots - setup.offset_right
    if left < 0:
        raise ValueError(f"a {dots}-dot label does not fit a {head_dots}-dot head with offset {setup.offset_right}")
    shift = left % 8
    if shift:
        shifted = np.zeros((rows, shift + dots), dtype=bool)
        shifted[:, shift:] = bitmap
        packed = np.packbits(shifted, axis=1, bitorder="little")
    else:
        packed = np.packbits(bitmap, axis=1, bitorder="little")
    out = np.zeros((rows, -(-setup.head_bytes // 8) * 8), dtype=np.uint8)
    first = setup.head_bytes - left // 8 - packed.shape[1]  # the head byte of the label's last packed byte
    out[:, first : first + packed.shape[1]] = packed[:, ::-1]
    return out


def _words(padded: np.ndarray) -> np.ndarray:
    return padded.view(np.uint64)


def _lines(padded: np.ndarray, setup: RasterSetup, command: bytes) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every head row as one raster command (``command``, length, data): a buffer and each
    row's start and length in it. A row equal to the one before it is encoded once."""
    rows = padded.shape[0]
    width = setup.head_bytes
    if width > _LONGEST_LINE:
        raise ValueError(f"a {width}-byte head line does not fit a raster command's length byte")
    if rows == 0:
        empty = np.zeros(0, dtype=np.intp)
        return np.zeros(0, dtype=np.uint8), empty, empty
    words = _words(padded)
    new = np.ones(rows, dtype=bool)
    np.any(words[1:] != words[:-1], axis=1, out=new[1:])
    distinct = padded[new, :width]
    which = np.cumsum(new) - 1
    if setup.compress:
        buffer, starts, lengths = _packbits_rows(distinct, command)
        return buffer, starts[which], lengths[which]
    line = len(command) + 1 + width
    table = np.empty((distinct.shape[0], line), dtype=np.uint8)
    table[:, : len(command)] = np.frombuffer(command, dtype=np.uint8)
    table[:, len(command)] = width
    table[:, len(command) + 1 :] = distinct
    return table.reshape(-1), which * line, np.full(rows, line, dtype=np.intp)


def _gather(source: np.ndarray, starts: np.ndarray, lengths: np.ndarray) -> bytes:
    """The slices ``source[starts[i] : starts[i] + lengths[i]]``, concatenated."""
    index, _ = _spread(starts, lengths)
    joined: bytes = source[index].tobytes()
    return joined


#: The widest head line whose PackBits (at most one header per 128 bytes) still fits one length byte.
_LONGEST_LINE = 253
_EMPTY = np.frombuffer(EMPTY_LINE, dtype=np.uint8)


def raster_lines(bitmap: Bitmap, setup: RasterSetup, red: Bitmap | None = None) -> bytes:
    """The ``g``/``w``/``Z`` commands of one page; on two-colour media each line is a black
    (``w 01``) and a red (``w 02``) line, the red one from ``red`` (blank without it)."""
    black = _padded_head_rows(bitmap, setup)
    if not setup.two_colour:
        buffer, starts, lengths = _lines(black, setup, b"g\x00")
        inked = np.any(_words(black), axis=1)
        source = np.concatenate([_EMPTY, buffer])
        return _gather(source, np.where(inked, starts + 1, 0), np.where(inked, lengths, 1))
    reds = _padded_head_rows(red, setup) if red is not None else np.zeros_like(black)
    black_buffer, black_starts, black_lengths = _lines(black, setup, b"w\x01")
    red_buffer, red_starts, red_lengths = _lines(reds, setup, b"w\x02")
    source = np.concatenate([black_buffer, red_buffer])
    starts = np.stack([black_starts, red_starts + black_buffer.size], axis=1).reshape(-1)
    lengths = np.stack([black_lengths, red_lengths], axis=1).reshape(-1)
    return _gather(source, starts, lengths)


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
