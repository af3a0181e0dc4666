"""What the station page shows, as plain dicts built from :class:`Operations` — the same calls the
control socket answers — with every word already in the reader's language. Templates only loop
over these and print them.
"""

from __future__ import annotations

import datetime
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from labeld.daemon.operations import OperationError, Operations
from labeld.daemon.printer_worker import PrinterCondition, PrinterState
from labeld.daemon.station import Station
from labeld.i18n import N_
from labeld.reasons import Reason
from labeld.spool.links import LINK_KIND
from labeld.spool.spool import Job
from labeld.spool.states import JobState
from labeld.web.language import translator
from labeld.web.words import PRINTER_REASON_WORDS, PRINTER_STATE_WORDS, STATE_WORDS

PENDING = frozenset({JobState.QUEUED, JobState.READY, JobState.PRINTING, JobState.HELD})
RECENT_JOBS = 1000
HISTORY_ROWS = 200
BATCHES = 20
#: What the job page's buttons may do to a job in each state (the operations refuse the rest anyway).
ACTIONS = {
    "reprint": frozenset(JobState) - {JobState.QUEUED},
    "release": frozenset({JobState.HELD}),
    "hold": frozenset({JobState.QUEUED, JobState.READY}),
    "cancel": frozenset({JobState.QUEUED, JobState.READY, JobState.HELD, JobState.FAILED, JobState.UNCERTAIN}),
}
READY_CODES = ("job.ready", "job.ready_warning")


@dataclass(frozen=True)
class Filters:
    """The history's filter: a state, a printer, and words found in posting, tracking or file name."""

    state: str = ""
    printer: str = ""
    text: str = ""

    def admits(self, job: Job) -> bool:
        if self.state and job.state.value != self.state:
            return False
        if self.printer and job.printer != self.printer:
            return False
        words = self.text.strip().lower()
        return not words or any(words in (value or "").lower()
                                for value in (job.posting, job.tracking, job.document_name, str(job.id)))


def midnight(now: float) -> float:
    return datetime.datetime.fromtimestamp(now).replace(hour=0, minute=0, second=0, microsecond=0).timestamp()


