"""Label media: what is loaded in a printer, in millimetres, and its printable dot grid.

Brother QL media use Brother's own ids (``"62"``, ``"62x29"``) whose printable dots come from
brother_ql's label table; every other medium is written ``"WxHmm"`` (``"75x120mm"``) and maps to
``round(mm * dpi / 25.4)`` dots.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

MM_PER_INCH = 25.4
_GENERIC = re.compile(r"^(\d+(?:\.\d+)?)x(\d+(?:\.\d+)?)mm$")


@dataclass(frozen=True)
class Media:
    """A label stock. ``length_mm`` is None for endless (continuous) tape."""

    name: str
    width_mm: float
    length_mm: float | None
    brother_id: str | None = None

    @property
    def endless(self) -> bool:
        return self.length_mm is None

    def describe(self) -> str:
        if self.length_mm is None:
            return f"{self.width_mm:g} mm endless"
        return f"{self.width_mm:g}×{self.length_mm:g} mm"


@dataclass(frozen=True)
class Geometry:
    """The dot grid a label is rendered onto: exactly what the print head will get.

    ``width_dots`` runs across the head; ``length_dots`` along the feed, None for endless
    media (the label is as long as its content).
    """

    dpi: int
    width_dots: int
    length_dots: int | None
    media: Media

    @property
    def width_mm(self) -> float:
        return self.width_dots * MM_PER_INCH / self.dpi

    @property
    def length_mm(self) -> float | None:
        return None if self.length_dots is None else self.length_dots * MM_PER_INCH / self.dpi


def mm_to_dots(mm: float, dpi: int) -> int:
    return round(mm * dpi / MM_PER_INCH)


#: How close a page's size must be to a medium's to count as made for it (rounding, bleed), in mm.
SIZE_TOLERANCE_MM = 2.0


def same_size(size: tuple[float, float], other: tuple[float, float | None],
              tolerance: float = SIZE_TOLERANCE_MM) -> bool:
    """True when ``size`` (width, length) is ``other`` within ``tolerance``; a length of None (endless
    tape) matches any length."""
    width, length = other
    return abs(size[0] - width) <= tolerance and (length is None or abs(size[1] - length) <= tolerance)


def parse_media(name: str) -> Media:
    """The medium named ``name``: a Brother id such as ``"62"``/``"62x29"``, or ``"WxHmm"``."""
    generic = _GENERIC.match(name.strip())
    if generic:
        return Media(name, float(generic.group(1)), float(generic.group(2)))
    label = _brother_label(name)
    if label is None:
        raise ValueError(
            f"unknown media {name!r}: use a Brother label id such as \"62\" or \"62x29\", "
            "or a size such as \"75x120mm\""
        )
    width, length = label.tape_size
    return Media(name, float(width), float(length) if length else None, brother_id=name)


def generic_geometry(media: Media, dpi: int) -> Geometry:
    """The full-bleed dot grid of ``media`` at ``dpi`` (the Zebra and preview view)."""
    length = None if media.length_mm is None else mm_to_dots(media.length_mm, dpi)
    return Geometry(dpi, mm_to_dots(media.width_mm, dpi), length, media)


def _brother_label(name: str):  # type: ignore[no-untyped-def]  # brother_ql has no types
    from brother_ql.labels import LabelsManager

    try:
        return LabelsManager()[name]
    except (KeyError, LookupError):
        return None
