"""The packing station's questions, answered once for every face of the daemon (the control socket,
``labelctl``, the station page): what needs a person now, which files were rejected whole, which
label a scanned code names, and the acknowledgements that clear an alarm.

Alarms are computed when asked, from the live state: a printer that stopped by itself, a clock
that drifts (or whose sources all went silent), a printed label voided by a newer one until a
person acknowledges it (the parcel needs the new label), a label left ``uncertain`` (labeld stopped
while it went out: it may not have printed) until a person reprints or cancels it, and files
rejected whole from the hot folder in the last day until acknowledged (nobody else was told; an
upload's sender was).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from labeld.daemon.operations import Actor, BadRequest, NotFound, Operations, Refused, ReprintRequest
from labeld.daemon.printer_worker import PrinterCondition
from labeld.daemon.scan import Reading, readings
from labeld.reasons import Reason
from labeld.spool.spool import Job, RejectedFile, reason_json
from labeld.spool.states import JobState

#: Files rejected from the hot folder stay an alarm this long unless acknowledged.
REJECTED_ALARM_SECONDS = 86400.0


@dataclass(frozen=True)
class Match:
    """A label a scan named: how (the reading that found it) and its jobs, newest first."""

    reading: Reading
    jobs: tuple[Job, ...]

    @property
    def newest(self) -> Job:
        return self.jobs[0]

    def to_json(self) -> dict[str, Any]:
        job = self.newest
        return {"label": job.label_id, "posting_number": job.posting, "tracking_number": job.tracking,
                "matched": self.reading.to_json(), "job": job.to_json(), "jobs": [j.id for j in self.jobs]}


class Station:
    def __init__(self, operations: Operations) -> None:
        self.ops = operations
        self.daemon = operations.daemon
        self.spool = operations.daemon.spool

    # ----- what needs a person ----------------------------------------------------------------

    def alarms(self) -> list[dict[str, Any]]:
        """Everything that needs a person now, oldest first within each kind: printers, clock,
        labels to relabel, labels that may not have printed, rejected files."""
        return [*self._printer_alarms(), *self._clock_alarms(), *self._relabel_alarms(), *self._uncertain_alarms(),
                *self._rejected_alarms()]

    def _printer_alarms(self) -> list[dict[str, Any]]:
        found = []
        for state in self.daemon.printer_states():
            if state.state != PrinterCondition.STOPPED or "paused" in state.reasons:
                continue
            reason = Reason("printer.stopped", printer=state.name, reasons=list(state.reasons), message=state.message)
            found.append({"id": f"printer:{state.name}", "kind": "printer", "since": state.since,
                          **reason_json(reason), "printer": state.name, "reasons": list(state.reasons), "ack": None})
        return found

    def _clock_alarms(self) -> list[dict[str, Any]]:
        clock = self.daemon.clock
        snapshot = clock.snapshot() if clock is not None else None
        if snapshot is None or not snapshot.needs_attention:
            return []
        return [{"id": "clock", "kind": "clock", "since": snapshot.checked_at, **reason_json(snapshot.reason),
                 "state": snapshot.state, "offset": snapshot.offset, "ack": None}]

    def _relabel_alarms(self) -> list[dict[str, Any]]:
        by_label: dict[int, list[Job]] = {}
        for job in self.spool.open_relabels():
            by_label.setdefault(job.label_id, []).append(job)
        found = []
        for label_id, jobs in by_label.items():
            first = jobs[0]
            raised = [e for e in self.spool.history(first.id) if e.kind == "alarm" and e.data.get("action") == "raised"]
            params = dict(raised[-1].reason.params) if raised else {}
            reason = Reason("alarm.relabel", posting=first.posting or "?", job=first.id,
                            new_job=params.get("job", "?"), new_tracking=params.get("new_tracking", "?"))
            found.append({"id": f"relabel:{label_id}", "kind": "relabel", "since": raised[-1].at if raised else None,
                          **reason_json(reason), "label": label_id, "job": first.id, "jobs": [j.id for j in jobs],
                          "posting_number": first.posting, "printer": first.printer,
                          "ack": f"/v1/jobs/{first.id}/ack"})
        return found

    def _uncertain_alarms(self) -> list[dict[str, Any]]:
        """A label that may or may not have come out is never sent again by itself: a person looks at
        the printer's output and reprints or cancels it, which ends the alarm."""
        found = []
        for job in reversed(self.spool.jobs(state=JobState.UNCERTAIN, limit=200)):
            if any(later.id > job.id for later in self.spool.jobs(label_id=job.label_id, limit=1000)):
                continue  # reprinted since: the person has dealt with it
            reason = Reason("alarm.uncertain", posting=job.posting or "?", job=job.id, printer=job.printer)
            found.append({"id": f"uncertain:{job.id}", "kind": "uncertain", "since": job.updated_at,
                          **reason_json(reason), "job": job.id, "posting_number": job.posting,
                          "printer": job.printer, "ack": None})
        return found

    def _rejected_alarms(self) -> list[dict[str, Any]]:
        found = []
        for record in self.spool.unacknowledged_rejected(self.spool.clock() - REJECTED_ALARM_SECONDS):
            reason = Reason("alarm.rejected", file=record.name, why=record.reason,
                            where=record.moved_to or "-")
            found.append({"id": f"rejected:{record.id}", "kind": "rejected", "since": record.at, **reason_json(reason),
                          "rejected": record.id, "file": record.name, "moved_to": record.moved_to,
                          "ack": f"/v1/rejected/{record.id}/ack"})
        return found

    def status(self) -> dict[str, Any]:
        """``GET /v1/status``: the daemon's status with today's rejected files and the alarms."""
        return {**self.ops.status(), "rejected_today": self.rejected_today(), "alarms": self.alarms()}

    def rejected_today(self) -> int:
        """Files rejected whole since local midnight."""
        return self.spool.rejected_count(start_of_today(self.spool.clock()))

    # ----- files rejected whole ---------------------------------------------------------------

    def rejected(self, limit: int = 100, today: bool = False) -> list[RejectedFile]:
        if not 1 <= limit <= 1000:
            raise BadRequest(Reason("op.bad_limit", limit=limit))
        return self.spool.rejected_files(since=start_of_today(self.spool.clock()) if today else None, limit=limit)

    # ----- acknowledgements -------------------------------------------------------------------

    def ack_job(self, job_id: int, actor: Actor) -> Job:
        """Acknowledge the relabel alarm of ``job_id``'s label (every job of it that has one)."""
        job = self.ops.job(job_id)
        if not job.needs_ack:
            raise Refused(Reason("op.nothing_to_ack", job=job_id), "nothing_to_ack")
        self.spool.acknowledge_relabel(job.label_id, Reason("alarm.acknowledged", by=actor.who))
        return self.ops.job(job_id)

    def ack_rejected(self, rejected_id: int, actor: Actor) -> RejectedFile:
        if self.spool.rejected_file(rejected_id) is None:
            raise NotFound(Reason("op.no_rejected", id=rejected_id))
        record = self.spool.acknowledge_rejected(rejected_id, actor.who, Reason("alarm.acknowledged", by=actor.who))
        if record is None:
            raise Refused(Reason("op.rejected_acknowledged", id=rejected_id), "nothing_to_ack")
        return record

    # ----- scanned codes ----------------------------------------------------------------------

    def matches(self, code: str) -> tuple[list[Reading], list[Match]]:
        """The readings of a scan and the labels they name, newest label first; a posting's labels,
        then tracking numbers, then barcode values, then a job id (each only if the earlier found none)."""
        tried = readings(code, self.daemon.config.preflight.posting_pattern)
        if not tried:
            raise BadRequest(Reason("scan.empty", code=code))
        for kind in ("posting", "tracking", "barcode"):
            values = [r.value for r in tried if r.kind == kind]
            jobs = self.spool.jobs_by(kind, values)
            if jobs:
                return tried, _group(jobs, [r for r in tried if r.kind == kind])
        for reading in (r for r in tried if r.kind == "job"):
            job = self.spool.job(int(reading.value))
            if job is not None:
                return tried, [Match(reading, tuple(self.spool.jobs(label_id=job.label_id, limit=1000)))]
        return tried, []

    def lookup(self, code: str) -> dict[str, Any]:
        tried, found = self.matches(code)
        if not found:
            raise NotFound(Reason("scan.no_match", code=code, tried=_values(tried)))
        return {"code": code, "readings": [r.to_json() for r in tried], "matches": [m.to_json() for m in found]}

    def jobs_for_code(self, code: str, limit: int = 50) -> list[Job]:
        _, found = self.matches(code)
        jobs = sorted((job for match in found for job in match.jobs), key=lambda j: -j.id)
        return jobs[:limit]

    def reprint_code(self, code: str, request: ReprintRequest) -> dict[str, Any]:
        """Print again the label a scan names: for a label of a posting, the posting's newest label
        (the one the parcel must carry), saying so when the scanned label was an older one."""
        tried, found = self.matches(code)
        if not found:
            raise NotFound(Reason("scan.no_match", code=code, tried=_values(tried)))
        postings = sorted({m.newest.posting for m in found if m.newest.posting})
        if len(postings) > 1 or (not postings and len(found) > 1):
            raise Refused(Reason("scan.ambiguous", code=code, postings=postings or [m.newest.label_id for m in found]),
                          "ambiguous")
        scanned, reading = found[0].newest, found[0].reading
        if postings:
            job_ids = self.ops.reprint_posting(postings[0], request)
        else:
            job_ids = self.ops.reprint_job(scanned.id, request)
        printed_label = self.ops.job(job_ids[0]).label_id
        answer: dict[str, Any] = {"job_ids": job_ids, "label": printed_label, "scanned_label": scanned.label_id,
                                  "posting_number": scanned.posting, "matched": reading.to_json()}
        if reading.kind != "posting" and printed_label != scanned.label_id:
            answer.update(reason_json(Reason("scan.newer_label", label=scanned.label_id, newest=printed_label,
                                             posting=scanned.posting or "?")))
        return answer


def _group(jobs: list[Job], tried: list[Reading]) -> list[Match]:
    """Jobs (newest first) by label, each with the reading that found it."""
    by_label: dict[int, list[Job]] = {}
    for job in jobs:
        by_label.setdefault(job.label_id, []).append(job)
    found = []
    for label_jobs in by_label.values():
        job = label_jobs[0]
        values = {job.posting, job.tracking, *job.preflight.get("codes", [])}
        reading = next((r for r in tried if r.value in values), tried[0])
        found.append(Match(reading, tuple(label_jobs)))
    return found


def _values(tried: list[Reading], most: int = 8) -> list[str]:
    """The distinct values a scan was read as, for a sentence."""
    return list(dict.fromkeys(r.value for r in tried))[:most]


def start_of_today(now: float) -> float:
    """Local midnight before ``now``, as Unix seconds."""
    moment = datetime.fromtimestamp(now)
    return moment.replace(hour=0, minute=0, second=0, microsecond=0).timestamp()