class Views:
    """Builds each part of the page for one reader's language."""

    def __init__(self, ops: Operations, lang: str, now: Callable[[], float] = time.time) -> None:
        self.ops = ops
        self.station = Station(ops)
        self.lang = lang
        self._ = translator(lang)
        self.now = now

    def words(self, reason: Reason) -> str:
        return reason.text(self.lang)

    def state_word(self, state: str) -> str:
        return self._(STATE_WORDS.get(state, state))

    # ----- the station: printers and alarms (live) -------------------------------------------

    def panel(self) -> dict[str, Any]:
        """Printers and alarms: what the live stream sends whenever it changes."""
        states = self.ops.daemon.printer_states()
        today = self._recent_jobs(since=midnight(self.now()))
        return {"printers": [self.printer(state, today) for state in states], "alarms": self.alarms()}

    def printer(self, state: PrinterState, today: Iterable[Job]) -> dict[str, Any]:
        counts = self.ops.spool.counts(state.name)
        paused = self.ops.spool.paused(state.name)
        printed_today = sum(j.copies for j in today if j.printer == state.name and j.state == JobState.PRINTED)
        words = self._(PRINTER_STATE_WORDS[state.state.value])
        if state.state == PrinterCondition.STOPPED:
            why = ", ".join(dict.fromkeys(self._(PRINTER_REASON_WORDS.get(r, r)) for r in state.reasons))
            words = f"{words}: {why}" if why else words
        return {
            "name": state.name, "condition": state.state.value, "words": words,
            "message": self.words(state.message), "media": state.media,
            "loaded_media": state.loaded_media, "printed_today": printed_today,
            "waiting": counts[JobState.QUEUED] + counts[JobState.READY], "held": counts[JobState.HELD],
            "paused": paused, "driver": state.driver,
        }

    def alarms(self) -> list[dict[str, str]]:
        """What needs a person now, as the station core says (printers stopped by themselves, the
        clock, parcels to relabel, files rejected whole), with the path of its "Done" button."""
        return [self._alarm(alarm) for alarm in self.station.alarms()]

    def _alarm(self, alarm: dict[str, Any]) -> dict[str, str]:
        reason = Reason.from_json({"code": alarm["reason_code"], "params": alarm["reason_params"],
                                   "text": alarm["reason"]})
        ack = {"relabel": f"/alarms/jobs/{alarm.get('job')}/ack",
               "rejected": f"/alarms/rejected/{alarm.get('rejected')}/ack"}.get(alarm["kind"], "")
        if alarm["kind"] != "printer":
            return {"key": alarm["id"], "kind": alarm["kind"], "text": self.words(reason), "detail": "", "ack": ack}
        why = ", ".join(dict.fromkeys(self._(PRINTER_REASON_WORDS.get(r, r)) for r in alarm["reasons"]))
        text = self._(N_("Printer {printer} stopped: {why}")).format(printer=alarm["printer"],
                                                                      why=why or self._(N_("fault")))
        message = reason.params.get("message")
        detail = Reason.from_json(message).text(self.lang) if isinstance(message, dict) else ""
        return {"key": alarm["id"], "kind": "printer", "text": text, "detail": detail, "ack": ""}

    # ----- a scanned code ---------------------------------------------------------------------

    def scanned(self, code: str) -> dict[str, Any]:
        """The label a scan names (its newest job), or why there is none, in the reader's words."""
        try:
            answer = self.station.lookup(code)
        except OperationError as error:
            return {"code": code, "job": None, "problem": self.words(error.reason), "others": 0}
        matches = answer["matches"]
        return {"code": code, "job": self.job_row(self.ops.job(matches[0]["job"]["id"])), "problem": "",
                "others": len(matches) - 1}

    # ----- the station: queue, history, batches ------------------------------------------------

    def lists(self, filters: Filters) -> dict[str, Any]:
        recent = self._recent_jobs()
        start = midnight(self.now())
        pending = [j for j in recent if j.state in PENDING]
        history = [j for j in recent if j.state not in PENDING and j.updated_at >= start]
        return {
            "queue": [self.job_row(j) for j in reversed(pending) if filters.admits(j)],
            "history": [self.job_row(j) for j in history if filters.admits(j)][:HISTORY_ROWS],
            "batches": self.batches([j for j in recent if j.state in PENDING or j.created_at >= start]),
            "rejected": [{"name": r.name, "reason": self.words(r.reason), "acknowledged": r.acknowledged_at is not None,
                          "when": time.strftime("%H:%M:%S", time.localtime(r.at))}
                         for r in self.station.rejected(today=True)],
        }

    def _recent_jobs(self, since: float | None = None) -> list[Job]:
        jobs = self.ops.spool.jobs(limit=RECENT_JOBS)
        return jobs if since is None else [j for j in jobs if j.updated_at >= since]

    def job_row(self, job: Job) -> dict[str, Any]:
        return {
            "id": job.id, "state": job.state.value, "state_words": self.state_word(job.state.value),
            "printer": job.printer, "posting": job.posting or "", "tracking": job.tracking or "",
            "document": job.document_name, "page": job.page + 1, "reason": self.words(job.reason),
            "when": time.strftime("%H:%M:%S", time.localtime(job.updated_at)),
        }

    def batches(self, jobs: Iterable[Job]) -> list[dict[str, Any]]:
        """Per document: how many of its labels printed, wait, are held or did not print."""
        documents: dict[int, dict[str, Any]] = {}
        for job in jobs:
            if job.reprint_of is not None:
                continue
            doc = documents.setdefault(job.document_id, {"name": job.document_name, "total": 0, "at": job.created_at,
                                                        **{state.value: 0 for state in JobState}})
            doc["total"] += 1
            doc[job.state.value] += 1
        rows = sorted(documents.values(), key=lambda d: d["at"], reverse=True)[:BATCHES]
        return [{"name": d["name"], "line": self._batch_line(d), "done": d["printed"] == d["total"]} for d in rows]

    def _batch_line(self, doc: dict[str, Any]) -> str:
        parts = [self._(N_("{printed}/{total} printed")).format(printed=doc["printed"], total=doc["total"])]
        waiting = doc["queued"] + doc["ready"] + doc["printing"]
        extra = ((waiting, N_("{n} waiting")), (doc["held"], N_("{n} held")),
                 (doc["rejected"] + doc["failed"], N_("{n} not printable")),
                 (doc["duplicate"], N_("{n} repeats")), (doc["superseded"], N_("{n} superseded")),
                 (doc["cancelled"], N_("{n} cancelled")))
        parts += [self._(text).format(n=n) for n, text in extra if n]
        return ", ".join(parts)

    # ----- one job -----------------------------------------------------------------------------

    def job_page(self, job_id: int) -> dict[str, Any]:
        job = self.ops.job(job_id)
        history = self.ops.spool.history(job_id)
        record = job.preflight or {}
        ready = next((e.reason for e in reversed(history) if e.reason.code in READY_CODES), None)
        return {
            **self.job_row(job),
            "copies": job.copies, "confirmed": job.confirmed, "forced": job.forced, "reprint_of": job.reprint_of,
            "has_picture": job.document_kind not in ("zpl", LINK_KIND),
            "not_fetched": job.document_kind == LINK_KIND,
            "size": f"{job.width_mm:.0f}×{job.height_mm:.0f} mm" if job.width_mm and job.height_mm else "",
            "fit": Reason.from_json(ready.params["fit"]).text(self.lang) if ready is not None else "",
            "dpi": record.get("dpi") or self._printer_dpi(job.printer),
            "findings": [self._finding(f) for f in record.get("findings", [])],
            "barcodes": record.get("barcodes", []),
            "images": record.get("images", []),
            "history": [{"when": time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(e.at)),
                         "from": self.state_word(str(e.from_state)) if e.from_state else "",
                         "to": self.state_word(str(e.to_state)), "reason": self.words(e.reason)} for e in history],
            "actions": [name for name, states in ACTIONS.items() if job.state in states],
        }

    def _finding(self, finding: dict[str, Any]) -> dict[str, str]:
        reason = Reason.from_json({"code": finding.get("reason_code", ""), "params": finding.get("reason_params"),
                                   "text": finding.get("reason", "")})
        return {"severity": str(finding.get("severity", "")), "check": str(finding.get("check", "")),
                "text": self.words(reason)}

    def _printer_dpi(self, name: str) -> int | None:
        driver = self.ops.daemon.pipeline.drivers.get(name)
        return driver.geometry.dpi if driver is not None else None
