"""The render worker: ``queued`` jobs become ``ready`` (or held, rejected, superseded, duplicate).

One thread takes queued jobs in id order, so labels reach each printer's FIFO in the order
they arrived, and a 100-page batch streams: page 1 is ready (and printing) while page 2 renders.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import structlog

from labeld.bitmap import to_png
from labeld.config import Config
from labeld.daemon.label_rules import LabelRules, Verdict
from labeld.drivers.base import Driver
from labeld.errors import RenderFailed
from labeld.page_job import RenderRequest, RenderResult, render_page_job
from labeld.reasons import Reason
from labeld.spool.spool import Job, Spool
from labeld.spool.states import InvalidTransition, JobState
from labeld.spool.store import DocumentStore

log = structlog.get_logger("labeld.pipeline")

QUEUED = frozenset({JobState.QUEUED})
#: A finding's policy → the state it sends a job to.
POLICY_STATE = {"reject": JobState.REJECTED, "hold": JobState.HELD}

Renderer = Callable[[RenderRequest], RenderResult]
#: Told how long each label took to render and check (the metrics' histogram).
RenderObserver = Callable[[float], None]


class Pipeline:
    def __init__(self, config: Config, spool: Spool, store: DocumentStore, drivers: dict[str, Driver[Any]],
                 rules: LabelRules, renderer: Renderer = render_page_job,
                 on_render: RenderObserver | None = None) -> None:
        self.config = config
        self.spool = spool
        self.store = store
        self.drivers = drivers
        self.rules = rules
        self.renderer = renderer
        self.on_render = on_render
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="render", daemon=True)
        self.busy = False

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        self._stop.set()
        self.spool.notify_change()
        self._thread.join(timeout)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self._round()
            except Exception as error:  # the render thread must outlive any single failure
                log.exception("render_loop_error", error=str(error))
                self._stop.wait(1.0)

    def _round(self) -> None:
        while not self._stop.is_set():
            mark = self.spool.change_mark
            if not self.run_once():
                self.busy = False
                self.spool.wait_for_change(1.0, since=mark)

    def run_once(self, limit: int = 8) -> int:
        """Render and decide up to ``limit`` queued jobs, oldest first; how many there were."""
        jobs = self.spool.queued(limit=limit)
        self.busy = bool(jobs)
        for job in jobs:
            if self._stop.is_set():
                break
            try:
                self.process(job)
            except Exception as error:
                log.exception("render_worker_error", job=job.id, error=str(error))
                self._move(job, Verdict(JobState.HELD, Reason("job.prepare_failed", error=str(error))))
        return len(jobs)

    def process(self, job: Job) -> None:
        """Render, check and decide one queued job."""
        jlog = log.bind(job=job.id, label=job.label_id, printer=job.printer, page=job.page + 1)
        driver = self.drivers.get(job.printer)
        if driver is None:
            self._move(job, Verdict(JobState.HELD, Reason("job.printer_gone", printer=job.printer)))
            return
        if job.document_kind == "zpl":
            self._move(job, Verdict(JobState.READY, Reason("job.ready_raw", printer=job.printer)))
            return
        try:
            result = self.render(job, driver)
        except RenderFailed as error:
            jlog.warning("render_rejected", reason=error.reason.text())
            self._move(job, Verdict(JobState.REJECTED, error.reason))
            return
        posting = result.posting or job.posting
        tracking = job.tracking or result.tracking
        record = dict(result.record)
        clock_note = self.rules.clock_note()
        if clock_note:
            record["clock"] = clock_note
        codes = record.get("codes") or [barcode["value"] for barcode in record.get("barcodes", [])]
        self.spool.update_label(job.label_id, codes=codes, posting=posting, tracking=tracking,
                                content_hash=result.content_hash, preflight=record)
        job = self.spool.job(job.id) or job
        verdict = self._decide(job, result)
        if verdict.state is None and verdict.reason is not None:
            record["expiring"] = verdict.reason.text()
            self.spool.update_label(job.label_id, preflight=record)
        if verdict.state in (None, JobState.READY):
            self.store.put_bitmap(job.id, to_png(result.bitmap, dpi=driver.geometry.dpi))
            red = result.red
            if red is not None and red.any():
                self.store.put_bitmap(job.id, to_png(red, dpi=driver.geometry.dpi), plane="red")
        ready = Verdict(JobState.READY, self._ready_reason(job, result, verdict.reason))
        self._move(job, verdict if verdict.state else ready)
        jlog.info("label_rendered", state=(verdict.state or JobState.READY).value, posting=posting)

    def render_request(self, job: Job, driver: Driver[Any]) -> RenderRequest:
        """How ``job``'s page is rendered for ``driver``: the one place a request is made, so that a
        preview is exactly what prints."""
        return RenderRequest(
            document_path=str(self.store.document_path(job.document_sha256)), page=job.page,
            geometry=driver.geometry, threshold=self.config.render.threshold, preflight=self.config.preflight,
            posting=job.posting, tracking=job.tracking, min_zoom=self.config.render.min_zoom, red=driver.prints_red,
            posting_mismatch=job.posting_mismatch,
            alternatives=tuple((name, d.geometry.width_mm, d.geometry.length_mm)
                               for name, d in self.drivers.items() if name != job.printer),
        )

    def render(self, job: Job, driver: Driver[Any]) -> RenderResult:
        """Render and check ``job``'s page for ``driver``; :class:`RenderFailed` says why it cannot be."""
        started = time.perf_counter()
        try:
            return self.renderer(self.render_request(job, driver))
        except RenderFailed:
            raise
        except Exception as error:  # PyMuPDF and the sandbox raise many kinds; all mean "this page"
            raise RenderFailed(Reason("render.page_failed", page=job.page + 1, error=str(error))) from error
        finally:
            if self.on_render is not None:
                self.on_render(time.perf_counter() - started)

    def _decide(self, job: Job, result: RenderResult) -> Verdict:
        if job.reprint_of is None:
            for rule in (self.rules.duplicate, self.rules.supersede):
                verdict = rule(job)
                if verdict.state is not None:
                    return verdict
        for finding in result.findings if job.override is None else ():  # an override passes every finding
            state = POLICY_STATE.get(finding.policy)
            if state is not None and not (job.forced and state is JobState.HELD):
                return Verdict(state, finding.reason)
        return self.rules.validity(job)

    def _ready_reason(self, job: Job, result: RenderResult, expiring: Reason | None) -> Reason:
        passed = ("warn",) if job.override is None else ("warn", "hold", "reject")  # an override says what it passed
        warnings = [f.reason for f in result.findings if f.policy in passed]
        warnings += [Reason.from_json(w) for w in result.record.get("warnings", [])]
        warnings += [expiring] if expiring else []
        fit = Reason.from_json(result.record.get("fit_reason") or {"code": "text", "params": {"text": ""}})
        if warnings:
            return Reason("job.ready_warning", printer=job.printer, fit=fit, warnings=warnings)
        return Reason("job.ready", printer=job.printer, fit=fit)

    def _move(self, job: Job, verdict: Verdict) -> None:
        assert verdict.state is not None and verdict.reason is not None
        try:
            self.spool.transition(job.id, verdict.state, verdict.reason, expect=QUEUED,
                                  duplicate_of=verdict.duplicate_of)
        except InvalidTransition as error:
            log.info("job_changed_meanwhile", job=job.id, detail=str(error))
