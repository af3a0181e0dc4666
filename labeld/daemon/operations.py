"""What an operator (through the control socket) can ask of the daemon, in domain terms.

The HTTP routes only translate requests into these calls and their outcomes into responses,
so each rule (what may be reprinted, what a release means) lives here once. Every refusal is an
:class:`OperationError` with a machine code and a sentence saying why and what to do instead.

Release: a held job goes back to ``queued`` so that it is rendered and checked again (the media
may have been changed, the printer replaced). Releasing is the operator saying "I looked at it,
print it", so the job is marked ``forced``: the expiry check and ``hold``-policy findings no
longer hold it, while ``reject`` findings, a newer label for the posting and the printer's
media check still apply. A release *with an override* (a shift lead's reason, recorded with who
gave it) also takes a rejected job and lets no pre-flight finding stop it, for this print only;
a newer label for the posting, a repeat and the printer's media check still apply.
"""

from __future__ import annotations

import os
import pwd
import re
import threading
import time
from dataclasses import dataclass
from typing import Any, Protocol

from labeld import __version__
from labeld.bitmap import to_png
from labeld.clock.monitor import ClockMonitor
from labeld.config import PRINTER_NAME, Config
from labeld.daemon.label_rules import LabelRules
from labeld.daemon.pipeline import Pipeline, RenderObserver
from labeld.daemon.printer_worker import PrinterState, PrinterWorker
from labeld.errors import LabeldError, RejectedInput
from labeld.intake.accept import Accepted, Acceptor
from labeld.intake.remote import RemoteIntake, accept_job, parse_job
from labeld.intake.sidecar import MAX_COPIES, Sidecar, sidecar_from_mapping
from labeld.intake.web import without_query
from labeld.labelmaker import LabelSpec, Symbol, label_pdf, module_count
from labeld.media import parse_media
from labeld.reasons import Reason
from labeld.sources import SourceManager
from labeld.spool.links import LINK_KIND
from labeld.spool.spool import Job, Spool
from labeld.spool.states import CANCELLABLE, InvalidTransition, JobState
from labeld.spool.store import DocumentStore

#: Document names are only labels in the spool, never paths, but they are shown to people and
#: logged: keep them to one plain file name.
DOCUMENT_NAME = re.compile(r"^[^/\\\x00-\x1f.][^/\\\x00-\x1f]{0,199}$")
POSTING = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
HOLDABLE = frozenset({JobState.QUEUED, JobState.READY})
HELD = frozenset({JobState.HELD})
OVERRIDABLE = frozenset({JobState.HELD, JobState.REJECTED})
MAX_OVERRIDE_WHY = 500
UPLOAD_PARAMS = frozenset({"printer", "copies", "posting_number", "tracking_number", "issued_at", "name",
                           "requested_by", "key", "posting_mismatch"})
#: An upload's idempotency key: the same key again answers the first upload's jobs (a CUPS job's uuid).
UPLOAD_KEY = re.compile(r"^[\x21-\x7e]{1,200}$")


class OperationError(LabeldError):
    """A request that cannot be done; ``code`` is stable for scripts, ``reason`` says why to people."""

    code = "refused"

    def __init__(self, reason: Reason, code: str | None = None) -> None:
        super().__init__(reason.text())
        self.reason = reason
        if code is not None:
            self.code = code

    @property
    def message(self) -> str:
        return self.reason.text()


class NotFound(OperationError):
    code = "not_found"


class BadRequest(OperationError):
    code = "bad_request"


class Refused(OperationError):
    """The request is understood but the job's state or the label's validity forbids it."""

    code = "refused"


class DaemonView(Protocol):
    """The parts of :class:`labeld.daemon.app.Daemon` that operations (and the API) use."""

    config: Config
    spool: Spool
    store: DocumentStore
    acceptor: Acceptor
    workers: dict[str, PrinterWorker]
    started_at: float
    clock: ClockMonitor | None
    pipeline: Pipeline
    rules: LabelRules
    render_observers: list[RenderObserver]
    #: The running frontends (the control socket, the station page).
    frontends: list[Any]
    sources: SourceManager
    remote: RemoteIntake

    def printer_states(self) -> list[PrinterState]: ...

    def status_line(self) -> str: ...


