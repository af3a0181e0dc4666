"""The spool database: documents, labels, jobs and every state change, in SQLite (WAL).

Jobs are never deleted when a worker takes them: a worker moves a job through its states and
each move is committed with a time and a reason before the worker acts on it. At start-up
:meth:`Spool.recover` turns jobs caught ``printing`` into ``uncertain``.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from labeld.errors import LabeldError
from labeld.reasons import Reason
from labeld.spool.events import EVENT_SELECT, Event, event_from_row, job_event, reason_columns, reason_json
from labeld.spool.jobs import JOB_SELECT, Job, NewDocument, NewLabel, accepted_reason, job_from_row, state_marks
from labeld.spool.links import LINK_KIND, LinkTables
from labeld.spool.schema import MIGRATIONS, PRAGMAS, SCHEMA_VERSION, TABLES
from labeld.spool.states import LIVE, PENDING, InvalidTransition, JobState, check_transition
from labeld.spool.station import Clock, RejectedFile, StationTables, write_label_codes

__all__ = ["Event", "InvalidTransition", "Job", "NewDocument", "NewLabel", "RejectedFile", "Spool", "SpoolTooNew",
           "reason_json"]


class SpoolTooNew(LabeldError):
    """The spool was written by a newer labeld, whose rows this one cannot read safely."""


class Spool(StationTables, LinkTables):
    """Writes go through one SQLite connection behind a lock; reads use a connection of their
    own thread, so that ``status`` answers while a burst of uploads commits (WAL readers do not
    wait for the writer).

    ``changed`` is notified after every commit, so workers and ``watch`` wait instead of polling.
    """

    def __init__(self, path: Path, clock: Clock = time.time) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.clock = clock
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.row_factory = sqlite3.Row
        self._lock = threading.RLock()
        self._readers = threading.local()
        self.changed = threading.Condition(threading.Lock())
        self._changes = 0  # counts notify_change calls, so that a waiter misses none (see wait_for_change)
        for pragma in PRAGMAS:
            self._db.execute(pragma)
        try:
            self._prepare()
        except BaseException:
            self._db.close()
            raise

    def _prepare(self) -> None:
        """Create a new spool, migrate an older one, refuse a newer one."""
        with self.transaction() as db:
            has_meta = db.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'meta'").fetchone()
            row = db.execute("SELECT value FROM meta WHERE key = 'schema'").fetchone() if has_meta else None
            version = int(row["value"]) if row else SCHEMA_VERSION
            if version > SCHEMA_VERSION:
                raise SpoolTooNew(
                    f"the spool {self.path} was written by a newer labeld (schema {version}; this labeld knows "
                    f"schema {SCHEMA_VERSION}); run that newer labeld, or move the state directory aside")
            for step in range(version, SCHEMA_VERSION):
                for sql in MIGRATIONS[step]:
                    db.execute(sql)
            for ddl in TABLES:
                db.execute(ddl)
            db.execute("INSERT INTO meta(key, value) VALUES ('schema', ?) ON CONFLICT(key) DO UPDATE"
                       " SET value = excluded.value", (str(SCHEMA_VERSION),))

    def schema_version(self) -> int:
        return int(self._query("SELECT value FROM meta WHERE key = 'schema'")[0]["value"])

    def close(self) -> None:
        with self._lock:
            self._db.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One committed unit of work; everything inside is all-or-nothing."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")
        self.notify_change()

    def read(self, sql: str, args: Sequence[Any] = ()) -> list[Any]:
        """A read for the spool's other modules (``labeld.spool.source_state``)."""
        return self._query(sql, args)

    def _query(self, sql: str, args: Sequence[Any] = ()) -> list[Any]:
        """A read on this thread's own connection; it sees everything committed before it."""
        reader: sqlite3.Connection | None = getattr(self._readers, "db", None)
        if reader is None:
            reader = sqlite3.connect(self.path, isolation_level=None, timeout=10)
            reader.row_factory = sqlite3.Row
            reader.execute("PRAGMA busy_timeout=10000")
            self._readers.db = reader
        return reader.execute(sql, args).fetchall()

    # ----- intake -------------------------------------------------------------------------

    def add_document(self, doc: NewDocument, labels: Sequence[NewLabel], where: str,
                     link: str | None = None) -> list[int]:
        """Commit a document with its labels and one queued job per label; returns the job ids.

        ``where`` says where it came from ("hotfolder", "api", "hotfolder (ql820/)"): it goes into
        each job's first reason. ``link``: the document is a label_url still to fetch (kind ``link``),
        recorded in the same transaction (labeld.spool.links)."""
        now = self.clock()
        with self.transaction() as db:
            cur = db.execute(
                "INSERT INTO documents(sha256, name, source, intake_key, kind, received_at, size, pages, sidecar,"
                " folder) VALUES (?,?,?,?,?,?,?,?,?,?)",
                (doc.sha256, doc.name, doc.source, doc.intake_key, doc.kind, now, doc.size, doc.pages,
                 json.dumps(doc.sidecar) if doc.sidecar is not None else None, doc.folder),
            )
            document_id = cur.lastrowid
            if link is not None:
                db.execute("INSERT INTO links(document_id, url) VALUES (?, ?)", (document_id, link))
            job_ids = []
            for label in labels:
                cur = db.execute(
                    "INSERT INTO labels(document_id, page, width_mm, height_mm, posting, tracking, issued_at,"
                    " expires_at, posting_mismatch) VALUES (?,?,?,?,?,?,?,?,?)",
                    (document_id, label.page, label.width_mm, label.height_mm, label.posting, label.tracking,
                     label.issued_at, label.expires_at, label.posting_mismatch),
                )
                page_reason = accepted_reason(doc, where, label.page + 1, len(labels))
                job_ids.append(self._insert_job(db, int(cur.lastrowid or 0), label.printer, label.copies,
                                                page_reason, now))
            return job_ids

    def _insert_job(self, db: sqlite3.Connection, label_id: int, printer: str, copies: int, reason: Reason,
                    now: float, reprint_of: int | None = None, forced: bool = False) -> int:
        cur = db.execute(
            "INSERT INTO jobs(label_id, printer, copies, state, reason, reason_code, reason_params, created_at,"
            " updated_at, reprint_of, forced) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
            (label_id, printer, copies, JobState.QUEUED.value, *reason_columns(reason), now, now, reprint_of,
             int(forced)),
        )
        job_id = int(cur.lastrowid or 0)
        job_event(db, job_id, now, None, JobState.QUEUED, reason)
        return job_id

    def has_intake_key(self, key: str) -> bool:
        return bool(self._query("SELECT 1 FROM documents WHERE intake_key = ?", (key,)))

    def document_by_intake_key(self, key: str) -> tuple[str, list[tuple[int, str]]] | None:
        """The name and original (not reprint) jobs ``(id, printer)`` of the document taken with ``key``."""
        rows = self._query(
            "SELECT d.name, j.id, j.printer FROM documents d JOIN labels l ON l.document_id = d.id"
            " JOIN jobs j ON j.label_id = l.id WHERE d.intake_key = ? AND j.reprint_of IS NULL ORDER BY j.id", (key,))
        if not rows:
            return None
        return rows[0][0], [(int(job_id), printer) for _, job_id, printer in rows]

    def add_reprint(self, job: Job, printer: str, copies: int, reason: Reason, forced: bool) -> int:
        with self.transaction() as db:
            return self._insert_job(db, job.label_id, printer, copies, reason, self.clock(), job.id, forced)

    # ----- reading ------------------------------------------------------------------------

    def job(self, job_id: int) -> Job | None:
        rows = self._query(JOB_SELECT + " WHERE j.id = ?", (job_id,))
        return job_from_row(rows[0]) if rows else None

    def jobs(self, *, state: JobState | None = None, printer: str | None = None, posting: str | None = None,
             label_id: int | None = None, document: str | None = None, limit: int = 50) -> list[Job]:
        where, args = [], []
        for column, value in (("j.state", state.value if state else None), ("j.printer", printer),
                              ("l.posting", posting), ("j.label_id", label_id), ("d.name", document)):
            if value is not None:
                where.append(f"{column} = ?")
                args.append(value)
        sql = JOB_SELECT + (" WHERE " + " AND ".join(where) if where else "") + " ORDER BY j.id DESC LIMIT ?"
        return [job_from_row(r) for r in self._query(sql, (*args, limit))]

    def queued(self, limit: int = 16) -> list[Job]:
        """Queued jobs to render, oldest first; a link not fetched yet is not one of them."""
        rows = self._query(JOB_SELECT + " WHERE j.state = ? AND d.kind != ? ORDER BY j.id LIMIT ?",
                           (JobState.QUEUED.value, LINK_KIND, limit))
        return [job_from_row(r) for r in rows]

    def next_ready(self, printer: str) -> Job | None:
        rows = self._query(JOB_SELECT + " WHERE j.state = ? AND j.printer = ? ORDER BY j.id LIMIT 1",
                           (JobState.READY.value, printer))
        return job_from_row(rows[0]) if rows else None

    def has_earlier_pending(self, printer: str, job_id: int) -> bool:
        """True while a job before ``job_id`` on ``printer`` is still queued (printing order). A link
        still waiting to be fetched does not hold back the labels behind it."""
        rows = self._query("SELECT 1 FROM jobs j JOIN labels l ON l.id = j.label_id JOIN documents d"
                           " ON d.id = l.document_id WHERE j.printer = ? AND j.state = ? AND j.id < ? AND d.kind != ?"
                           " LIMIT 1", (printer, JobState.QUEUED.value, job_id, LINK_KIND))
        return bool(rows)

    def history(self, job_id: int) -> list[Event]:
        rows = self._query(EVENT_SELECT + " WHERE job_id = ? ORDER BY id", (job_id,))
        return [event_from_row(r) for r in rows]

    def events_after(self, seq: int, limit: int = 500) -> list[Event]:
        """Events of every kind after ``seq``, oldest first."""
        rows = self._query(EVENT_SELECT + " WHERE id > ? ORDER BY id LIMIT ?", (seq, limit))
        return [event_from_row(r) for r in rows]

    def last_event_id(self) -> int:
        return int(self._query("SELECT COALESCE(MAX(id), 0) FROM events")[0][0])

    def notify_change(self) -> None:
        """Wake every thread waiting in :meth:`wait_for_change` (a commit does this by itself)."""
        with self.changed:
            self._changes += 1
            self.changed.notify_all()

    @property
    def change_mark(self) -> int:
        """Take it before looking for work; :meth:`wait_for_change` with it returns at once if
        anything changed since (a commit made while the caller was busy is not slept through)."""
        return self._changes

    def wait_for_change(self, timeout: float, since: int | None = None) -> None:
        with self.changed:
            if since is not None and self._changes != since:
                return
            self.changed.wait(timeout)

    def counts(self, printer: str | None = None) -> dict[JobState, int]:
        if printer is None:
            rows = self._query("SELECT state, COUNT(*) FROM jobs GROUP BY state")
        else:
            rows = self._query("SELECT state, COUNT(*) FROM jobs WHERE printer = ? GROUP BY state", (printer,))
        counts = dict.fromkeys(JobState, 0)
        counts.update({JobState(row[0]): row[1] for row in rows})
        return counts

    def labels_for_posting(self, posting: str, exclude_label: int) -> list[Job]:
        """Every job of every other label of ``posting``, oldest label first."""
        rows = self._query(JOB_SELECT + " WHERE l.posting = ? AND l.id != ? ORDER BY l.issued_at, l.id, j.id",
                           (posting, exclude_label))
        return [job_from_row(r) for r in rows]

    def first_with_content(self, content_hash: str, exclude_label: int) -> Job | None:
        """The earliest live job of another label with the same content (for duplicate detection)."""
        marks, live = state_marks(LIVE)
        rows = self._query(
            JOB_SELECT + f" WHERE l.content_hash = ? AND l.id != ? AND j.state IN ({marks})"
            " AND j.duplicate_of IS NULL ORDER BY j.id LIMIT 1",
            (content_hash, exclude_label, *live),
        )
        return job_from_row(rows[0]) if rows else None

    # ----- changes ------------------------------------------------------------------------

    def transition(self, job_id: int, target: JobState, reason: Reason, *,
                   expect: frozenset[JobState] | None = None, confirmed: bool | None = None, attempt: bool = False,
                   interrupted: bool | None = None, duplicate_of: int | None = None, forced: bool | None = None,
                   override: dict[str, Any] | None = None) -> Job:
        """Move a job to ``target`` with a reason, committed before this returns.

        ``expect`` guards against races (an operator cancelled while a worker rendered): the
        move happens only from one of those states, else :class:`InvalidTransition`.
        """
        now = self.clock()
        with self.transaction() as db:
            row = db.execute("SELECT state FROM jobs WHERE id = ?", (job_id,)).fetchone()
            if row is None:
                raise KeyError(job_id)
            current = JobState(row["state"])
            if expect is not None and current not in expect:
                raise InvalidTransition(f"job {job_id} is {current.value}, not {'/'.join(sorted(expect))}")
            check_transition(current, target)
            sets = ["state = ?", "reason = ?", "reason_code = ?", "reason_params = ?", "updated_at = ?"]
            args: list[Any] = [target.value, *reason_columns(reason), now]
            for column, value in (("confirmed", confirmed), ("interrupted", interrupted),
                                  ("duplicate_of", duplicate_of), ("forced", forced)):
                if value is not None:
                    sets.append(f"{column} = ?")
                    args.append(int(value))
            if override is not None:
                sets.append("override = ?")
                args.append(json.dumps(override, ensure_ascii=False))
            if attempt:
                sets.append("attempts = attempts + 1")
            db.execute(f"UPDATE jobs SET {', '.join(sets)} WHERE id = ?", (*args, job_id))
            job_event(db, job_id, now, current, target, reason)
        job = self.job(job_id)
        assert job is not None
        return job

    def note(self, job_id: int, reason: Reason) -> None:
        """A history entry that does not change the state (e.g. "voided by a newer label")."""
        with self.transaction() as db:
            row = db.execute("SELECT state FROM jobs WHERE id = ?", (job_id,)).fetchone()
            if row is None:
                raise KeyError(job_id)
            state = JobState(row["state"])
            job_event(db, job_id, self.clock(), state, state, reason)

    def update_label(self, label_id: int, codes: Iterable[str] | None = None, **values: Any) -> None:
        """Change a label's columns; ``codes`` are the barcode values a scanner may read off it."""
        allowed = {"posting", "tracking", "content_hash", "preflight", "expires_at", "width_mm", "height_mm"}
        unknown = set(values) - allowed
        if unknown:
            raise ValueError(f"cannot update label columns {unknown}")
        if "preflight" in values:
            values["preflight"] = json.dumps(values["preflight"])
        assignments = ", ".join(f"{k} = ?" for k in values)
        with self.transaction() as db:
            if values:
                db.execute(f"UPDATE labels SET {assignments} WHERE id = ?", (*values.values(), label_id))
            if codes is not None:
                write_label_codes(db, label_id, codes)

    def recover(self) -> list[Job]:
        """At start-up: jobs caught ``printing`` may or may not have come out → ``uncertain``."""
        stuck = [job_from_row(r) for r in self._query(JOB_SELECT + " WHERE j.state = ? ORDER BY j.id",
                                              (JobState.PRINTING.value,))]
        for job in stuck:
            self.transition(job.id, JobState.UNCERTAIN, Reason("job.uncertain_after_stop"))
        return stuck

    def set_paused(self, printer: str, paused: bool, reason: str = "") -> None:
        with self.transaction() as db:
            db.execute("INSERT INTO printers(name, paused, reason) VALUES (?,?,?) ON CONFLICT(name) DO UPDATE"
                       " SET paused = excluded.paused, reason = excluded.reason", (printer, int(paused), reason))

    def paused(self, printer: str) -> bool:
        rows = self._query("SELECT paused FROM printers WHERE name = ?", (printer,))
        return bool(rows and rows[0]["paused"])

    def kept(self, key: str) -> str | None:
        """A small value a part of the daemon keeps across restarts (the ``meta`` table), or None."""
        rows = self._query("SELECT value FROM meta WHERE key = ?", (key,))
        return str(rows[0]["value"]) if rows else None

    def keep(self, key: str, value: str | None) -> None:
        """Keep ``value`` under ``key`` across restarts; None forgets it. ``schema`` is not one."""
        if key == "schema":
            raise ValueError("the schema version is not kept this way")
        with self.transaction() as db:
            if value is None:
                db.execute("DELETE FROM meta WHERE key = ?", (key,))
            else:
                db.execute("INSERT INTO meta(key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE"
                           " SET value = excluded.value", (key, value))

    def forget_kept(self, prefix: str) -> None:
        """Forget every kept value whose key starts with ``prefix``."""
        with self.transaction() as db:
            db.execute("DELETE FROM meta WHERE key <> 'schema' AND substr(key, 1, ?) = ?", (len(prefix), prefix))

    def prune(self, older_than: float) -> tuple[list[str], list[int]]:
        """Forget documents whose jobs all finished before ``older_than``.

        Returns the document hashes no longer referenced and the job ids whose bitmaps can go.
        """
        self.prune_station(older_than)
        marks, pending = state_marks(PENDING)
        with self.transaction() as db:
            doc_ids = [r[0] for r in db.execute(
                f"""SELECT d.id FROM documents d WHERE d.received_at < ? AND NOT EXISTS (
                        SELECT 1 FROM labels l JOIN jobs j ON j.label_id = l.id
                        WHERE l.document_id = d.id AND (j.state IN ({marks}) OR j.updated_at >= ?))""",
                (older_than, *pending, older_than))]
            if not doc_ids:
                return [], []
            marks = ",".join("?" * len(doc_ids))
            job_ids = [r[0] for r in db.execute(
                f"SELECT j.id FROM jobs j JOIN labels l ON l.id = j.label_id WHERE l.document_id IN ({marks})",
                doc_ids)]
            hashes = {r[0] for r in db.execute(f"SELECT sha256 FROM documents WHERE id IN ({marks})", doc_ids)}
            db.execute(f"DELETE FROM documents WHERE id IN ({marks})", doc_ids)
            still = {r[0] for r in db.execute(
                f"SELECT sha256 FROM documents WHERE sha256 IN ({','.join('?' * len(hashes))})", list(hashes))}
        return sorted(hashes - still - {""}), job_ids
