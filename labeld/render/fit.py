"""Where a PDF page lands on the medium: turned, cropped, scaled, centred.

Rules (docs/reference/rendering.md): a page the size of the medium prints 1:1; a page that fits only
when turned is turned 90°; a larger page (an A4 sheet with a label on it) is cropped to its ink,
then placed; content that still does not fit is scaled down, with a warning.
"""

from __future__ import annotations

from dataclasses import dataclass

from labeld.media import MM_PER_INCH, Geometry
from labeld.reasons import Reason

PT_PER_INCH = 72.0
#: How much content may exceed the medium and still print at true size (rounding, hairline bleed).
OVERHANG_MM = 1.0


@dataclass(frozen=True)
class Box:
    """A rectangle in PDF points (x0, y0 top-left; displayed page orientation)."""

    x0: float
    y0: float
    x1: float
    y1: float

    @property
    def width(self) -> float:
        return self.x1 - self.x0

    @property
    def height(self) -> float:
        return self.y1 - self.y0

    def size_mm(self) -> tuple[float, float]:
        return pt_to_mm(self.width), pt_to_mm(self.height)


@dataclass(frozen=True)
class Fit:
    """The decision: which part of the page, turned or not, at what zoom (1.0 = true size)."""

    box: Box
    rotate: bool
    zoom: float
    cropped: bool
    warnings: tuple[Reason, ...] = ()

    def describe(self) -> Reason:
        parts = [Reason("fit.cropped") if self.cropped else Reason("fit.whole_page")]
        if self.rotate:
            parts.append(Reason("fit.turned"))
        parts.append(Reason("fit.true_size") if self.zoom == 1.0 else Reason("fit.scaled", zoom=self.zoom))
        return Reason("fit", parts=parts)


def pt_to_mm(pt: float) -> float:
    return pt * MM_PER_INCH / PT_PER_INCH


def fits(size: tuple[float, float], room: tuple[float, float | None]) -> bool:
    width, length = room
    return size[0] <= width + OVERHANG_MM and (length is None or size[1] <= length + OVERHANG_MM)


def plan_fit(page: Box, ink: Box | None, geometry: Geometry) -> Fit:
    """Decide how ``page`` (with its inked area ``ink``) goes onto ``geometry``'s medium."""
    room = (geometry.width_mm, geometry.length_mm)
    for box, cropped in ((page, False), (ink, True)):
        if box is None:
            continue
        w, h = box.size_mm()
        if fits((w, h), room):
            return Fit(box, rotate=False, zoom=1.0, cropped=cropped)
        if fits((h, w), room):
            return Fit(box, rotate=True, zoom=1.0, cropped=cropped)
    box = ink or page
    w, h = box.size_mm()
    upright = _zoom((w, h), room)
    turned = _zoom((h, w), room)
    rotate = turned > upright
    zoom = max(upright, turned)
    warning = Reason("render.scaled", width=w, height=h, media=geometry.media.describe(), printable=room[0],
                     zoom=zoom)
    return Fit(box, rotate=rotate, zoom=zoom, cropped=box is ink, warnings=(warning,))


def _zoom(size: tuple[float, float], room: tuple[float, float | None]) -> float:
    width, length = room
    zoom = width / size[0]
    if length is not None:
        zoom = min(zoom, length / size[1])
    return min(1.0, zoom)
