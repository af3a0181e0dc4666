"""One thread per printer: ``ready`` jobs go out in order, one label at a time.

The worker owns the retry loop so that drivers stay simple. A printer that is offline, out of
media or open does not fail its jobs: they stay ``ready`` and the worker asks again with
backoff. Each label is marked ``printing`` (committed) before its first byte leaves, so that a
crash mid-label is found as ``uncertain`` at the next start.

:meth:`PrinterWorker.step` does one unit of work and says how long to wait before the next;
the thread only loops over it, so tests can drive a printer step by step.

While nothing prints, the worker asks the printer how it is every ``probe_interval`` (a status
request where the protocol has one, SNMP for a network printer, a connection where nothing else
answers), so a printer switched off shows ``offline`` before a job finds out. At start, labels
left ``uncertain`` by a crash are first settled by the printer's page counter where it has one
(:mod:`labeld.daemon.settle`).
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any

import structlog

from labeld import failpoints
from labeld.bitmap import from_png
from labeld.config import PrinterConfig
from labeld.daemon.settle import CounterSettlement, sending_reason
from labeld.devices import Device
from labeld.drivers.base import Driver, PrinterStatus
from labeld.drivers.snmp_status import SnmpStatus
from labeld.errors import DeviceError, LabeldError, PrinterRefused, PrinterWaiting
from labeld.reasons import Reason
from labeld.render.place import placed_page_pdf
from labeld.spool.spool import Job, Spool
from labeld.spool.states import InvalidTransition, JobState
from labeld.spool.store import DocumentStore

log = structlog.get_logger("labeld.printer")

BACKOFF_START = 0.25
BACKOFF_MAX = 3.0
#: Close an idle connection after this long, so a printer is free for others between batches.
IDLE_CLOSE_SECONDS = 5.0
READY = frozenset({JobState.READY})
MEDIA_MISMATCH = "printer.media_mismatch"


class PrinterCondition(StrEnum):
    """IPP's printer-state: what a printer is doing, in one word."""

    IDLE = "idle"
    PRINTING = "printing"
    STOPPED = "stopped"


@dataclass(frozen=True)
class PrinterState:
    """What ``labelctl printers`` shows: IPP-style state plus reason keywords and a sentence."""

    name: str
    driver: str
    uri: str
    media: str
    state: PrinterCondition = PrinterCondition.IDLE
    reasons: tuple[str, ...] = ()
    message: Reason = field(default_factory=lambda: Reason.plain(""))
    since: float = field(default_factory=time.time)
    printed: int = 0
    loaded_media: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "driver": self.driver, "uri": self.uri, "media": self.media,
                "state": self.state.value, "reasons": list(self.reasons), "message": self.message.text(),
                "message_code": self.message.code, "message_params": dict(self.message.params),
                "since": self.since, "printed": self.printed, "loaded_media": self.loaded_media}


#: Decides, just before a label prints, whether it must stop instead (e.g. it expired while the
#: printer was out of paper): the state it goes to (held or rejected) and why, or None to print.
HoldCheck = Callable[[Job], tuple[JobState, Reason] | None]
#: How often the printer is asked while a label waits for the one ahead of it (pipelining).
PIPELINE_POLL = 0.01


@dataclass
class Sent:
    """A label whose bytes went out and whose printing is not yet confirmed."""

    job: Job
    bytes: int
    jlog: Any
    #: A status answer after the label went out showed it whole in the printer.
    accepted: bool = False
    #: Why the connection it went out on dropped, while the label waited whole in the printer; set
    #: until a status answer on a new connection says whether the printer still holds it.
    carried: str | None = None


#: ``step`` returns how long to wait before the next step; IDLE means "until the spool changes".
IDLE: float | None = None


