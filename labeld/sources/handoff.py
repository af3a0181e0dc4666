"""How a label a source got becomes a job: through #16's link/code intake, once.

A marketplace hands a label over as bytes (Ozon's PDF body or ``file_content``, a Wildberries
sticker) or as a link (Ozon's ``file_url``). Either becomes the job a ``*.json`` file with
``label_code`` or ``label_url`` would (:func:`labeld.intake.remote.accept_job`): bytes are checked
as a label_code is and accepted like a dropped file; a link is accepted at once as a durable job
that :class:`labeld.intake.remote.RemoteIntake` fetches (HEAD 200 required, redirects refused
naming their target, 401/403 as expired or signature, retries, clock gating).

Each hand-over carries a ``key`` that names the posting (and its tracking number): handing the
same key over twice makes no second document, so a source that crashed after the hand-over and
before noting it only notes it the next time. A link that then gave no label does not count: the
source asks the marketplace again and hands the new label over as ``key#r1``, ``key#r2``…
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from labeld.intake.accept import Acceptor
from labeld.intake.remote import accept_job, code_job, url_job
from labeld.intake.sidecar import Sidecar
from labeld.spool.links import RETRY_MARK
from labeld.spool.spool import Spool


@dataclass(frozen=True)
class FetchedLabel:
    """A label as a source got it: ``data`` (bytes) or ``url`` (a link to fetch), and its posting."""

    posting: str
    tracking: str
    printer: str
    name: str
    source: str
    key: str
    issued_at: float
    data: bytes | None = None
    url: str | None = None


class LabelSink(Protocol):
    def known(self, key: str) -> bool:
        """True once a label was handed over under ``key`` (or a retry of it) and did not fail as a link."""

    def submit(self, label: FetchedLabel) -> tuple[str, tuple[int, ...]]:
        """Hand ``label`` over, durably; the key it was taken under and its job ids.
        :class:`RejectedInput` if it cannot print (:class:`labeld.intake.remote.IncompleteLabel`
        if its bytes are cut short), :class:`labeld.errors.SpoolFull` if there is no room now."""


def base_key(key: str) -> str:
    """``key`` without its retry mark."""
    head, mark, tail = key.rpartition(RETRY_MARK)
    return head if mark and tail.isdigit() else key


class AcceptorSink:
    """Labels into the spool through the link/code intake, keyed for exactly-once; ``wake`` tells
    the link intake a link is waiting."""

    def __init__(self, acceptor: Acceptor, spool: Spool, wake: Callable[[], None] = lambda: None) -> None:
        self.acceptor = acceptor
        self.spool = spool
        self.wake = wake

    def known(self, key: str) -> bool:
        documents, failed = self.spool.keyed_documents(base_key(key))
        return documents > failed

    def submit(self, label: FetchedLabel) -> tuple[str, tuple[int, ...]]:
        sidecar = Sidecar(printer=label.printer, posting_number=label.posting,
                          tracking_number=label.tracking or None, issued_at=label.issued_at)
        job = code_job(label.data, sidecar) if label.data is not None else url_job(label.url or "", sidecar)
        base = base_key(label.key)
        documents, failed = self.spool.keyed_documents(base)
        if documents > failed:  # taken already (the latest is the live one): nothing new
            latest = base + (f"{RETRY_MARK}{documents - 1}" if documents > 1 else "")
            known = self.spool.document_by_intake_key(latest)
            return latest, tuple(job for job, _ in known[1]) if known else ()
        key = base + (f"{RETRY_MARK}{documents}" if documents else "")
        accepted = accept_job(self.acceptor, job, name=label.name, source=label.source, intake_key=key)
        if job.url is not None:
            self.wake()
        return key, accepted.job_ids
