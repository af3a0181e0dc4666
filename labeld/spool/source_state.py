"""What a marketplace source has seen and fetched, kept in the spool beside the jobs.

A source's memory must outlive the process: a posting seen before a kill -9 is fetched after
it, once. Each posting is a row of ``source_postings`` that moves ``waiting`` → ``fetched`` (or
``failed``); each source a row of ``sources`` with its pause flag, its trouble and its counters.
Everything here is committed before the call returns.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from labeld.reasons import Reason
from labeld.spool.links import FAILED as LINK_FAILED
from labeld.spool.spool import Spool
from labeld.spool.states import JobState

WAITING, FETCHED, FAILED = "waiting", "fetched", "failed"
POSTING_STATES = (WAITING, FETCHED, FAILED)


@dataclass(frozen=True)
class Seen:
    """One posting as the marketplace listed it."""

    posting: str
    tracking: str = ""
    status: str = ""


@dataclass(frozen=True)
class PostingRow:
    source: str
    posting: str
    state: str
    tracking: str
    status: str
    first_seen: float
    last_seen: float
    fetched_at: float | None
    intake_key: str | None
    attempts: int
    next_try: float
    reason: Reason | None

    def to_json(self) -> dict[str, Any]:
        return {"source": self.source, "posting": self.posting, "state": self.state, "tracking": self.tracking,
                "status": self.status, "first_seen": self.first_seen, "last_seen": self.last_seen,
                "fetched_at": self.fetched_at, "attempts": self.attempts, "next_try": self.next_try,
                **_reason_json(self.reason)}


@dataclass(frozen=True)
class SourceRow:
    name: str
    paused: bool
    polls: int
    errors: dict[str, int]
    fetched: int
    last_poll: float | None
    last_ok: float | None
    next_poll: float | None
    trouble: Reason | None
    trouble_since: float | None
    last_error: Reason | None
    last_error_at: float | None


def _reason(code: str | None, params: str | None) -> Reason | None:
    if not code:
        return None
    return Reason.from_json({"code": code, "params": json.loads(params or "{}")})


def _reason_json(reason: Reason | None) -> dict[str, Any]:
    if reason is None:
        return {"reason": None, "reason_code": None, "reason_params": None}
    return {"reason": reason.text(), "reason_code": reason.code, "reason_params": dict(reason.params)}


def _columns(reason: Reason | None) -> tuple[str | None, str | None]:
    if reason is None:
        return None, None
    return reason.code, json.dumps(dict(reason.params), ensure_ascii=False)


_POSTING_SELECT = ("SELECT source, posting, state, tracking, status, first_seen, last_seen, fetched_at, intake_key,"
                   " attempts, next_try, reason_code, reason_params FROM source_postings")


def _posting(row: Any) -> PostingRow:
    return PostingRow(row[0], row[1], row[2], row[3], row[4], row[5], row[6], row[7], row[8], row[9], row[10],
                      _reason(row[11], row[12]))


class SourceState:
    """The rows of one source (``name``), read and written through the spool's connections."""

    def __init__(self, spool: Spool, name: str) -> None:
        self.spool = spool
        self.name = name
        with spool.transaction() as db:
            db.execute("INSERT INTO sources(name) VALUES (?) ON CONFLICT(name) DO NOTHING", (name,))

    # ----- the source ---------------------------------------------------------------------

    def row(self) -> SourceRow:
        r = self.spool.read("SELECT name, paused, polls, errors, fetched, last_poll, last_ok, next_poll, trouble_code,"
                            " trouble_params, trouble_since, last_error_code, last_error_params, last_error_at"
                            " FROM sources WHERE name = ?", (self.name,))[0]
        return SourceRow(r[0], bool(r[1]), r[2], json.loads(r[3] or "{}"), r[4], r[5], r[6], r[7],
                         _reason(r[8], r[9]), r[10], _reason(r[11], r[12]), r[13])

    def set_paused(self, paused: bool) -> None:
        with self.spool.transaction() as db:
            db.execute("UPDATE sources SET paused = ? WHERE name = ?", (int(paused), self.name))

    def polled(self, now: float, next_poll: float, *, error_kind: str | None = None,
               trouble: Reason | None = None) -> None:
        """A poll ended: ok (``error_kind`` None clears the trouble) or failed with ``trouble``."""
        with self.spool.transaction() as db:
            row = db.execute("SELECT errors, trouble_code, trouble_since FROM sources WHERE name = ?",
                             (self.name,)).fetchone()
            errors = json.loads(row[0] or "{}")
            code, params = _columns(trouble)
            if error_kind is None:
                db.execute("UPDATE sources SET polls = polls + 1, last_poll = ?, last_ok = ?, next_poll = ?,"
                           " trouble_code = NULL, trouble_params = NULL, trouble_since = NULL WHERE name = ?",
                           (now, now, next_poll, self.name))
                return
            errors[error_kind] = errors.get(error_kind, 0) + 1
            since = row[2] if row[1] else now
            db.execute("UPDATE sources SET polls = polls + 1, last_poll = ?, next_poll = ?, errors = ?,"
                       " trouble_code = ?, trouble_params = ?, trouble_since = ?, last_error_code = ?,"
                       " last_error_params = ?, last_error_at = ? WHERE name = ?",
                       (now, next_poll, json.dumps(errors), code, params, since, code, params, now, self.name))

    def set_next_poll(self, when: float) -> None:
        with self.spool.transaction() as db:
            db.execute("UPDATE sources SET next_poll = ? WHERE name = ?", (when, self.name))

    # ----- its postings -------------------------------------------------------------------

    def saw(self, postings: Sequence[Seen], now: float) -> list[str]:
        """Record postings the marketplace listed; returns those that now wait for a label.

        A new posting waits. A fetched posting whose tracking number changed from one number to
        another was given a new label (the old one is void): it waits again, to fetch the new one.
        """
        waiting: list[str] = []
        with self.spool.transaction() as db:
            for seen in postings:
                row = db.execute("SELECT state, tracking FROM source_postings WHERE source = ? AND posting = ?",
                                 (self.name, seen.posting)).fetchone()
                if row is None:
                    db.execute("INSERT INTO source_postings(source, posting, state, tracking, status, first_seen,"
                               " last_seen) VALUES (?,?,?,?,?,?,?)",
                               (self.name, seen.posting, WAITING, seen.tracking, seen.status, now, now))
                    waiting.append(seen.posting)
                    continue
                state, tracking = row
                regenerated = bool(tracking and seen.tracking and seen.tracking != tracking)
                if regenerated and state != WAITING:
                    state = WAITING
                    waiting.append(seen.posting)
                db.execute("UPDATE source_postings SET state = ?, tracking = ?, status = ?, last_seen = ?,"
                           " next_try = CASE WHEN ? THEN 0 ELSE next_try END WHERE source = ? AND posting = ?",
                           (state, seen.tracking or tracking, seen.status, now, int(regenerated), self.name,
                            seen.posting))
        return waiting

    def posting(self, posting: str) -> PostingRow | None:
        rows = self.spool.read(_POSTING_SELECT + " WHERE source = ? AND posting = ?", (self.name, posting))
        return _posting(rows[0]) if rows else None

    def known(self, postings: Sequence[str]) -> set[str]:
        """Which of ``postings`` this source has a row for."""
        found: set[str] = set()
        for start in range(0, len(postings), 500):
            chunk = list(postings[start:start + 500])
            marks = ",".join("?" * len(chunk))
            found.update(r[0] for r in self.spool.read(
                f"SELECT posting FROM source_postings WHERE source = ? AND posting IN ({marks})", (self.name, *chunk)))
        return found

    def due(self, now: float, limit: int) -> list[PostingRow]:
        """Postings waiting for a label whose next try has come, oldest first."""
        rows = self.spool.read(_POSTING_SELECT + " WHERE source = ? AND state = ? AND next_try <= ?"
                               " ORDER BY first_seen, posting LIMIT ?", (self.name, WAITING, now, limit))
        return [_posting(r) for r in rows]

    def retry_later(self, posting: str, at: float, reason: Reason) -> None:
        code, params = _columns(reason)
        with self.spool.transaction() as db:
            db.execute("UPDATE source_postings SET attempts = attempts + 1, next_try = ?, reason_code = ?,"
                       " reason_params = ? WHERE source = ? AND posting = ?", (at, code, params, self.name, posting))

    def fetched(self, posting: str, key: str, now: float, *, tracking: str = "", counted: bool = True) -> None:
        """The posting's label is in the spool under ``key``; ``counted`` adds it to the labels fetched."""
        with self.spool.transaction() as db:
            db.execute("UPDATE source_postings SET state = ?, intake_key = ?, fetched_at = ?, attempts = attempts + 1,"
                       " tracking = CASE WHEN ? != '' THEN ? ELSE tracking END, reason_code = NULL,"
                       " reason_params = NULL WHERE source = ? AND posting = ?",
                       (FETCHED, key, now, tracking, tracking, self.name, posting))
            if counted:
                db.execute("UPDATE sources SET fetched = fetched + 1 WHERE name = ?", (self.name,))

    def failed(self, posting: str, reason: Reason) -> None:
        code, params = _columns(reason)
        with self.spool.transaction() as db:
            db.execute("UPDATE source_postings SET state = ?, attempts = attempts + 1, reason_code = ?,"
                       " reason_params = ? WHERE source = ? AND posting = ?",
                       (FAILED, code, params, self.name, posting))

    def failed_links(self) -> list[tuple[str, str, Reason | None]]:
        """Fetched postings whose label was handed over as a link that then gave no label (refused,
        expired, failed): ``(posting, intake_key, the job's reason)``."""
        rows = self.spool.read(
            "SELECT p.posting, p.intake_key, j.reason_code, j.reason_params FROM source_postings p"
            " JOIN documents d ON d.intake_key = p.intake_key JOIN links k ON k.document_id = d.id"
            " JOIN labels l ON l.document_id = d.id AND l.page = 0"
            " JOIN jobs j ON j.label_id = l.id AND j.reprint_of IS NULL"
            " WHERE p.source = ? AND p.state = ? AND k.state = ? ORDER BY p.posting",
            (self.name, FETCHED, LINK_FAILED))
        return [(r[0], r[1], _reason(r[2], r[3])) for r in rows]

    def requeue(self, posting: str, at: float, reason: Reason) -> None:
        """The posting waits for a label again (its link gave none), due at ``at``."""
        code, params = _columns(reason)
        with self.spool.transaction() as db:
            db.execute("UPDATE source_postings SET state = ?, next_try = ?, reason_code = ?, reason_params = ?"
                       " WHERE source = ? AND posting = ?", (WAITING, at, code, params, self.name, posting))

    def wait_again(self, posting: str, seen: Seen, now: float) -> None:
        """An operator asked for this posting now: it waits (again), due at once."""
        with self.spool.transaction() as db:
            db.execute("INSERT INTO source_postings(source, posting, state, tracking, status, first_seen, last_seen)"
                       " VALUES (?,?,?,?,?,?,?) ON CONFLICT(source, posting) DO UPDATE SET state = ?, next_try = 0",
                       (self.name, posting, WAITING, seen.tracking, seen.status, now, now, WAITING))

    # ----- counts -------------------------------------------------------------------------

    def counts(self, document_source: str) -> dict[str, int]:
        """Postings by state, and how many of them have a printed label (documents from ``document_source``)."""
        counts = dict.fromkeys(POSTING_STATES, 0)
        for state, n in self.spool.read("SELECT state, COUNT(*) FROM source_postings WHERE source = ? GROUP BY state",
                                        (self.name,)):
            counts[state] = n
        counts["seen"] = sum(counts[s] for s in POSTING_STATES)
        counts["printed"] = int(self.spool.read(
            "SELECT COUNT(DISTINCT l.posting) FROM labels l JOIN documents d ON d.id = l.document_id"
            " JOIN jobs j ON j.label_id = l.id WHERE d.source = ? AND j.state = ?",
            (document_source, JobState.PRINTED.value))[0][0])
        return counts

    def prune(self, older_than: float) -> int:
        """Forget fetched and failed postings not listed since ``older_than``."""
        with self.spool.transaction() as db:
            cur = db.execute("DELETE FROM source_postings WHERE source = ? AND state != ? AND last_seen < ?",
                             (self.name, WAITING, older_than))
            return cur.rowcount
