"""Accepting a document: the one durable path shared by the hot folder and the socket.

A document is accepted when its bytes are fsynced into the spool store and its document,
label and job rows are committed. Only after that may the caller remove its own copy.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from labeld.config import Config
from labeld.errors import RejectedInput, SpoolFull
from labeld.intake.inspect import DocumentInfo, inspect_document
from labeld.intake.routing import route_label
from labeld.intake.sidecar import Sidecar
from labeld.reasons import Reason
from labeld.spool.spool import NewDocument, NewLabel, RejectedFile, Spool
from labeld.spool.store import DocumentStore

Inspector = Callable[[bytes, int, float], DocumentInfo]


def inspect_in_process(data: bytes, max_pages: int, max_page_mm: float) -> DocumentInfo:
    return inspect_document(data, max_pages=max_pages, max_page_mm=max_page_mm)


@dataclass(frozen=True)
class Accepted:
    """A committed document. ``repeat`` is True when an upload's ``key`` named a document the
    spool already had: nothing new was stored and these are that document's jobs."""

    document_name: str
    job_ids: tuple[int, ...]
    printers: tuple[str, ...]
    repeat: bool = False


class Acceptor:
    def __init__(self, config: Config, spool: Spool, store: DocumentStore,
                 inspector: Inspector = inspect_in_process) -> None:
        self.config = config
        self.spool = spool
        self.store = store
        self.inspector = inspector

    def check_space(self, incoming: int = 0) -> None:
        free = self.store.free_bytes()
        needed = self.config.intake.min_free_space + incoming
        if free < needed:
            raise SpoolFull(Reason("intake.spool_full", free_mb=free // 1_000_000,
                                   reserve_mb=self.config.intake.min_free_space // 1_000_000))

    def accept(self, data: bytes, *, name: str, source: str, folder: str | None = None,
               sidecar: Sidecar | None = None, intake_key: str | None = None,
               mtime: float | None = None) -> Accepted:
        """Store and commit ``data``; :class:`RejectedInput` if it cannot be printed at all,
        :class:`SpoolFull` if there is no room to keep it safely."""
        intake = self.config.intake
        if len(data) > intake.max_file_size:
            raise RejectedInput(Reason("intake.too_big", size=len(data), limit=intake.max_file_size))
        self.check_space(len(data))
        info = self.inspector(data, intake.max_pages, intake.max_page_mm)
        sidecar = sidecar or Sidecar()
        printers = [
            route_label(self.config, width_mm=page.width_mm, height_mm=page.height_mm, folder=folder,
                        requested=sidecar.printer)
            for page in info.pages
        ]
        if info.kind == "zpl":
            self._check_raw_target(printers[0])
        issued = sidecar.issued_at or mtime or self.spool.clock()
        ttl = self.config.preflight.label_ttl
        labels = [
            NewLabel(page=i, printer=printer, issued_at=issued, expires_at=issued + ttl, copies=sidecar.copies,
                     width_mm=page.width_mm or None, height_mm=page.height_mm or None,
                     posting=sidecar.posting_number, tracking=sidecar.tracking_number,
                     posting_mismatch=sidecar.posting_mismatch)
            for i, (page, printer) in enumerate(zip(info.pages, printers, strict=True))
        ]
        try:
            sha, _ = self.store.put_bytes(data)
        except OSError as error:
            raise SpoolFull(Reason("intake.cannot_store", error=error.strerror or str(error))) from error
        doc = NewDocument(sha256=sha, name=name, source=source, size=len(data), pages=len(labels), kind=info.kind,
                          intake_key=intake_key, sidecar=sidecar.to_json() or None, folder=folder)
        where = source + (f" ({folder}/)" if folder else "")
        job_ids = self.spool.add_document(doc, labels, where)
        return Accepted(name, tuple(job_ids), tuple(printers))

    def record_rejection(self, error: RejectedInput, *, name: str, source: str, folder: str | None = None,
                         moved_to: Path | None = None, size: int | None = None, told: bool = False) -> RejectedFile:
        """Keep a file refused whole on record (``labelctl rejected``, status, the event stream). ``told``:
        the sender got the refusal at once (an upload's answer), so it raises no alarm."""
        return self.spool.add_rejected(name=name, source=source, folder=folder,
                                       moved_to=str(moved_to) if moved_to is not None else None, size=size,
                                       reason=error.reason, alarm=not told)

    def _check_raw_target(self, printer_name: str) -> None:
        printer = self.config.printer(printer_name)
        assert printer is not None
        if printer.driver != "zpl" and not (printer.driver == "cups" and printer.format == "zpl"):
            raise RejectedInput(Reason("intake.zpl_needs_zpl_printer", printer=printer_name, driver=printer.driver))
