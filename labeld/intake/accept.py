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
from labeld.media import parse_media
from labeld.reasons import Reason
from labeld.spool.links import LINK_KIND, FetchedPage
from labeld.spool.spool import NewDocument, NewLabel, RejectedFile, Spool
from labeld.spool.store import DocumentStore

Sizes = tuple[tuple[float, float], ...]
#: (data, max_pages, max_page_mm, media sizes a picture may match, whether to look for blank pages)
Inspector = Callable[[bytes, int, float, Sizes, bool], DocumentInfo]


def inspect_in_process(data: bytes, max_pages: int, max_page_mm: float, sizes: Sizes = (),
                       blank_check: bool = False) -> DocumentInfo:
    return inspect_document(data, max_pages=max_pages, max_page_mm=max_page_mm, sizes=sizes,
                            blank_check=blank_check)


def media_sizes(config: Config) -> Sizes:
    """The configured printers' label sizes (die-cut media), which a PNG's pixel count may match."""
    sizes: list[tuple[float, float]] = []
    for printer in config.printers:
        try:
            media = parse_media(printer.media)
        except ValueError:
            continue
        if media.length_mm and (media.width_mm, media.length_mm) not in sizes:
            sizes.append((media.width_mm, media.length_mm))
    return tuple(sizes)


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
        info = self.inspector(data, intake.max_pages, intake.max_page_mm, media_sizes(self.config), False)
        data = info.converted or data
        sidecar = sidecar or Sidecar()
        printers = self.route(info, folder, sidecar)
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

    def route(self, info: DocumentInfo, folder: str | None, sidecar: Sidecar) -> list[str]:
        """The printer of each page; a ZPL file only to a ZPL printer."""
        printers = [
            route_label(self.config, width_mm=page.width_mm, height_mm=page.height_mm, folder=folder,
                        requested=sidecar.printer)
            for page in info.pages
        ]
        if info.kind == "zpl":
            self._check_raw_target(printers[0])
        return printers

    def accept_link(self, url: str, *, name: str, source: str, folder: str | None = None,
                    sidecar: Sidecar | None = None, intake_key: str | None = None,
                    received: float | None = None) -> Accepted:
        """Commit a label that is still a link: one queued job, fetched later (labeld.intake.remote).
        ``issued_at`` is the sidecar's, else when the link was obtained (``received``, else now)."""
        self.check_space()
        sidecar = sidecar or Sidecar()
        printer = route_label(self.config, width_mm=0.0, height_mm=0.0, folder=folder, requested=sidecar.printer)
        issued = sidecar.issued_at or received or self.spool.clock()
        label = NewLabel(page=0, printer=printer, issued_at=issued, expires_at=issued + self.config.preflight.label_ttl,
                         copies=sidecar.copies, posting=sidecar.posting_number, tracking=sidecar.tracking_number,
                         posting_mismatch=sidecar.posting_mismatch)
        doc = NewDocument(sha256="", name=name, source=source, size=0, pages=1, kind=LINK_KIND, intake_key=intake_key,
                          sidecar=sidecar.to_json() or None, folder=folder)
        where = source + (f" ({folder}/)" if folder else "")
        job_ids = self.spool.add_document(doc, [label], where, link=url)
        return Accepted(name, tuple(job_ids), (printer,))

    def complete_link(self, document_id: int, data: bytes, *, folder: str | None, requested: str | None,
                      reason: Callable[[DocumentInfo], Reason], blank: Callable[[], Reason]) -> list[int]:
        """The bytes fetched for a link: checked like a dropped file (and for blank pages), stored
        content-addressed and durable, then made the link's document in one transaction."""
        intake = self.config.intake
        if len(data) > intake.max_file_size:
            raise RejectedInput(Reason("intake.too_big", size=len(data), limit=intake.max_file_size))
        self.check_space(len(data))
        info = self.inspector(data, intake.max_pages, intake.max_page_mm, media_sizes(self.config), True)
        if info.blank:
            raise RejectedInput(blank())
        data = info.converted or data
        printers = self.route(info, folder, Sidecar(printer=requested))
        try:
            sha, _ = self.store.put_bytes(data)
        except OSError as error:
            raise SpoolFull(Reason("intake.cannot_store", error=error.strerror or str(error))) from error
        pages = [FetchedPage(page.width_mm, page.height_mm, printer)
                 for page, printer in zip(info.pages, printers, strict=True)]
        return self.spool.link_fetched(document_id, sha256=sha, size=len(data), kind=info.kind, pages=pages,
                                       reason=reason(info))

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
