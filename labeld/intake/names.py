"""Which file names the hot folder takes (docs/reference/hot-folder.md)."""

from __future__ import annotations

IGNORED_PREFIXES = (".", "~")
IGNORED_SUFFIXES = (".tmp", ".part", ".crdownload", ".filepart", ".swp", ".json")
TAKEN_SUFFIXES = (".pdf", ".zpl", ".png", ".svg")
JOB_SUFFIX = ".json"


def is_candidate(name: str) -> bool:
    """True for a finished PDF, ZPL, PNG or SVG file name, or a ``*.json`` that may be a link job
    (:func:`is_job_name`); temp names and hidden files are not taken."""
    lower = name.lower()
    if is_job_name(name):
        return True
    if name.startswith(IGNORED_PREFIXES) or lower.endswith(IGNORED_SUFFIXES):
        return False
    return lower.endswith(TAKEN_SUFFIXES)


def is_job_name(name: str) -> bool:
    """A ``*.json`` name: a link job when it holds ``label_url`` or ``label_code``, else a sidecar
    waiting for its label (the hot folder reads it to tell)."""
    return name.lower().endswith(JOB_SUFFIX) and not name.startswith(IGNORED_PREFIXES)


def sidecar_names(name: str) -> tuple[str, str]:
    """The two places a sidecar may stand: ``NAME.json`` and ``NAME.pdf.json``."""
    stem = name.rsplit(".", 1)[0]
    return f"{stem}.json", f"{name}.json"
