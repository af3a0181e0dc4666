"""How a fetched label becomes a job: one durable, idempotent hand-over to intake.

A source hands over each label with a ``key`` that names the posting (and its tracking number):
handing the same key over twice makes no second document, so a source that crashed after the
hand-over and before noting it only notes it the next time.

Issue #16 brings ``labeld.intake.remote.RemoteIntake`` (links and Base64 codes, PNG and SVG),
which will take over here; until it is on main, :class:`AcceptorSink` hands bytes to the one
accept path (:meth:`labeld.intake.accept.Acceptor.accept`, exactly-once by ``intake_key``) and
lays a Wildberries SVG sticker on a PDF page of the sticker's size first.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Protocol

import pymupdf

from labeld.errors import RejectedInput
from labeld.intake.accept import Acceptor
from labeld.intake.sidecar import Sidecar
from labeld.reasons import Reason
from labeld.spool.spool import Spool


class Incomplete(ValueError):
    """A label file that arrived cut short or damaged: fetch it again."""


@dataclass(frozen=True)
class FetchedLabel:
    """A label as a source fetched it, with what intake needs to know about it."""

    data: bytes
    kind: str  # pdf | svg | zpl
    posting: str
    tracking: str
    printer: str
    name: str
    source: str
    key: str
    issued_at: float
    size_mm: tuple[float, float] | None = None


class LabelSink(Protocol):
    def known(self, key: str) -> bool:
        """True once a label was handed over under ``key``."""

    def submit(self, label: FetchedLabel) -> tuple[int, ...]:
        """Hand ``label`` over, durably; its job ids. :class:`RejectedInput` if it cannot print,
        :class:`labeld.errors.SpoolFull` if there is no room now."""


def check_complete(data: bytes, kind: str) -> None:
    """Refuse a file whose end is missing (a truncated download still has a valid start)."""
    tail = data[-2048:]
    if kind == "pdf" and not (data.startswith(b"%PDF-") and b"%%EOF" in tail):
        raise Incomplete("the PDF has no end-of-file marker" if data.startswith(b"%PDF-") else "not a PDF")
    if kind == "svg" and b"</svg>" not in tail:
        raise Incomplete("the SVG is not closed")
    if kind == "zpl" and (b"^XA" not in data[:2048].upper() or b"^XZ" not in tail.upper()):
        raise Incomplete("the ZPL has no ^XA … ^XZ")


_SVG_ROOT = re.compile(rb"<svg\b[^>]*>", re.IGNORECASE)
_SIZE_ATTR = re.compile(rb'\s(width|height)\s*=\s*"([0-9.]+)(px)?"')


def svg_as_pdf(data: bytes, size_mm: tuple[float, float]) -> bytes:
    """An SVG sticker as a PDF page of its physical size. Wildberries' SVG is sized in pixels,
    10 to the millimetre, which a PDF reader would take for 0.75 pt each: the root element's
    ``width``/``height`` are rewritten in millimetres (its ``viewBox`` kept, or made from them)."""
    root = _SVG_ROOT.search(data)
    if root is None:
        raise RejectedInput(Reason("intake.unreadable_pdf", error="SVG: no <svg> element"))
    tag = root.group(0)
    sizes = {m.group(1): m.group(2) for m in _SIZE_ATTR.finditer(tag)}
    fixed = _SIZE_ATTR.sub(b"", tag)
    extra = f' width="{size_mm[0]:g}mm" height="{size_mm[1]:g}mm"'.encode()
    if b"viewbox" not in tag.lower() and len(sizes) == 2:
        extra += b' viewBox="0 0 ' + sizes[b"width"] + b" " + sizes[b"height"] + b'"'
    fixed = fixed[:4] + extra + fixed[4:]
    try:
        svg = pymupdf.open(stream=data[:root.start()] + fixed + data[root.end():], filetype="svg")
        pdf: bytes = svg.convert_to_pdf()
    except Exception as error:  # PyMuPDF raises several types for broken files
        raise RejectedInput(Reason("intake.unreadable_pdf", error=f"SVG: {error}")) from error
    return pdf


class AcceptorSink:
    """Labels into the spool through the accept path, keyed for exactly-once."""

    def __init__(self, acceptor: Acceptor, spool: Spool) -> None:
        self.acceptor = acceptor
        self.spool = spool

    def known(self, key: str) -> bool:
        return self.spool.has_intake_key(key)

    def submit(self, label: FetchedLabel) -> tuple[int, ...]:
        data = label.data
        if label.kind == "svg":
            data = svg_as_pdf(data, label.size_mm or (58.0, 40.0))
        sidecar = Sidecar(printer=label.printer, posting_number=label.posting,
                          tracking_number=label.tracking or None, issued_at=label.issued_at)
        accepted = self.acceptor.accept(data, name=label.name, source=label.source, sidecar=sidecar,
                                        intake_key=label.key)
        return accepted.job_ids
