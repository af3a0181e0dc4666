"""One thread per printer: ``ready`` jobs go out in order, one label at a time.

The worker owns the retry loop so that drivers stay simple. A printer that is offline, out of
media or open does not fail its jobs: they stay ``ready`` and the worker asks again with
backoff. Each label is marked ``printing`` (committed) before its first byte leaves, so that a
crash mid-label is found as ``uncertain`` at the next start.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

import structlog

from labeld import failpoints
from labeld.bitmap import from_png
from labeld.config import PrinterConfig
from labeld.devices import Device, open_device
from labeld.drivers.base import Driver, PrinterStatus
from labeld.errors import DeviceError, LabeldError, PrinterRefused, PrinterWaiting
from labeld.spool.spool import Job, Spool
from labeld.spool.states import InvalidTransition, JobState
from labeld.spool.store import DocumentStore

log = structlog.get_logger("labeld.printer")

BACKOFF_START = 0.25
BACKOFF_MAX = 3.0
#: Close an idle connection after this long, so a printer is free for others between batches.
IDLE_CLOSE_SECONDS = 5.0
READY = frozenset({JobState.READY})


@dataclass(frozen=True)
class PrinterState:
    """What ``labelctl printers`` shows: IPP-style state plus reason keywords and a sentence."""

    name: str
    driver: str
    uri: str
    media: str
    state: str = "idle"  # idle | printing | stopped
    reasons: tuple[str, ...] = ()
    message: str = ""
    since: float = field(default_factory=time.time)
    printed: int = 0
    loaded_media: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "driver": self.driver, "uri": self.uri, "media": self.media,
                "state": self.state, "reasons": list(self.reasons), "message": self.message,
                "since": self.since, "printed": self.printed, "loaded_media": self.loaded_media}


#: Decides, just before a label prints, whether it must be held instead (e.g. it expired
#: while the printer was out of paper); returns the reason, or None to print.
HoldCheck = Callable[[Job], str | None]


class PrinterWorker:
    """``devices`` opens a printer's URI; ``wall`` and ``monotonic`` are the clocks it reads
    (tests pass an in-memory device and a fake clock)."""

    def __init__(self, printer: PrinterConfig, driver: Driver, spool: Spool, store: DocumentStore,
                 hold_check: HoldCheck | None = None, *, devices: Callable[[str], Device] = open_device,
                 wall: Callable[[], float] = time.time, monotonic: Callable[[], float] = time.monotonic) -> None:
        self.printer = printer
        self.driver = driver
        self.spool = spool
        self.store = store
        self.hold_check = hold_check
        self.devices = devices
        self.wall = wall
        self.monotonic = monotonic
        self.state = PrinterState(printer.name, printer.driver, printer.uri, printer.media, since=wall())
        self._device: Device | None = None
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._backoff = BACKOFF_START
        self._thread = threading.Thread(target=self._run, name=f"printer-{printer.name}", daemon=True)
        self._last_used = 0.0
        self.log = log.bind(printer=printer.name)

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        """Finish the label on the wire (never cut one off), then stop."""
        self._stop.set()
        self.wake()
        self._thread.join(timeout)
        self._close()

    def wake(self) -> None:
        self._wake.set()
        with self.spool.changed:
            self.spool.changed.notify_all()

    # ----- the loop -----------------------------------------------------------------------

    def _run(self) -> None:
        if not self.usable():
            return
        while not self._stop.is_set():
            wait = self.step()
            if wait is None:
                self.spool.wait_for_change(1.0)
            elif wait:
                self._sleep(wait)

    def usable(self) -> bool:
        """Whether the driver can work here; if not, the printer shows why and its thread ends."""
        problem = self.driver.self_check()
        if problem:
            self._set(state="stopped", reasons=("other",), message=problem)
            self.log.error("printer_unusable", reason=problem)
        return problem is None

    def step(self) -> float | None:
        """Print the next ready job if the printer can take it, without waiting.

        Returns None when there is nothing to print now (the thread waits for the spool to
        change), 0 to go on at once, or the seconds to back off before asking a printer that was
        not ready again. Tests call this directly to run a printer one step at a time.
        """
        try:
            return self._step()
        except Exception as error:  # one bad label must not kill the printer's thread
            self.log.exception("printer_worker_error", error=str(error))
            return self._next_backoff()

    def _step(self) -> float | None:
        if self.spool.paused(self.printer.name):
            self._close()
            self._set(state="stopped", reasons=("paused",), message="paused by an operator (labelctl resume)")
            return None
        job = self.spool.next_ready(self.printer.name)
        if job is None or self.spool.has_earlier_pending(self.printer.name, job.id):
            if self.monotonic() - self._last_used > IDLE_CLOSE_SECONDS:
                self._close()
            if self.state.state == "printing" or "paused" in self.state.reasons:
                self._set(state="idle", reasons=(), message="")
            return None
        if self._print(job):
            self._backoff = BACKOFF_START
            return 0.0
        return self._next_backoff()

    def _print(self, job: Job) -> bool:
        """Try to print one job; False when the printer is not ready (the job stays ``ready``)."""
        jlog = self.log.bind(job=job.id, label=job.label_id, page=job.page + 1, posting=job.posting)
        try:
            device = self._open()
            status = self.driver.status(device)
        except DeviceError as error:
            self._offline(str(error))
            return False
        if status.known and status.blocked:
            self._blocked(status)
            return False
        mismatch = self.driver.media_mismatch(status)
        hold = f"media-mismatch: {mismatch}" if mismatch else (self.hold_check(job) if self.hold_check else None)
        if hold:
            self._hold(job, hold, jlog)
            return True
        data = self._encode(job, jlog)
        if data is None:
            return True
        try:
            job = self.spool.transition(job.id, JobState.PRINTING, f"sending to {self.printer.name}",
                                        expect=READY, attempt=True)
        except InvalidTransition:
            return True  # cancelled or held by an operator a moment ago
        self._set(state="printing", reasons=(), message=f"printing job {job.id}")
        failpoints.hit("before-send")
        return self._send(job, data, device, status, jlog)

    def _encode(self, job: Job, jlog: Any) -> list[bytes] | None:
        try:
            if job.document_kind == "zpl":
                raw = self.store.document_path(job.document_sha256).read_bytes()
                return [self.driver.encode_raw(raw)] * (1 if self.driver.native_copies else job.copies)
            if self.driver.uses_page_pdf:
                pdf = self.store.document_path(job.document_sha256).read_bytes()
                page = self.driver.encode_page(pdf, job.page, job.copies)
                if page is not None:
                    return [page]
            bitmap = from_png(self.store.bitmap_path(job.id).read_bytes())
        except FileNotFoundError:
            self._requeue(job, "its rendered bitmap is missing (restart?); rendering it again")
            return None
        except (ValueError, OSError) as error:
            self._requeue(job, f"its rendered bitmap could not be read ({error}); rendering it again")
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
            if status.known:
                confirmed = self.driver.confirm(device, self.printer.confirm_timeout)
            else:
                confirmed = False
                self._finish(device)
        except PrinterWaiting as error:
            reason = f"the printer holds the label: {error}; it prints when the printer is back"
            self.spool.transition(job.id, JobState.READY, reason)
            jlog.warning("job_waiting", reason=reason)
            self._set(state="stopped", reasons=(error.reason,), message=str(error))
            return False
        except DeviceError as error:
            self._interrupted(job, error, sent + error.bytes_sent, total, jlog)
            return False
        except PrinterRefused as error:
            self.spool.transition(job.id, JobState.FAILED, f"the printer refused the label: {error}")
            jlog.error("job_failed", reason=str(error))
            return True
        self._last_used = self.monotonic()
        how = "confirmed by the printer" if confirmed else "sent; this printer connection cannot confirm printing"
        self.spool.transition(job.id, JobState.PRINTED, f"printed on {self.printer.name} ({how})", confirmed=confirmed)
        self._set(state="printing", reasons=(), message=f"printed job {job.id}", printed=self.state.printed + 1)
        jlog.info("job_printed", confirmed=confirmed, bytes=total)
        return True

    def _finish(self, device: Device) -> None:
        """On a connection that cannot report status, wait until the printer took the whole label
        (devices that can tell, e.g. TCP, offer ``finish``); the connection is closed after it."""
        finish = getattr(device, "finish", None)
        if finish is not None:
            self._device = None
            finish(self.printer.confirm_timeout)

    # ----- outcomes ---------------------------------------------------------------------

    def _interrupted(self, job: Job, error: DeviceError, sent: int, total: int, jlog: Any) -> None:
        self._close()
        if sent == 0:
            reason = f"printer not reachable ({error}); the label waits and is sent when it is back"
            self.spool.transition(job.id, JobState.READY, reason)
            jlog.warning("job_waiting", reason=reason)
        else:
            reason = (f"connection lost after {sent} of {total} bytes ({error}); the printer drops an "
                      "incomplete label, so it will be sent again when the printer is back — if two come out, "
                      "discard one")
            self.spool.transition(job.id, JobState.READY, reason, interrupted=True)
            jlog.warning("job_interrupted", reason=reason, bytes_sent=sent, bytes_total=total)
        self._offline(str(error), reason=error.reason)

    def _hold(self, job: Job, reason: str, jlog: Any) -> None:
        try:
            self.spool.transition(job.id, JobState.HELD, reason, expect=READY)
        except InvalidTransition:
            return
        jlog.warning("job_held", reason=reason)
        if reason.startswith("media-mismatch"):
            self._set(state="stopped", reasons=("media-mismatch",), message=reason.split(": ", 1)[1])

    def _requeue(self, job: Job, reason: str) -> None:
        with contextlib.suppress(InvalidTransition):
            self.spool.transition(job.id, JobState.QUEUED, reason, expect=READY)

    def _offline(self, message: str, reason: str = "offline") -> None:
        self._close()
        if self.state.state != "stopped" or self.state.message != message:
            self.log.warning("printer_unavailable", reason=message)
        self._set(state="stopped", reasons=(reason,), message=message)

    def _blocked(self, status: PrinterStatus) -> None:
        if self.state.reasons != status.reasons:
            self.log.warning("printer_needs_attention", reasons=list(status.reasons), message=status.message)
        loaded = status.media.describe() if status.media else self.state.loaded_media
        self._set(state="stopped", reasons=status.reasons, message=status.message, loaded_media=loaded)

    # ----- helpers ----------------------------------------------------------------------

    def _open(self) -> Device:
        if self._device is None:
            device = self.devices(self.printer.uri)
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
        if (new.state, new.reasons) != (self.state.state, self.state.reasons):
            new = replace(new, since=self.wall())
            if new.state == "idle" and self.state.state == "stopped":
                self.log.info("printer_ready", previous=list(self.state.reasons))
        self.state = new

    def _next_backoff(self) -> float:
        delay = self._backoff
        self._backoff = min(BACKOFF_MAX, self._backoff * 2)
        return delay

    def _sleep(self, seconds: float) -> None:
        self._wake.clear()
        self._wake.wait(seconds)