@dataclass(frozen=True)
class Actor:
    """Who asked: a local user known by uid (``SO_PEERCRED`` on the control socket), or another face
    of the daemon that vouches for its user (``uid`` None, ``name`` says who)."""

    uid: int | None
    name: str

    @classmethod
    def from_uid(cls, uid: int) -> Actor:
        try:
            name = pwd.getpwuid(uid).pw_name
        except KeyError:
            name = f"uid {uid}"
        return cls(uid, name)

    @classmethod
    def this_process(cls) -> Actor:
        return cls.from_uid(os.geteuid())

    @property
    def who(self) -> str:
        return f"{self.name} (uid {self.uid})" if self.uid is not None and self.name != f"uid {self.uid}" else self.name

    def to_json(self) -> dict[str, Any]:
        return {"by": self.who, "uid": self.uid}


@dataclass(frozen=True)
class ReprintRequest:
    copies: int = 1
    printer: str | None = None
    force: bool = False


class Operations:
    def __init__(self, daemon: DaemonView) -> None:
        self.daemon = daemon
        self._keyed_uploads = threading.Lock()

    @property
    def spool(self) -> Spool:
        return self.daemon.spool

    # ----- reading ------------------------------------------------------------------------

    def status(self) -> dict[str, Any]:
        daemon = self.daemon
        return {
            "version": __version__,
            "started_at": daemon.started_at,
            "uptime": time.time() - daemon.started_at,
            "summary": daemon.status_line(),
            "jobs": self.spool.counts(),
            "printers": self.printers(),
            "sources": daemon.sources.snapshots(),
            "clock": self.clock(),
        }

    def clock(self) -> dict[str, Any] | None:
        clock = self.daemon.clock
        return clock.snapshot().to_json() if clock is not None else None

    def printers(self) -> list[dict[str, Any]]:
        return [self._printer_json(state) for state in self.daemon.printer_states()]

    def _printer_json(self, state: PrinterState) -> dict[str, Any]:
        counts = self.spool.counts(state.name)
        return {**state.to_json(), "paused": self.spool.paused(state.name),
                "waiting": counts[JobState.QUEUED] + counts[JobState.READY], "held": counts[JobState.HELD],
                "default": self.daemon.config.default_printer.name == state.name}

    def jobs(self, *, state: str | None = None, printer: str | None = None, posting: str | None = None,
             document: str | None = None, limit: int = 50) -> list[Job]:
        if state is not None and state not in {s.value for s in JobState}:
            raise BadRequest(Reason("op.unknown_state", state=state, states=[s.value for s in JobState]))
        if printer is not None:
            self._check_printer_name(printer)
        if posting is not None:
            _check_posting(posting)
        if not 1 <= limit <= 1000:
            raise BadRequest(Reason("op.bad_limit", limit=limit))
        return self.spool.jobs(state=JobState(state) if state else None, printer=printer, posting=posting,
                               document=document, limit=limit)

    def job(self, job_id: int) -> Job:
        job = self.spool.job(job_id)
        if job is None:
            raise NotFound(Reason("op.no_job", job=job_id))
        return job

    def job_detail(self, job_id: int) -> dict[str, Any]:
        job = self.job(job_id)
        detail = job.to_json()
        link = self.spool.link_info(job.document_id)
        if link is not None:  # a label that came as a link: shown without its query (the signature)
            detail["link"] = {**link, "url": without_query(link["url"])}
        detail["history"] = [event.to_json() for event in self.spool.history(job_id)]
        detail["reprints"] = [j.id for j in self.spool.jobs(label_id=job.label_id, limit=1000)
                              if j.reprint_of is not None]
        return detail

    def events(self, after: int | None, timeout: float) -> dict[str, Any]:
        """State changes after ``after`` (None: from now), waiting up to ``timeout`` for the first."""
        start = self.spool.last_event_id() if after is None else after
        deadline = time.monotonic() + timeout
        while True:
            mark = self.spool.change_mark
            events = self.spool.events_after(start)
            left = deadline - time.monotonic()
            if events or left <= 0:
                break
            self.spool.wait_for_change(min(left, 1.0), since=mark)
        last = events[-1].id if events else start
        return {"events": [self._event_json(e.to_json()) for e in events], "last": last}

    def _event_json(self, event: dict[str, Any]) -> dict[str, Any]:
        if event["job"] is None:
            return event
        job = self.spool.job(event["job"])
        event["printer"] = job.printer if job else None
        event["posting"] = job.posting if job else None
        return event

    # ----- intake -------------------------------------------------------------------------

    def upload(self, data: bytes, params: dict[str, str]) -> Accepted:
        unknown = sorted(set(params) - UPLOAD_PARAMS)
        if unknown:
            raise BadRequest(Reason("op.unknown_params", names=unknown, known=sorted(UPLOAD_PARAMS)))
        name = params.get("name", f"upload-{time.strftime('%Y%m%d-%H%M%S')}.pdf")
        if not DOCUMENT_NAME.match(name):
            raise BadRequest(Reason("op.bad_document_name", name=name))
        if "printer" in params:
            self._check_printer(params["printer"])
        sidecar = _sidecar(params)
        try:
            return self._accept_upload(data, name, sidecar, params.get("key"))
        except RejectedInput as error:
            self.daemon.acceptor.record_rejection(error, name=name, source="api", size=len(data), told=True)
            raise

    def _accept_upload(self, data: bytes, name: str, sidecar: Sidecar, key: str | None) -> Accepted:
        if key is None:
            return self.daemon.acceptor.accept(data, name=name, source="api", sidecar=sidecar)
        if not UPLOAD_KEY.match(key):
            raise BadRequest(Reason("op.bad_upload_key"))
        intake_key = f"api:{key}"
        with self._keyed_uploads:  # one keyed upload at a time: a key is stored once
            known = self.spool.document_by_intake_key(intake_key)
            if known is not None:
                document, jobs = known
                return Accepted(document, tuple(j for j, _ in jobs), tuple(p for _, p in jobs), repeat=True)
            return self.daemon.acceptor.accept(data, name=name, source="api", sidecar=sidecar, intake_key=intake_key)

    def submit_job(self, body: dict[str, Any]) -> Accepted:
        """``POST /v1/jobs``: a label as a link (``label_url``) or a code (``label_code``), with the
        sidecar's fields; ``name`` and ``key`` (idempotency) as for an upload."""
        raw = dict(body)
        name, key = raw.pop("name", None), raw.pop("key", None)
        if name is not None and (not isinstance(name, str) or not DOCUMENT_NAME.match(name)):
            raise BadRequest(Reason("op.bad_document_name", name=repr(name)))
        if key is not None and (not isinstance(key, str) or not UPLOAD_KEY.match(key)):
            raise BadRequest(Reason("op.bad_upload_key"))
        if isinstance(raw.get("printer"), str):
            self._check_printer(raw["printer"])
        shown = name or f"job-{time.strftime('%Y%m%d-%H%M%S')}"
        try:
            job = parse_job(raw)
        except RejectedInput as error:
            self.daemon.acceptor.record_rejection(error, name=shown, source="api", told=True)
            raise
        intake_key = f"api:{key}" if key is not None else None
        with self._keyed_uploads:
            if intake_key is not None:
                known = self.spool.document_by_intake_key(intake_key)
                if known is not None:
                    document, jobs = known
                    return Accepted(document, tuple(j for j, _ in jobs), tuple(p for _, p in jobs), repeat=True)
            try:
                accepted = accept_job(self.daemon.acceptor, job, name=shown, source="api", intake_key=intake_key)
            except RejectedInput as error:
                self.daemon.acceptor.record_rejection(error, name=shown, source="api", told=True)
                raise
        if job.url is not None:
            self.daemon.remote.wake()
        return accepted

    # ----- changing jobs --------------------------------------------------------------------

    def cancel(self, job_id: int) -> Job:
        return self._move(job_id, JobState.CANCELLED, Reason("job.cancelled"), CANCELLABLE, "rule.cancel")

    def hold(self, job_id: int) -> Job:
        return self._move(job_id, JobState.HELD, Reason("job.held_by_operator"), HOLDABLE, "rule.hold")

    def release(self, job_id: int, override: str | None = None, actor: Actor | None = None) -> Job:
        """Print a held job after all: rendered and checked again, marked ``forced`` (see the module
        docstring), in one committed step. With ``override`` (why, in the operator's words) also a
        rejected job, past every pre-flight finding, recorded in its history with who gave it."""
        if override is None:
            job = self.job(job_id)
            if job.state is JobState.REJECTED:
                raise Refused(Reason("op.wrong_state", job=job_id, state=job.state.value, why=job.reason,
                                     rule=Reason("rule.release_rejected", job=job_id)), "wrong_state")
            return self._move(job_id, JobState.QUEUED, Reason("job.released"), HELD, "rule.release", forced=True)
        why = " ".join(override.split())
        if not why or len(why) > MAX_OVERRIDE_WHY:
            raise BadRequest(Reason("op.bad_override", limit=MAX_OVERRIDE_WHY))
        who = actor or Actor(None, "an unidentified caller")
        reason = Reason("job.released_override", by=who.who, why=why)
        return self._move(job_id, JobState.QUEUED, reason, OVERRIDABLE, "rule.override", forced=True,
                          override={**who.to_json(), "why": why})

    def _move(self, job_id: int, target: JobState, reason: Reason, allowed: frozenset[JobState], rule: str,
              forced: bool | None = None, override: dict[str, Any] | None = None) -> Job:
        self._require_state(self.job(job_id), allowed, rule)
        try:
            moved = self.spool.transition(job_id, target, reason, expect=allowed, forced=forced, override=override)
        except InvalidTransition:
            raise Refused(Reason("op.wrong_state", job=job_id, state=self.job(job_id).state.value,
                                 why=self.job(job_id).reason, rule=Reason(rule)), "wrong_state") from None
        self._wake(moved.printer)
        return moved

    @staticmethod
    def _require_state(job: Job, allowed: frozenset[JobState], rule: str) -> None:
        if job.state not in allowed:
            raise Refused(Reason("op.wrong_state", job=job.id, state=job.state.value, why=job.reason,
                                 rule=Reason(rule)), "wrong_state")

    # ----- reprints -----------------------------------------------------------------------

    def reprint_job(self, job_id: int, request: ReprintRequest) -> list[int]:
        return self._reprint(self.job(job_id), request)

    def reprint_posting(self, posting: str, request: ReprintRequest) -> list[int]:
        _check_posting(posting)
        jobs = self.spool.jobs(posting=posting, limit=1000)
        if not jobs:
            raise NotFound(Reason("op.no_posting", posting=posting))
        newest = max(jobs, key=lambda j: (j.issued_at, j.label_id, j.reprint_of is None, -j.id))
        return self._reprint(newest, request)

    def _reprint(self, job: Job, request: ReprintRequest) -> list[int]:
        printer = request.printer or job.printer
        self._check_printer(printer)
        if not 1 <= request.copies <= MAX_COPIES:
            raise BadRequest(Reason("op.bad_copies", limit=MAX_COPIES, copies=request.copies))
        unfetched = self.daemon.rules.not_fetched(job)  # nothing to print: not even a forced reprint
        if unfetched:
            raise Refused(Reason("op.reprint_refused", why=unfetched), "label_invalid")
        if not request.force:
            problem = self.daemon.rules.why_not_reprint(job)
            if problem:
                raise Refused(Reason("op.reprint_refused", why=problem), "label_invalid")
        origin = job.reprint_of or job.id
        reason = Reason("job.reprint_forced" if request.force else "job.reprint", origin=origin)
        new_id = self.spool.add_reprint(job, printer, request.copies, reason, request.force)
        self._wake(printer)
        return [new_id]

    # ----- printers -----------------------------------------------------------------------

    def pause(self, name: str) -> dict[str, Any]:
        self._check_printer(name)
        self.spool.set_paused(name, True, "paused by an operator")
        return self._after_pause_change(name)

    def resume(self, name: str) -> dict[str, Any]:
        self._check_printer(name)
        self.spool.set_paused(name, False, "")
        return self._after_pause_change(name)

    def _after_pause_change(self, name: str) -> dict[str, Any]:
        self._wake(name)
        state = next(s for s in self.daemon.printer_states() if s.name == name)
        return self._printer_json(state)

    def test_page(self, name: str) -> Accepted:
        self._check_printer(name)
        printer = self.daemon.config.printer(name)
        assert printer is not None
        data = test_label_pdf(name, printer.media)
        stamp = time.strftime("%Y%m%d-%H%M%S")
        return self.daemon.acceptor.accept(data, name=f"test-{name}-{stamp}.pdf", source="test",
                                           sidecar=Sidecar(printer=name))

    def _check_printer(self, name: str) -> None:
        self._check_printer_name(name)
        if self.daemon.config.printer(name) is None:
            names = [p.name for p in self.daemon.config.printers]
            raise NotFound(Reason("op.no_printer", printer=name, printers=names))

    @staticmethod
    def _check_printer_name(name: str) -> None:
        if not PRINTER_NAME.match(name):
            raise BadRequest(Reason("op.bad_printer_name", printer=name))

    def _wake(self, printer: str) -> None:
        worker = self.daemon.workers.get(printer)
        if worker is not None:
            worker.wake()

    # ----- preview ------------------------------------------------------------------------

    def preview_png(self, job_id: int) -> bytes:
        """The stored bitmap of a job, or one rendered now the same way the pipeline would."""
        job = self.job(job_id)
        if job.document_kind == "zpl":
            raise Refused(Reason("op.preview_raw", job=job_id), "no_preview")
        if job.document_kind == LINK_KIND:
            link = self.spool.link_info(job.document_id)
            url = without_query(link["url"]) if link else "?"
            raise Refused(Reason("op.preview_not_fetched", job=job_id, url=url), "no_preview")
        path = self.daemon.store.bitmap_path(job_id)
        try:
            return path.read_bytes()
        except FileNotFoundError:
            return self._render_preview(job)

    def _render_preview(self, job: Job) -> bytes:
        pipeline = self.daemon.pipeline
        driver = pipeline.drivers.get(job.printer)
        if driver is None:
            raise Refused(Reason("op.preview_printer_unusable", printer=job.printer, job=job.id), "no_preview")
        if not self.daemon.store.document_path(job.document_sha256).exists():
            raise NotFound(Reason("op.document_gone", job=job.id))
        try:
            result = pipeline.render(job, driver)
        except RejectedInput as error:
            raise Refused(error.reason, "no_preview") from None
        return to_png(result.bitmap, dpi=driver.geometry.dpi)


