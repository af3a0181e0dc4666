"""Which printer a label goes to: sidecar, inbox subfolder, [[route]] by size, else the default."""

from __future__ import annotations

from labeld.config import Config
from labeld.errors import RejectedInput
from labeld.media import parse_media, same_size
from labeld.reasons import Reason


def route_label(config: Config, *, width_mm: float, height_mm: float, folder: str | None,
                requested: str | None) -> str:
    """The printer name for one label; :class:`RejectedInput` if the request names no printer."""
    names = [p.name for p in config.printers]
    for code, name in (("intake.unknown_printer_requested", requested), ("intake.unknown_printer_folder", folder)):
        if name is not None:
            if name not in names:
                raise RejectedInput(Reason(code, printer=name, printers=names))
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
    want = (media.width_mm, media.length_mm)
    return same_size((width_mm, height_mm), want) or same_size((height_mm, width_mm), want)
