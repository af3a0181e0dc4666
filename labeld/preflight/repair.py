"""Redraw a barcode on the printer's dot grid when the plain render does not reproduce it.

A thermal head prints whole dots. A module 1.6 dots wide comes out as bars of 1 and 2 dots, and
scanners give up; redrawn at exactly 2 dots per module from the symbology's own module pattern
(zxing-cpp's writer, segno for QR), every bar and space has its true width again. The old
symbol is whited out and the new one is placed, edges on dots, as close to the old centre as
the white space around it allows with its quiet zone; nothing else on the label changes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pymupdf
import segno

from labeld.bitmap import Bitmap
from labeld.preflight.barcodes import (
    QUIET_MODULES,
    Fmt,
    TruthBarcode,
    Verification,
    dot_box,
    module_dots,
    module_pattern,
    reads_along_x,
    verify_at,
)

#: Below 2 dots a module cannot survive one dot of gain or loss (a 1-dot space closes up).
MIN_MODULE_DOTS = 2
#: A module at least this many dots wide is reproduced faithfully at any phase: an edge is off by
#: at most half a dot, an eighth of a module.
FAITHFUL_DOTS = 4
#: Quiet zone tried, as a share of the symbology's: the full one first, then half (most scanners
#: still read a code with half its quiet zone; none reads one that overlaps other ink).
QUIET_SHARES = (1.0, 0.5)
#: How far from a whole number of dots a module may be and still sit on the grid.
WHOLE_TOLERANCE = 0.08


@dataclass(frozen=True)
class Redraw:
    """A barcode redrawn at ``new_dots`` per module at ``box`` (x0, y0, x1, y1 in dots)."""

    old_dots: float
    new_dots: int
    box: tuple[int, int, int, int]


def faithful(dots: float, check: Verification) -> bool:
    """Whether the plain render reproduces a barcode with modules ``dots`` wide well enough to keep it."""
    on_grid = abs(dots - round(dots)) <= WHOLE_TOLERANCE and round(dots) >= MIN_MODULE_DOTS
    return check.robust and (on_grid or dots >= FAITHFUL_DOTS)


def module_candidates(dots: float) -> list[int]:
    """Whole module widths to try, best first: the next whole number up (never thinner than designed),
    then down to the minimum that survives ±1 dot, then one dot wider (EAN/UPC, whose 1–4 module
    elements are read by width, need 3 dots to survive a dot of gain)."""
    top = max(MIN_MODULE_DOTS, math.ceil(dots - WHOLE_TOLERANCE))
    return [*range(top, MIN_MODULE_DOTS - 1, -1), top + 1]


def symbol_modules(truth: TruthBarcode) -> Bitmap:
    """The module pattern to redraw ``truth`` with, in its reading orientation (linear codes: one row)."""
    if truth.format == Fmt.QRCode:
        return _qr_modules(truth)
    return module_pattern(truth.format, truth.value)


def _qr_modules(truth: TruthBarcode) -> Bitmap:
    version = truth.extra.get("Version", "")
    error = truth.extra.get("ECLevel", "M").lower() or "m"
    mask = truth.extra.get("DataMask", "")
    chosen = int(mask) if mask.isdigit() and int(mask) < 8 else None  # segno need not score all eight masks
    try:
        qr = segno.make_qr(truth.value, version=int(version) if version.isdigit() else None,
                           error=error, boost_error=False, mask=chosen)
    except (ValueError, segno.DataOverflowError):  # the original segmented its data more tightly
        qr = segno.make_qr(truth.value, error=error, boost_error=False, mask=chosen)
    return np.array([list(row) for row in qr.matrix_iter(border=0)], dtype=np.bool_)


def draw_symbol(modules: Bitmap, dots: int, length: int, along_x: bool, reading: int) -> Bitmap:
    """The symbol as dots. Linear codes get bars ``length`` dots long; ``reading`` (bitmap degrees)
    turns the symbol so that it reads the way the original did."""
    if modules.shape[0] == 1:
        bars = np.repeat(modules[0], dots)
        symbol = np.tile(bars, (length, 1)) if along_x else np.tile(bars[:, np.newaxis], (1, length))
        return symbol[::-1, ::-1] if reading in (180, 270) else symbol
    square = np.kron(modules, np.ones((dots, dots), dtype=np.bool_))
    return np.rot90(square, k=(-reading // 90) % 4)


def bitmap_reading(truth: TruthBarcode, transform: pymupdf.Matrix) -> int:
    """The barcode's reading direction on the bitmap, in degrees (0 = along +x, 90 = along +y)."""
    angle = math.radians(truth.reading)
    dx, dy = math.cos(angle), math.sin(angle)
    bx, by = transform.a * dx + transform.c * dy, transform.b * dx + transform.d * dy
    return round(math.degrees(math.atan2(by, bx)) / 90) * 90 % 360


