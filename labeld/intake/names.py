"""Which file names the hot folder takes (docs/reference/hot-folder.md)."""

from __future__ import annotations

IGNORED_PREFIXES = (".", "~")
IGNORED_SUFFIXES = (".tmp", ".part", ".crdownload", ".filepart", ".swp", ".json")
TAKEN_SUFFIXES = (".pdf", ".zpl")


def is_candidate(name: str) -> bool:
    """True for a finished PDF or ZPL file name; temp names, hidden files and sidecars are not taken."""
    lower = name.lower()
    if name.startswith(IGNORED_PREFIXES) or lower.endswith(IGNORED_SUFFIXES):
        return False
    return lower.endswith(TAKEN_SUFFIXES)


def sidecar_names(name: str) -> tuple[str, str]:
    """The two places a sidecar may stand: ``NAME.json`` and ``NAME.pdf.json``."""
    stem = name.rsplit(".", 1)[0]
    return f"{stem}.json", f"{name}.json"
