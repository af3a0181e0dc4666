"""The spool's side of labels that arrive as a link (#16): the link itself and how its fetch goes.

A link job is durable the moment it is accepted: a document of kind ``link`` (no bytes yet), its
label and a ``queued`` job, and a ``links`` row with the URL, committed together. The render
pipeline passes such documents by; :mod:`labeld.intake.remote` fetches the bytes, stores them
content-addressed and then, in one transaction, turns the document into the PDF (or ZPL) it
fetched (:meth:`LinkTables.link_fetched`), after which the job is rendered like any other. A
kill -9 before that transaction leaves the link ``waiting``: it is fetched again, into the same
job, so it never prints twice.

:class:`LinkTables` is a part of :class:`labeld.spool.spool.Spool` (a mixin over the same
connection, lock and clock).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any

from labeld.reasons import Reason
from labeld.spool.events import job_event, reason_columns
from labeld.spool.states import JobState, check_transition

LINK_KIND = "link"
WAITING, FETCHED, FAILED = "waiting", "fetched", "failed"
#: A document taken again under a key whose link gave no label is keyed ``key#r1``, ``key#r2``…
RETRY_MARK = "#r"

LINKS_TABLE = """
    CREATE TABLE IF NOT EXISTS links (
        document_id INTEGER PRIMARY KEY REFERENCES documents(id) ON DELETE CASCADE,
        url TEXT NOT NULL,                   -- the signed link (kept here only; logs show it without its query)
        state TEXT NOT NULL DEFAULT 'waiting',  -- waiting | fetched | failed
        attempts INTEGER NOT NULL DEFAULT 0,
        next_try REAL NOT NULL DEFAULT 0,
        fetched_at REAL,
        last_error TEXT
    )"""


@dataclass(frozen=True)
class LinkRow:
    """A link waiting to be fetched, with its first job."""

    document_id: int
    url: str
    attempts: int
    next_try: float
    job_id: int
    label_id: int
    printer: str
    issued_at: float
    expires_at: float
    received_at: float
    requested_printer: str | None
    folder: str | None


@dataclass(frozen=True)
class FetchedPage:
    width_mm: float
    height_mm: float
    printer: str


class LinkTables:
    """Links and their fetches (see the module docstring)."""

    clock: Callable[[], float]

    def transaction(self) -> AbstractContextManager[sqlite3.Connection]:
        raise NotImplementedError

    def _query(self, sql: str, args: Sequence[Any] = ()) -> list[Any]:
        raise NotImplementedError

    def _insert_job(self, db: sqlite3.Connection, label_id: int, printer: str, copies: int, reason: Reason,
                    now: float, reprint_of: int | None = None, forced: bool = False) -> int:
        raise NotImplementedError

    def links_due(self, now: float, limit: int = 50) -> list[LinkRow]:
        """Waiting links whose next try is due and whose job is still queued, oldest first."""
        rows = self._query(
            "SELECT k.document_id, k.url, k.attempts, k.next_try, j.id AS job_id, l.id AS label_id, j.printer,"
            " l.issued_at, l.expires_at, d.received_at, json_extract(d.sidecar, '$.printer') AS requested, d.folder"
            " FROM links k JOIN documents d ON d.id = k.document_id JOIN labels l ON l.document_id = d.id"
            " JOIN jobs j ON j.label_id = l.id AND j.reprint_of IS NULL"
            " WHERE k.state = ? AND k.next_try <= ? AND j.state = ? AND l.page = 0 ORDER BY j.id LIMIT ?",
            (WAITING, now, JobState.QUEUED.value, limit))
        return [LinkRow(r["document_id"], r["url"], r["attempts"], r["next_try"], r["job_id"], r["label_id"],
                        r["printer"], r["issued_at"], r["expires_at"], r["received_at"], r["requested"], r["folder"])
                for r in rows]

    def link_info(self, document_id: int) -> dict[str, Any] | None:
        """The link of a document taken as one: its signed URL (keep it inside labeld), state
        (waiting | fetched | failed), attempts and last error; None for any other document."""
        rows = self._query("SELECT url, state, attempts, last_error, fetched_at FROM links WHERE document_id = ?",
                           (document_id,))
        if not rows:
            return None
        url, state, attempts, error, fetched_at = rows[0]
        return {"url": url, "state": state, "attempts": attempts, "last_error": error, "fetched_at": fetched_at}

    def keyed_documents(self, key: str) -> tuple[int, int]:
        """Documents taken under ``key`` or one of its retries (``key#rN``, labeld.sources.handoff):
        how many, and how many of them are links that gave no label."""
        rows = self._query(
            "SELECT COUNT(*), COALESCE(SUM(k.state = ?), 0) FROM documents d LEFT JOIN links k ON k.document_id = d.id"
            " WHERE d.intake_key = ? OR substr(d.intake_key, 1, ?) = ?",
            (FAILED, key, len(key) + 2, key + RETRY_MARK))
        return int(rows[0][0]), int(rows[0][1])

    def next_link_try(self) -> float | None:
        """When the earliest waiting link is due (None: none waits)."""
        rows = self._query("SELECT MIN(next_try) FROM links WHERE state = ?", (WAITING,))
        return None if not rows or rows[0][0] is None else float(rows[0][0])

    def link_url(self, document_id: int) -> str | None:
        rows = self._query("SELECT url FROM links WHERE document_id = ?", (document_id,))
        return str(rows[0][0]) if rows else None

    def set_job_reason(self, job_id: int, reason: Reason) -> bool:
        """Say why a job waits without moving it (a history entry too); False if it said so already."""
        words, code, params = reason_columns(reason)
        with self.transaction() as db:
            row = db.execute("SELECT state, reason_code, reason_params FROM jobs WHERE id = ?", (job_id,)).fetchone()
            if row is None or (row["reason_code"], row["reason_params"]) == (code, params):
                return False
            state = JobState(row["state"])
            db.execute("UPDATE jobs SET reason = ?, reason_code = ?, reason_params = ?, updated_at = ? WHERE id = ?",
                       (words, code, params, self.clock(), job_id))
            job_event(db, job_id, self.clock(), state, state, reason)
            return True

    def link_retry(self, document_id: int, next_try: float, error: str) -> None:
        with self.transaction() as db:
            db.execute("UPDATE links SET attempts = attempts + 1, next_try = ?, last_error = ? WHERE document_id = ?",
                       (next_try, error, document_id))

    def link_fetched(self, document_id: int, *, sha256: str, size: int, kind: str, pages: Sequence[FetchedPage],
                     reason: Reason) -> list[int]:
        """The fetched bytes (stored already) become the document: its first label takes page 1 and each
        further page gets a label and a job like it. One transaction; the job ids, first page first."""
        now = self.clock()
        with self.transaction() as db:
            first = db.execute(
                "SELECT l.id AS label_id, l.issued_at, l.expires_at, l.posting, l.tracking, l.posting_mismatch,"
                " j.id AS job_id, j.copies, j.state FROM labels l JOIN jobs j ON j.label_id = l.id"
                " WHERE l.document_id = ? AND l.page = 0 AND j.reprint_of IS NULL ORDER BY j.id LIMIT 1",
                (document_id,)).fetchone()
            if first is None:
                return []
            db.execute("UPDATE documents SET sha256 = ?, size = ?, kind = ?, pages = ? WHERE id = ?",
                       (sha256, size, kind, len(pages), document_id))
            db.execute("UPDATE links SET state = ?, fetched_at = ?, attempts = attempts + 1, last_error = NULL"
                       " WHERE document_id = ?", (FETCHED, now, document_id))
            head = pages[0]
            db.execute("UPDATE labels SET width_mm = ?, height_mm = ? WHERE id = ?",
                       (head.width_mm or None, head.height_mm or None, first["label_id"]))
            state = JobState(first["state"])
            job_ids = [int(first["job_id"])]
            words, code, params = reason_columns(reason)
            db.execute("UPDATE jobs SET printer = ?, reason = ?, reason_code = ?, reason_params = ?, updated_at = ?"
                       " WHERE id = ?", (head.printer, words, code, params, now, first["job_id"]))
            job_event(db, int(first["job_id"]), now, state, state, reason)
            if state is not JobState.QUEUED:
                return job_ids
            for number, page in enumerate(pages[1:], start=1):
                cur = db.execute(
                    "INSERT INTO labels(document_id, page, width_mm, height_mm, posting, tracking, issued_at,"
                    " expires_at, posting_mismatch) VALUES (?,?,?,?,?,?,?,?,?)",
                    (document_id, number, page.width_mm or None, page.height_mm or None, first["posting"],
                     first["tracking"], first["issued_at"], first["expires_at"], first["posting_mismatch"]))
                job_ids.append(self._insert_job(db, int(cur.lastrowid or 0), page.printer, int(first["copies"]),
                                                reason, now))
            return job_ids

    def link_failed(self, document_id: int, target: JobState, reason: Reason) -> list[int]:
        """Give a link up: its queued jobs become ``target`` (rejected or failed) with ``reason``."""
        now = self.clock()
        moved = []
        check_transition(JobState.QUEUED, target)
        with self.transaction() as db:
            db.execute("UPDATE links SET state = ?, last_error = ? WHERE document_id = ?",
                       (FAILED, reason.text(), document_id))
            rows = db.execute("SELECT j.id FROM jobs j JOIN labels l ON l.id = j.label_id"
                              " WHERE l.document_id = ? AND j.state = ?", (document_id, JobState.QUEUED.value))
            for row in rows.fetchall():
                db.execute("UPDATE jobs SET state = ?, reason = ?, reason_code = ?, reason_params = ?, updated_at = ?"
                           " WHERE id = ?", (target.value, *reason_columns(reason), now, row[0]))
                job_event(db, int(row[0]), now, JobState.QUEUED, target, reason)
                moved.append(int(row[0]))
        return moved
