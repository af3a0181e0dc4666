"""Which printer a label goes to: sidecar, a printer's inbox subfolder, [[route]] (by folder and/or
size), else the default.

An inbox subfolder is either a printer's (``inbox/ql820/``) or one that a ``[[route]]`` names with
``folder`` (``inbox/big/`` for ``folder = "big"``): a file there is routed by the routes that name
its folder, then by the routes that name none."""

from __future__ import annotations

from labeld.config import Config
from labeld.errors import RejectedInput
from labeld.media import parse_media, same_size
from labeld.reasons import Reason


def route_label(config: Config, *, width_mm: float, height_mm: float, folder: str | None,
                requested: str | None) -> str:
    """The printer name for one label; :class:`RejectedInput` if the request names no printer."""
    names = [p.name for p in config.printers]
    if requested is not None:
        if requested not in names:
            raise RejectedInput(Reason("intake.unknown_printer_requested", printer=requested, printers=names))
        return requested
    if folder is not None and folder in names:
        return folder
    if folder is not None and folder not in route_folders(config):
        raise RejectedInput(Reason("intake.unknown_folder", folder=folder, printers=sorted(inbox_folders(config))))
    for route in config.routes:
        if route.folder is not None and route.folder != folder:
            continue
        if route.size is not None and not _size_matches(route.size, width_mm, height_mm):
            continue
        return route.printer
    return config.default_printer.name


def route_folders(config: Config) -> set[str]:
    """Inbox subfolders that ``[[route]] folder`` names."""
    return {route.folder for route in config.routes if route.folder is not None}


def inbox_folders(config: Config) -> set[str]:
    """Every inbox subfolder labeld takes files from: the printers' and the routes'."""
    return {p.name for p in config.printers} | route_folders(config)


def _size_matches(size: str, width_mm: float, height_mm: float) -> bool:
    media = parse_media(size)
    want = (media.width_mm, media.length_mm)
    return same_size((width_mm, height_mm), want) or same_size((height_mm, width_mm), want)
