"""The spool's one sequence of events: what happened, to what, why, and whether a person must act.

A job's state changes and notes are events of kind ``job``; a printer stopping or coming back
(``printer``), the clock leaving or re-entering its bounds (``clock``), a file rejected whole
(``rejected``) and an alarm raised or acknowledged (``alarm``) are events too, in the same
numbered sequence, so that ``GET /v1/events?after=N`` (and everything built on it: ``labelctl
watch``, the station page) follows all of them with one cursor, across daemon restarts.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass, field
from typing import Any

from labeld.reasons import Reason
from labeld.spool.states import JobState

EVENT_KINDS = ("job", "printer", "clock", "rejected", "alarm")
EVENT_SELECT = ("SELECT id, kind, job_id, subject, at, from_state, to_state, reason_code, reason_params, alarm, data"
                " FROM events")


@dataclass(frozen=True)
class Event:
    """One entry of the sequence. ``from_state``/``to_state`` are the subject's states: a job's
    (for kinds ``job`` and ``alarm`` on a job), a printer's condition, the clock's state."""

    id: int
    job_id: int | None
    at: float
    from_state: str | None
    to_state: str
    reason: Reason
    kind: str = "job"
    subject: str | None = None
    alarm: bool = False
    data: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"seq": self.id, "kind": self.kind, "job": self.job_id, "at": self.at, "from": self.from_state,
                "to": self.to_state, **reason_json(self.reason), "alarm": self.alarm, **self.data}


def reason_json(reason: Reason) -> dict[str, Any]:
    """A reason in the API's JSON: the English words, and the code and parameters to make others."""
    return {"reason": reason.text(), "reason_code": reason.code, "reason_params": dict(reason.params)}


def reason_columns(reason: Reason) -> tuple[str, str, str]:
    """The words, the code and the parameters' JSON, as stored in ``jobs``, ``events`` and ``rejected_files``."""
    return reason.text(), reason.code, json.dumps(dict(reason.params), ensure_ascii=False)


def stored_reason(row: sqlite3.Row) -> Reason:
    return Reason.from_json({"code": row["reason_code"], "params": json.loads(row["reason_params"] or "{}")})


def event_from_row(row: sqlite3.Row) -> Event:
    return Event(row["id"], row["job_id"], row["at"], row["from_state"], row["to_state"], stored_reason(row),
                 row["kind"], row["subject"], bool(row["alarm"]), json.loads(row["data"]) if row["data"] else {})


def insert_event(db: sqlite3.Connection, at: float, from_state: str | None, to_state: str, reason: Reason, *,
                 job_id: int | None = None, kind: str = "job", subject: str | None = None, alarm: bool = False,
                 data: dict[str, Any] | None = None) -> int:
    if kind not in EVENT_KINDS:
        raise ValueError(f"unknown event kind {kind!r}")
    cur = db.execute(
        "INSERT INTO events(kind, job_id, subject, at, from_state, to_state, reason, reason_code, reason_params,"
        " alarm, data) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
        (kind, job_id, subject, at, from_state, to_state, *reason_columns(reason), int(alarm),
         json.dumps(data, ensure_ascii=False) if data else None))
    return int(cur.lastrowid or 0)


def job_event(db: sqlite3.Connection, job_id: int, at: float, from_state: JobState | None, to_state: JobState,
              reason: Reason) -> None:
    insert_event(db, at, from_state.value if from_state else None, to_state.value, reason, job_id=job_id)
