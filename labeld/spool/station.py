"""The spool's side of the packing station: files rejected whole, alarms a person must
acknowledge, events that are not a job's, and the codes a handheld scanner can read off a label.

:class:`StationTables` is a part of :class:`labeld.spool.spool.Spool` (a mixin over the same
connection, lock and clock), kept apart so that the job engine's module stays about jobs.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any

from labeld.reasons import Reason
from labeld.spool.events import insert_event, reason_columns, reason_json, stored_reason
from labeld.spool.jobs import JOB_SELECT, Job, job_from_row

Clock = Callable[[], float]

#: What a scanned code may be looked up as, and the column or table that holds it.
LOOKUP_KINDS = ("posting", "tracking", "barcode")


@dataclass(frozen=True)
class RejectedFile:
    """A document refused whole at intake: what it was called, where it came from and went, why."""

    id: int
    at: float
    name: str
    source: str
    folder: str | None
    moved_to: str | None
    size: int | None
    reason: Reason
    acknowledged_at: float | None = None
    acknowledged_by: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "at": self.at, "file": self.name, "source": self.source, "folder": self.folder,
                "moved_to": self.moved_to, "size": self.size, **reason_json(self.reason),
                "acknowledged_at": self.acknowledged_at, "acknowledged_by": self.acknowledged_by}

    def event_data(self) -> dict[str, Any]:
        return {"rejected": self.id, "file": self.name, "source": self.source, "folder": self.folder,
                "moved_to": self.moved_to}


_REJECTED_SELECT = ("SELECT id, at, name, source, folder, moved_to, size, reason_code, reason_params,"
                    " acknowledged_at, acknowledged_by FROM rejected_files")


def _rejected(row: sqlite3.Row) -> RejectedFile:
    return RejectedFile(row["id"], row["at"], row["name"], row["source"], row["folder"], row["moved_to"],
                        row["size"], stored_reason(row), row["acknowledged_at"], row["acknowledged_by"])


def write_label_codes(db: sqlite3.Connection, label_id: int, codes: Iterable[str]) -> None:
    db.execute("DELETE FROM label_codes WHERE label_id = ?", (label_id,))
    db.executemany("INSERT OR IGNORE INTO label_codes(label_id, code) VALUES (?, ?)",
                   [(label_id, code) for code in set(codes) if code])


class StationTables:
    """Rejected files, alarms, station events and label codes (see the module docstring)."""

    clock: Clock

    def transaction(self) -> AbstractContextManager[sqlite3.Connection]:
        raise NotImplementedError

    def _query(self, sql: str, args: Sequence[Any] = ()) -> list[Any]:
        raise NotImplementedError

    # ----- events that are not a job's ------------------------------------------------------

    def add_notice(self, kind: str, subject: str, from_state: str | None, to_state: str, reason: Reason, *,
                   alarm: bool = False, data: dict[str, Any] | None = None) -> int:
        """Record a printer's or the clock's change of state in the event sequence; its number."""
        with self.transaction() as db:
            return insert_event(db, self.clock(), from_state, to_state, reason, kind=kind, subject=subject,
                                alarm=alarm, data=data)

    # ----- files rejected whole -------------------------------------------------------------

    def add_rejected(self, *, name: str, source: str, folder: str | None, moved_to: str | None, size: int | None,
                     reason: Reason, alarm: bool) -> RejectedFile:
        """Record a file refused whole, with its event (an alarm when nobody was told at once)."""
        now = self.clock()
        with self.transaction() as db:
            cur = db.execute(
                "INSERT INTO rejected_files(at, name, source, folder, moved_to, size, reason, reason_code,"
                " reason_params) VALUES (?,?,?,?,?,?,?,?,?)",
                (now, name, source, folder, moved_to, size, *reason_columns(reason)))
            record = RejectedFile(int(cur.lastrowid or 0), now, name, source, folder, moved_to, size, reason)
            insert_event(db, now, None, "rejected", reason, kind="rejected", subject=str(record.id), alarm=alarm,
                         data=record.event_data())
        return record

    def rejected_files(self, *, since: float | None = None, limit: int = 100) -> list[RejectedFile]:
        """Newest first."""
        rows = self._query(_REJECTED_SELECT + " WHERE at >= ? ORDER BY id DESC LIMIT ?", (since or 0.0, limit))
        return [_rejected(r) for r in rows]

    def rejected_file(self, rejected_id: int) -> RejectedFile | None:
        rows = self._query(_REJECTED_SELECT + " WHERE id = ?", (rejected_id,))
        return _rejected(rows[0]) if rows else None

    def rejected_count(self, since: float) -> int:
        return int(self._query("SELECT COUNT(*) FROM rejected_files WHERE at >= ?", (since,))[0][0])

    def unacknowledged_rejected(self, since: float, source: str = "hotfolder") -> list[RejectedFile]:
        rows = self._query(_REJECTED_SELECT + " WHERE at >= ? AND source = ? AND acknowledged_at IS NULL"
                           " ORDER BY id", (since, source))
        return [_rejected(r) for r in rows]

    def acknowledge_rejected(self, rejected_id: int, by: str, reason: Reason) -> RejectedFile | None:
        """Mark a rejected file seen; None when there is no such record or it was acknowledged already."""
        now = self.clock()
        with self.transaction() as db:
            changed = db.execute("UPDATE rejected_files SET acknowledged_at = ?, acknowledged_by = ?"
                                 " WHERE id = ? AND acknowledged_at IS NULL", (now, by, rejected_id)).rowcount
            if changed:
                row = db.execute(_REJECTED_SELECT + " WHERE id = ?", (rejected_id,)).fetchone()
                insert_event(db, now, "raised", "acknowledged", reason, kind="alarm", subject=f"rejected:{rejected_id}",
                             data={**_rejected(row).event_data(), "action": "acknowledged", "by": by})
        return self.rejected_file(rejected_id) if changed else None

    # ----- printed labels voided by a newer one ---------------------------------------------

    def raise_relabel(self, job_id: int, reason: Reason) -> None:
        """A printed label was voided by a newer one: note it in the job's history as an alarm that stays
        until a person acknowledges it (the parcel must get the new label)."""
        with self.transaction() as db:
            row = db.execute("SELECT state FROM jobs WHERE id = ?", (job_id,)).fetchone()
            if row is None:
                raise KeyError(job_id)
            db.execute("UPDATE jobs SET needs_ack = 1 WHERE id = ?", (job_id,))
            insert_event(db, self.clock(), row["state"], row["state"], reason, job_id=job_id, kind="alarm",
                         alarm=True, data={"action": "raised"})

    def open_relabels(self) -> list[Job]:
        """Jobs whose printed label was voided and not yet acknowledged, oldest first."""
        return [job_from_row(r) for r in self._query(JOB_SELECT + " WHERE j.needs_ack = 1 ORDER BY j.id")]

    def acknowledge_relabel(self, label_id: int, reason: Reason) -> list[int]:
        """Acknowledge the alarm of every job of ``label_id`` that has one; their ids."""
        now = self.clock()
        with self.transaction() as db:
            rows = db.execute("SELECT id, state FROM jobs WHERE label_id = ? AND needs_ack = 1 ORDER BY id",
                              (label_id,)).fetchall()
            for row in rows:
                db.execute("UPDATE jobs SET needs_ack = 0 WHERE id = ?", (row["id"],))
                insert_event(db, now, row["state"], row["state"], reason, job_id=row["id"], kind="alarm",
                             data={"action": "acknowledged"})
        return [row["id"] for row in rows]

    # ----- what a scanner reads off a label -------------------------------------------------

    def set_label_codes(self, label_id: int, codes: Iterable[str]) -> None:
        """The values of the barcodes found on a label, so that scanning any of them finds it."""
        with self.transaction() as db:
            write_label_codes(db, label_id, codes)

    def jobs_by(self, kind: str, values: Sequence[str], limit: int = 1000) -> list[Job]:
        """Every job of the labels whose posting, tracking or barcode value is one of ``values``, newest first."""
        if kind not in LOOKUP_KINDS:
            raise ValueError(f"cannot look labels up by {kind!r}")
        if not values:
            return []
        marks = ",".join("?" * len(values))
        where = {"posting": f"l.posting IN ({marks})", "tracking": f"l.tracking IN ({marks})",
                 "barcode": f"l.id IN (SELECT label_id FROM label_codes WHERE code IN ({marks}))"}[kind]
        rows = self._query(JOB_SELECT + f" WHERE {where} ORDER BY j.id DESC LIMIT ?", (*values, limit))
        return [job_from_row(r) for r in rows]

    # ----- housekeeping ---------------------------------------------------------------------

    def prune_station(self, older_than: float) -> None:
        """Forget rejected files and printer/clock events older than ``older_than``. The newest event
        is always kept, so that event numbers are never given out twice."""
        with self.transaction() as db:
            db.execute("DELETE FROM rejected_files WHERE at < ?", (older_than,))
            db.execute("DELETE FROM events WHERE job_id IS NULL AND at < ? AND id < (SELECT MAX(id) FROM events)",
                       (older_than,))
