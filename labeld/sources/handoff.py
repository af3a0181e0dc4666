"""How a fetched label becomes a job: one durable, idempotent hand-over to intake.

A source hands over each label with a ``key`` that names the posting (and its tracking number):
handing the same key over twice makes no second document, so a source that crashed after the
hand-over and before noting it only notes it the next time.

:class:`AcceptorSink` hands bytes to the one accept path (:meth:`labeld.intake.accept.Acceptor.accept`,
exactly-once by ``intake_key``), laying a Wildberries SVG sticker on a PDF page of the sticker's size
first with intake's own converter (:func:`labeld.intake.images.svg_as_pdf`, as for a dropped SVG).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from labeld.intake.accept import Acceptor
from labeld.intake.images import svg_as_pdf
from labeld.intake.sidecar import Sidecar
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
