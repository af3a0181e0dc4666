"""Which printer a label goes to: sidecar, inbox subfolder, [[route]] by size, else the default."""

from __future__ import annotations

from labeld.config import Config
from labeld.errors import RejectedInput
from labeld.media import parse_media

#: How close a page must be to a route's size to match it, in millimetres.
SIZE_TOLERANCE_MM = 2.0


def route_label(config: Config, *, width_mm: float, height_mm: float, folder: str | None,
                requested: str | None) -> str:
    """The printer name for one label; :class:`RejectedInput` if the request names no printer."""
    names = [p.name for p in config.printers]
    for source, name in (("the sidecar or request", requested), ("the inbox folder", folder)):
        if name is not None:
            if name not in names:
                raise RejectedInput(f"{source} asks for printer {name!r}, which is not configured "
                                    f"(printers: {', '.join(names)})")
            return name
    for route in config.routes:
        if route.folder is not None and route.folder != folder:
            continue
        if route.size is not None and not _size_matches(route.size, width_mm, height_mm):
            continue
        return route.printer
    return config.default_printer.name


def _size_matches(size: str, width_mm: float, height_mm: float) -> bool:
    media = parse_media(size)
    want = (media.width_mm, media.length_mm or 0.0)
    for got in ((width_mm, height_mm), (height_mm, width_mm)):
        if abs(got[0] - want[0]) <= SIZE_TOLERANCE_MM and (
            media.length_mm is None or abs(got[1] - want[1]) <= SIZE_TOLERANCE_MM
        ):
            return True
    return False
