"""Retention: documents whose jobs all finished long ago are forgotten, rows and files together."""

from __future__ import annotations

from labeld.spool.spool import Spool
from labeld.spool.store import DocumentStore


def prune(spool: Spool, store: DocumentStore, retention: float) -> tuple[int, int]:
    """Forget every document whose jobs all finished more than ``retention`` seconds ago (by the
    spool's clock): its rows, its stored file unless another document has the same bytes, and its
    jobs' bitmaps. Returns how many stored files and jobs went."""
    hashes, job_ids = spool.prune(spool.clock() - retention)
    for sha in hashes:
        store.remove_document(sha)
    for job_id in job_ids:
        store.remove_bitmap(job_id)
    return len(hashes), len(job_ids)