def repair(bitmap: Bitmap, truth: TruthBarcode, transform: pymupdf.Matrix) -> tuple[Bitmap, Redraw] | None:
    """``bitmap`` with ``truth`` redrawn on whole dots, or None when no whole-dot size fits.

    The first size that fits and decodes with ±1 dot wins; if none does, the first that fits.
    """
    old = dot_box(truth, transform)
    work = bitmap.copy()
    dots = module_dots(truth, transform)
    # The old symbol's edge dots may lie a dot or two outside its mapped box (rounding, turned
    # labels); its quiet zone is white by definition, so clearing a little more is safe.
    x0, y0, x1, y1 = _clip(_grow_box(old, max(2, math.ceil(dots))), bitmap.shape)
    work[y0:y1, x0:x1] = False
    along_x = reads_along_x(truth, transform)
    length = (old[3] - old[1]) if along_x else (old[2] - old[0])
    modules = symbol_modules(truth)
    reading = bitmap_reading(truth, transform)
    fallback: tuple[Bitmap, Redraw] | None = None
    for share, size in ((share, size) for share in QUIET_SHARES for size in module_candidates(dots)):
        symbol = draw_symbol(modules, size, length, along_x, reading)
        quiet = math.ceil(QUIET_MODULES.get(truth.format, 4) * size * share)
        qx, qy = (quiet, 0) if truth.linear and along_x else (0, quiet) if truth.linear else (quiet, quiet)
        spot = _place(work, symbol.shape, (qx, qy), old, truth.linear and along_x, truth.linear and not along_x)
        if spot is None:
            continue
        left, top = spot
        drawn = work.copy()
        drawn[top : top + symbol.shape[0], left : left + symbol.shape[1]] = symbol
        box = (left, top, left + symbol.shape[1], top + symbol.shape[0])
        if verify_at(drawn, truth, box, size, along_x).robust:
            return drawn, Redraw(dots, size, box)
        fallback = fallback or (drawn, Redraw(dots, size, box))
    return fallback


def _grow_box(box: tuple[int, int, int, int], by: int) -> tuple[int, int, int, int]:
    return box[0] - by, box[1] - by, box[2] + by, box[3] + by


def _clip(box: tuple[int, int, int, int], shape: tuple[int, ...]) -> tuple[int, int, int, int]:
    rows, cols = shape[0], shape[1]
    return max(0, box[0]), max(0, box[1]), min(cols, box[2]), min(rows, box[3])


def _place(work: Bitmap, size: tuple[int, int], quiet: tuple[int, int], old: tuple[int, int, int, int],
           keep_rows: bool, keep_cols: bool) -> tuple[int, int] | None:
    """Top-left (x, y) of the symbol nearest the old centre where symbol and quiet zone are all white.

    The new symbol must still cover the old centre, and a linear code keeps its bars exactly
    where they were along their length (``keep_rows``/``keep_cols``): it may only grow or move
    along its reading direction.
    """
    height, width = size[0] + 2 * quiet[1], size[1] + 2 * quiet[0]
    rows, cols = work.shape
    if height > rows or width > cols:
        return None
    centre_x, centre_y = (old[0] + old[2]) / 2, (old[1] + old[3]) / 2
    # Only the window where a symbol covering the old centre (and its quiet zone) can lie is looked
    # at, not the page; a linear code that keeps its bars' rows (columns) has one place across.
    wx0 = max(0, math.floor(centre_x - size[1] - quiet[0]) - 1)
    wx1 = min(cols, math.ceil(centre_x + size[1] + quiet[0]) + 1)
    wy0 = max(0, math.floor(centre_y - size[0] - quiet[1]) - 1)
    wy1 = min(rows, math.ceil(centre_y + size[0] + quiet[1]) + 1)
    if keep_rows:
        wy0, wy1 = max(0, old[1] - quiet[1]), min(rows, old[1] + size[0] + quiet[1])
    if keep_cols:
        wx0, wx1 = max(0, old[0] - quiet[0]), min(cols, old[0] + size[1] + quiet[0])
    window = work[wy0:wy1, wx0:wx1]
    if height > window.shape[0] or width > window.shape[1]:
        return None
    table = np.zeros((window.shape[0] + 1, window.shape[1] + 1), dtype=np.int32)
    table[1:, 1:] = window.cumsum(axis=0, dtype=np.int32).cumsum(axis=1, dtype=np.int32)
    ink = table[height:, width:] - table[:-height, width:] - table[height:, :-width] + table[:-height, :-width]
    free_y, free_x = np.nonzero(ink == 0)
    left, top = free_x + quiet[0] + wx0, free_y + quiet[1] + wy0
    dx, dy = left + size[1] / 2 - centre_x, top + size[0] / 2 - centre_y
    ok = (np.abs(dx) <= size[1] / 2) & (np.abs(dy) <= size[0] / 2)
    if keep_rows:
        ok &= top == old[1]
    if keep_cols:
        ok &= left == old[0]
    if not ok.any():
        return None
    best = int(np.argmin(np.where(ok, dx**2 + dy**2, np.inf)))
    return int(left[best]), int(top[best])