def _check_posting(posting: str) -> None:
    if not POSTING.match(posting):
        raise BadRequest(Reason("op.bad_posting", posting=posting))


def _sidecar(params: dict[str, str]) -> Sidecar:
    raw: dict[str, Any] = {k: v for k, v in params.items() if k not in ("name", "key")}
    if "copies" in raw:
        try:
            raw["copies"] = int(raw["copies"])
        except ValueError:
            raise BadRequest(Reason("op.bad_number", name="copies", value=raw["copies"])) from None
    try:
        return sidecar_from_mapping(raw)
    except RejectedInput as error:
        raise BadRequest(error.reason) from None


def test_label_pdf(printer: str, media: str) -> bytes:
    """A label with the printer's name, the time and a Code128, sized to the printer's medium.

    The time is on the label so that two test pages are not taken for a repeated label.
    """
    stock = parse_media(media)
    width, length = stock.width_mm, stock.length_mm or min(60.0, stock.width_mm)
    value = f"T{time.time_ns() // 1_000_000 % 10**12:012d}"
    module = min(0.4, round((width - 8) / module_count("code128", value), 3))
    symbol = Symbol("code128", value, 4.0, 4.0, module, height_mm=min(15.0, length * 0.3))
    spec = LabelSpec(posting="test page", tracking=f"{printer} {time.strftime('%Y-%m-%d %H:%M:%S')}",
                     size_mm=(width, length), symbols=(symbol,))
    return label_pdf(spec)