class PrinterWorker:
    """``clock`` stamps the printer's state changes; ``monotonic`` times the idle connection (tests
    pass a fake clock for both)."""

    def __init__(self, printer: PrinterConfig, driver: Driver[Any], spool: Spool, store: DocumentStore,
                 hold_check: HoldCheck | None = None, clock: Callable[[], float] = time.time,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self.printer = printer
        self.driver = driver
        self.spool = spool
        self.store = store
        self.hold_check = hold_check
        self.clock = clock
        self.monotonic = monotonic
        self.state = PrinterState(printer.name, printer.driver, printer.uri, printer.media, since=clock())
        self._device: Device | None = None
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._backoff = BACKOFF_START
        self._thread = threading.Thread(target=self._run, name=f"printer-{printer.name}", daemon=True)
        self._last_used = 0.0
        self._probed_at = -float("inf")
        #: The last status, where it was unknown with reasons to show (SNMP gone silent).
        self._unknown: PrinterStatus | None = None
        self.log = log.bind(printer=printer.name)
        self._settling: CounterSettlement | None = CounterSettlement(spool, printer.name, self.log)
        #: Labels sent but not yet confirmed, oldest first (pipelining: at most two, one on the head
        #: and one queued in the printer behind it).
        self._inflight: list[Sent] = []
        #: Carried labels were sent back to ``ready`` since the last step looked (they go first).
        self._resent = False
        self._snmp = self._remembered_snmp()

    def _remembered_snmp(self) -> SnmpStatus | None:
        """A network printer on ``status = "auto"``: its fallback to write-only is kept in the spool, so
        that after a restart no label waits for an SNMP agent that is known to be silent."""
        snmp = getattr(self.driver, "snmp", None)
        if not isinstance(snmp, SnmpStatus):
            return None
        key = snmp.memory_key
        snmp.remember = lambda at: self.spool.keep(key, None if at is None else repr(at))
        noted = self.spool.kept(key)
        if noted is not None and snmp.mode == "auto":
            with contextlib.suppress(ValueError):
                snmp.restore(float(noted))
        return snmp

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        """Finish the label on the wire (never cut one off), then stop."""
        self._stop.set()
        self.wake()
        if self._thread.is_alive():
            self._thread.join(timeout)
        self._close()

    def wake(self) -> None:
        self._wake.set()
        self.spool.notify_change()

    # ----- the loop -----------------------------------------------------------------------

    def usable(self) -> bool:
        """False (and the printer shown stopped) when its driver cannot work on this machine."""
        problem = self.driver.self_check()
        if problem:
            self._set(state=PrinterCondition.STOPPED, reasons=("other",), message=Reason.plain(problem))
            self.log.error("printer_unusable", reason=problem)
        return problem is None

    def _run(self) -> None:
        if not self.usable():
            return
        if self._snmp is not None:
            self._snmp.begin()  # auto's first SNMP question, answered before a label needs it
        while not self._stop.is_set():
            mark = self.spool.change_mark
            try:
                delay = self.step()
            except Exception as error:  # one bad label must not kill the printer's thread
                self.log.exception("printer_worker_error", error=str(error))
                delay = self._next_backoff()
            if delay is IDLE:  # a label made ready during the step (a slow status probe) wakes it at once
                self.spool.wait_for_change(1.0, since=mark)
            elif delay:
                self._sleep(delay)
        self._settle_all()

    def step(self) -> float | None:
        """Print the next ready label if the printer can take it; seconds to wait before the next
        step (0: go on at once), or IDLE when there is nothing to do."""
        if self.spool.paused(self.printer.name):
            if self._inflight and not self._settle_all():
                return self._next_backoff()
            self._close()
            self._set(state=PrinterCondition.STOPPED, reasons=("paused",), message=Reason("printer.paused"))
            return IDLE
        if self._settling is not None:
            if self._settling.candidates and not self._settling.step(self._probe()):
                return self._next_backoff()
            self._settling = None
        job = self.spool.next_ready(self.printer.name)
        if job is None or self.spool.has_earlier_pending(self.printer.name, job.id):
            if self._inflight:
                return 0.0 if self._settle_all() else self._next_backoff()
            if self.monotonic() - self._last_used > IDLE_CLOSE_SECONDS:
                self._close()
            if self.state.state == PrinterCondition.PRINTING or "paused" in self.state.reasons:
                self._set(state=PrinterCondition.IDLE, reasons=(), message=Reason.plain(""))
            if self._device is None and 0 < self.printer.probe_interval <= time.monotonic() - self._probed_at:
                self._probe()
            return IDLE
        if self._print(job):
            self._backoff = BACKOFF_START
            return 0.0
        return self._next_backoff()

    def _print(self, job: Job) -> bool:
        """Try to print one job; False when the printer is not ready (the job stays ``ready``)."""
        jlog = self.log.bind(job=job.id, label=job.label_id, page=job.page + 1, posting=job.posting)
        self._resent = False
        try:
            device = self._open()
            status = self.driver.ask(device) if self._inflight else self.driver.status(device)
            self._noted(status)
            if self._inflight:  # the next label goes out while at most one earlier one is in the printer
                waited = self._drain(device, status, 1 if self._pipelines(job, status, device) else 0)
                if waited is None:
                    return False
                if self._resent:  # a label ahead of this one goes again first
                    self._resent = False
                    return True
                status = waited
        except DeviceError as error:
            self._lost_inflight(error)
            self._offline(str(error))
            return False
        if status.known and status.blocked:
            self._blocked(status)
            return False
        mismatch = self.driver.media_mismatch(status)
        stop = (JobState.HELD, mismatch) if mismatch else (self.hold_check(job) if self.hold_check else None)
        if stop:
            self._stop_job(job, *stop, jlog)
            return True
        data = self._encode(job)
        if data is None:
            return True
        try:
            sending = sending_reason(self.printer.name, status, _labels(job))
            job = self.spool.transition(job.id, JobState.PRINTING, sending, expect=READY, attempt=True)
        except InvalidTransition:
            return True  # cancelled or held by an operator a moment ago
        self._set(state=PrinterCondition.PRINTING, reasons=(), message=Reason("printer.printing_job", job=job.id))
        failpoints.hit("before-send")
        return self._send(job, data, device, status, jlog)

    def _encode(self, job: Job) -> list[bytes] | None:
        try:
            if job.document_kind == "zpl":
                raw = self.store.document_path(job.document_sha256).read_bytes()
                return [self.driver.encode_raw(raw)] * (1 if self.driver.native_copies else job.copies)
            if self.driver.uses_page_pdf:
                pdf = self.store.document_path(job.document_sha256).read_bytes()
                page = self.driver.encode_page(placed_page_pdf(pdf, job.page, self.driver.geometry), job.copies)
                if page is not None:
                    return [page]
            bitmap = from_png(self.store.bitmap_path(job.id).read_bytes())
        except FileNotFoundError:
            self._requeue(job, Reason("job.bitmap_missing"))
            return None
        except (ValueError, OSError) as error:
            self._requeue(job, Reason("job.bitmap_unreadable", error=str(error)))
            return None
        red_path = self.store.bitmap_path(job.id, "red")
        if self.driver.prints_red and red_path.exists():
            return [self.driver.encode_two_colour(bitmap, from_png(red_path.read_bytes()), job.copies)]
        if self.driver.native_copies:
            return [self.driver.encode(bitmap, job.copies)]
        return [self.driver.encode(bitmap, 1)] * job.copies

    def _send(self, job: Job, chunks: list[bytes], device: Device, status: PrinterStatus, jlog: Any) -> bool:
        total = sum(len(c) for c in chunks)
        sent = 0
        try:
            for copy, data in enumerate(chunks, start=1):
                suffix = f"-{copy}" if len(chunks) > 1 else ""
                device.write(data, name=f"job-{job.id:06d}{suffix}.{self.driver.extension}")
                sent += len(data)
            failpoints.hit("after-send")
            if self._pipelines(job, status, device):
                self._inflight.append(Sent(job, total, jlog))
                self._last_used = self.monotonic()
                return True
            if status.known:
                confirmed = self.driver.confirm(device, self.printer.confirm_timeout, _labels(job))
            else:
                confirmed = False
                self._device = None  # finish() ends this connection
                device.finish(self.printer.confirm_timeout)
        except PrinterWaiting as error:
            reason = Reason("job.held_by_printer", error=str(error))
            self.spool.transition(job.id, JobState.READY, reason)
            jlog.warning("job_waiting", reason=reason.text())
            self._set(state=PrinterCondition.STOPPED, reasons=(error.reason,), message=Reason.plain(str(error)))
            return False
        except DeviceError as error:
            self._interrupted(job, error, sent + error.bytes_sent, total, jlog)
            return False
        except PrinterRefused as error:
            self.spool.transition(job.id, JobState.FAILED, Reason("job.refused", error=str(error)))
            jlog.error("job_failed", reason=str(error))
            return True
        self._last_used = self.monotonic()
        self._printed(job, confirmed, total, jlog)
        return True

    def _printed(self, job: Job, confirmed: bool, total: int, jlog: Any) -> None:
        printed = "job.printed_confirmed" if confirmed else "job.printed_unconfirmed"
        self.spool.transition(job.id, JobState.PRINTED, Reason(printed, printer=self.printer.name),
                              confirmed=confirmed)
        self._set(state=PrinterCondition.PRINTING, reasons=(), message=Reason("printer.printed_job", job=job.id),
                  printed=self.state.printed + 1)
        jlog.info("job_printed", confirmed=confirmed, bytes=total)

    # ----- pipelining -------------------------------------------------------------------

    def _pipelines(self, job: Job, status: PrinterStatus, device: Device) -> bool:
        """Whether ``job`` may go out before the label ahead of it is confirmed: the printer is set to
        ``pipeline = true``, says how many labels it holds (ZPL's ``~HS``), and the job is labeld's own
        (raw ZPL may hold any number of formats)."""
        return (self.printer.pipeline and device.bidirectional and status.known and job.document_kind != "zpl"
                and self.driver.queued(status) is not None)

    def _drain(self, device: Device, status: PrinterStatus, most: int) -> PrinterStatus | None:
        """Confirm the in-flight labels the printer no longer holds, asking again until at most ``most``
        are left; the last answer, or None while the printer stands still in a fault (shown; the labels
        stay ``printing`` until it prints them). Past ``confirm_timeout`` the oldest are counted printed
        unconfirmed, as a label the printer never confirms is (one carried over a dropped connection is
        sent again instead: nothing said it printed). Raises DeviceError."""
        deadline = time.monotonic() + self.printer.confirm_timeout
        while True:
            self._confirm_done(status)
            if len(self._inflight) <= most:
                return status
            if status.known and status.blocked:
                self._blocked(status)
                return None
            if time.monotonic() >= deadline:
                while len(self._inflight) > most:
                    sent = self._inflight.pop(0)
                    if sent.carried is not None:  # no word from the printer on it since the drop
                        self._resend_carried(sent)
                    else:
                        self._printed(sent.job, False, sent.bytes, sent.jlog)
                return status
            time.sleep(PIPELINE_POLL)
            status = self.driver.ask(device)
            self._noted(status)

    def _confirm_done(self, status: PrinterStatus) -> None:
        """The in-flight labels ``status`` (asked after they were sent) says the printer is done with;
        the others, where it holds no half-received format, are whole in the printer (``accepted``)."""
        queued = self.driver.queued(status)
        if queued is None:
            return
        self._recount_carried(queued)
        if not status.detail.get("partial_format"):
            for sent in self._inflight:
                sent.accepted = True
        while len(self._inflight) > queued:
            sent = self._inflight.pop(0)
            self._printed(sent.job, True, sent.bytes, sent.jlog)

    def _settle_all(self) -> bool:
        """Wait for every in-flight label to be confirmed; False while the printer is in a fault or gone."""
        if not self._inflight:
            return True
        try:
            device = self._open()
            status = self.driver.ask(device)
            self._noted(status)
            return self._drain(device, status, 0) is not None
        except DeviceError as error:
            self._lost_inflight(error)
            self._offline(str(error), reason=error.reason)
            return False

    def _lost_inflight(self, error: DeviceError) -> None:
        """The connection dropped with labels in flight. One the printer had whole (a status answer after
        it said so) is carried over: a Zebra keeps whole formats when only the connection drops, but
        not when it is switched off or restarts, so the first count on a new connection decides
        (:meth:`_recount_carried`). The others are sent again, as an interrupted label is."""
        lost = [sent for sent in self._inflight if not sent.accepted]
        self._inflight = [sent for sent in self._inflight if sent.accepted]
        for sent in self._inflight:
            sent.carried = str(error)
        for sent in lost:
            self._send_again(sent, Reason("job.interrupted", sent=sent.bytes, total=sent.bytes, error=str(error)))

    def _recount_carried(self, queued: int) -> None:
        """The first count of formats on a new connection, with labels carried over a dropped one. A
        count above zero shows the printer kept its buffer (a restart empties it, and nothing new was
        sent yet): the carried labels stay in flight and the usual rule confirms the ones it no longer
        holds. Zero cannot tell "printed meanwhile" from "lost when the printer was switched off or
        restarted", so none of them is counted printed: they are sent again, flagged ``interrupted``
        (a second copy is possible and said; a loss is not) — docs/decisions.md, #23."""
        carried = [sent for sent in self._inflight if sent.carried is not None]
        if not carried:
            return
        if queued > 0:
            for sent in carried:
                sent.carried = None
            return
        for sent in carried:
            self._inflight.remove(sent)
            self._resend_carried(sent)

    def _resend_carried(self, sent: Sent) -> None:
        self._send_again(sent, Reason("job.resent_after_drop", printer=self.printer.name, error=sent.carried or ""))
        self._resent = True

    def _send_again(self, sent: Sent, reason: Reason) -> None:
        """An in-flight label goes back to ``ready``, flagged ``interrupted``: it is sent again."""
        with contextlib.suppress(InvalidTransition):
            self.spool.transition(sent.job.id, JobState.READY, reason, interrupted=True)
        sent.jlog.warning("job_interrupted", reason=reason.text(), bytes_sent=sent.bytes, bytes_total=sent.bytes)

    # ----- outcomes ---------------------------------------------------------------------

    def _interrupted(self, job: Job, error: DeviceError, sent: int, total: int, jlog: Any) -> None:
        self._lost_inflight(error)
        self._close()
        if sent == 0:
            reason = Reason("job.printer_unreachable", error=str(error))
            self.spool.transition(job.id, JobState.READY, reason)
            jlog.warning("job_waiting", reason=reason.text())
        else:
            reason = Reason("job.interrupted", sent=sent, total=total, error=str(error))
            self.spool.transition(job.id, JobState.READY, reason, interrupted=True)
            jlog.warning("job_interrupted", reason=reason.text(), bytes_sent=sent, bytes_total=total)
        self._offline(str(error), reason=error.reason)

    def _stop_job(self, job: Job, state: JobState, reason: Reason, jlog: Any) -> None:
        try:
            self.spool.transition(job.id, state, reason, expect=READY)
        except InvalidTransition:
            return
        jlog.warning(f"job_{state.value}", reason=reason.text())
        if reason.code == MEDIA_MISMATCH:
            self._set(state=PrinterCondition.STOPPED, reasons=("media-mismatch",), message=reason)

    def _requeue(self, job: Job, reason: Reason) -> None:
        with contextlib.suppress(InvalidTransition):
            self.spool.transition(job.id, JobState.QUEUED, reason, expect=READY)

    def _offline(self, message: str, reason: str = "offline") -> None:
        self._close()
        if self.state.state != PrinterCondition.STOPPED or self.state.message.text() != message:
            self.log.warning("printer_unavailable", reason=message)
        self._set(state=PrinterCondition.STOPPED, reasons=(reason,), message=Reason.plain(message))

    def _blocked(self, status: PrinterStatus) -> None:
        if self.state.reasons != status.reasons:
            self.log.warning("printer_needs_attention", reasons=list(status.reasons), message=status.message)
        loaded = status.media.describe() if status.media else self.state.loaded_media
        self._set(state=PrinterCondition.STOPPED, reasons=status.reasons,
                  message=status.reason or Reason.plain(status.message), loaded_media=loaded)

    def _probe(self) -> PrinterStatus | None:
        """Ask the idle printer how it is and show it; None when it cannot be reached (``offline``)."""
        self._probed_at = time.monotonic()
        try:
            status = self.driver.probe()
        except DeviceError as error:
            self._offline(str(error), reason=error.reason)
            return None
        self._noted(status)
        mismatch = self.driver.media_mismatch(status) if status.known else None
        loaded = status.media.describe() if status.media else self.state.loaded_media
        if status.known and status.blocked:
            self._blocked(status)
        elif mismatch is not None:
            self._set(state=PrinterCondition.STOPPED, reasons=("media-mismatch",), message=mismatch,
                      loaded_media=loaded)
        elif self.state.state != PrinterCondition.PRINTING:
            self._set(state=PrinterCondition.IDLE, reasons=(), message=Reason.plain(""), loaded_media=loaded)
        return status

    def _noted(self, status: PrinterStatus) -> None:
        self._probed_at = time.monotonic()
        self._unknown = None if status.known or not status.reasons else status

    # ----- helpers ----------------------------------------------------------------------

    def _open(self) -> Device:
        if self._device is None:
            device = self.driver.connect()
            device.open()
            self._device = device
        return self._device

    def _close(self) -> None:
        if self._device is not None:
            with contextlib.suppress(LabeldError):
                self._device.close()
            self._device = None

    def _set(self, **changes: Any) -> None:
        new = replace(self.state, **changes)
        unknown = self._unknown
        if unknown is not None and new.state != PrinterCondition.STOPPED:  # never shown as plainly ready
            new = replace(new, reasons=tuple(dict.fromkeys((*new.reasons, *unknown.reasons))),
                          message=new.message if new.message.text() else (unknown.reason or new.message))
        if (new.state, new.reasons) != (self.state.state, self.state.reasons):
            new = replace(new, since=self.clock())
            if new.state == PrinterCondition.IDLE and self.state.state == PrinterCondition.STOPPED:
                self.log.info("printer_ready", previous=list(self.state.reasons))
            self._tell(self.state, new)
        self.state = new

    def _tell(self, old: PrinterState, new: PrinterState) -> None:
        """A printer that stops, changes why it is stopped, or comes back is an event (an alarm when it
        stopped by itself: a pause is an operator's own doing)."""
        if PrinterCondition.STOPPED not in (old.state, new.state):
            return
        name = self.printer.name
        if new.state == PrinterCondition.STOPPED:
            reason = Reason("printer.stopped", printer=name, reasons=list(new.reasons), message=new.message)
        else:
            reason = Reason("printer.back", printer=name, previous=list(old.reasons))
        alarm = new.state == PrinterCondition.STOPPED and "paused" not in new.reasons
        self.spool.add_notice("printer", name, old.state.value, new.state.value, reason, alarm=alarm,
                              data={"printer": name, "reasons": list(new.reasons)})

    def _next_backoff(self) -> float:
        delay = self._backoff
        self._backoff = min(BACKOFF_MAX, self._backoff * 2)
        return delay

    def _sleep(self, seconds: float) -> None:
        self._wake.clear()
        self._wake.wait(seconds)


def _labels(job: Job) -> int | None:
    """How many labels one job puts out: its copies; unknown for raw ZPL (its own ^PQ and formats)."""
    return None if job.document_kind == "zpl" else job.copies
