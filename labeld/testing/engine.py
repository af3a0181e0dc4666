"""The labeld engine in one process, for fast tests of its decisions.

Mopidy's dummy backends are the model: the real parts are assembled the way ``labeld.daemon``
wires them — the Spool and DocumentStore on a scratch folder, the Acceptor, LabelRules,
Operations, the Pipeline with the in-process renderer and one PrinterWorker per printer — but
time is a :class:`FakeClock` and every printer is a :class:`MemoryPrinter`: an in-memory printer
whose status and faults a test scripts (paper out, cover open, offline, a connection cut after N
bytes, refusal, a held queue, a slow or never-confirming printer, a crash mid-send, a printer that
counts what it holds — so the engine pipelines — switched off and on with a label waiting). What
comes out of it is decoded from the bytes the engine sent.

Nothing runs by itself. :meth:`Engine.render` runs the render pipeline one step,
:meth:`Engine.step` one printer one step, :meth:`Engine.run` all of them until nothing moves:
deterministic, and without sleeping. :meth:`Engine.threads` runs the real threads instead, for
races between an operator and the workers.

    with Engine(tmp_path) as engine:
        [job] = engine.submit(label_pdf(LabelSpec()))
        engine.printer().jam("media-empty", "out of labels")
        engine.run()
        assert engine.state(job) == "ready"
"""

from __future__ import annotations

import io
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from labeld.bitmap import Bitmap, from_png
from labeld.clock.monitor import ClockMonitor
from labeld.config import (
    ClockConfig,
    Config,
    DaemonConfig,
    IntakeConfig,
    LinksConfig,
    PreflightConfig,
    PrinterConfig,
    RouteConfig,
)
from labeld.daemon.label_rules import LabelRules
from labeld.daemon.operations import Operations
from labeld.daemon.pipeline import Pipeline, Renderer, RenderObserver
from labeld.daemon.printer_worker import MEDIA_MISMATCH, PrinterState, PrinterWorker
from labeld.devices.base import Device
from labeld.drivers.base import LoadedMedia, PrinterStatus
from labeld.drivers.preview import PreviewDriver
from labeld.errors import DeviceError, PrinterRefused, PrinterWaiting
from labeld.intake.accept import Acceptor
from labeld.intake.remote import RemoteIntake, accept_job, url_job
from labeld.intake.sidecar import Sidecar
from labeld.page_job import render_page_job
from labeld.reasons import Reason
from labeld.sources import SourceManager
from labeld.sources.handoff import AcceptorSink
from labeld.spool import retention
from labeld.spool.spool import Job, Spool
from labeld.spool.states import JobState
from labeld.spool.store import DocumentStore

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
#: Where a fake clock starts: 26 November 2026, 08:00 UTC.
START = datetime(2026, 11, 26, 8, 0, tzinfo=UTC).timestamp()


class FakeClock:
    """Wall and monotonic time that move only when a test says so."""

    def __init__(self, start: float = START) -> None:
        self._wall = start
        self._monotonic = 1000.0
        self._lock = threading.Lock()

    def time(self) -> float:
        with self._lock:
            return self._wall

    def monotonic(self) -> float:
        with self._lock:
            return self._monotonic

    def advance(self, seconds: float) -> None:
        with self._lock:
            self._wall += seconds
            self._monotonic += seconds


def wait_for(spool: Spool, condition: Callable[[], bool], timeout: float = 30.0, what: str = "the condition") -> None:
    """Wait until ``condition()`` holds, woken by each commit to ``spool``; ``timeout`` only catches a hang."""
    deadline = time.monotonic() + timeout
    while True:
        mark = spool.change_mark
        if condition():
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        spool.wait_for_change(0.05, since=mark)


class SimulatedCrash(BaseException):
    """labeld died here (a BaseException, so that no worker catches it, as no worker survives kill -9)."""


class MemoryPrinter:
    """A printer in memory: it answers status as scripted and keeps the bytes of each complete label
    (``received``); ``labels`` decodes them (PNG from the engine's renderer; raw files stay bytes).

    ``answers`` False makes it a write-only connection (Brother over TCP): the engine cannot ask
    its status and ends each label with the device's ``finish``. Faults set here strike once, at
    the next label, unless they are states (``jam``, ``unplug``) that last until cleared.
    """

    def __init__(self, name: str, clock: FakeClock, *, answers: bool = True) -> None:
        self.name = name
        self.clock = clock
        self.answers = answers
        self.received: list[bytes] = []
        self.opened = 0
        self.reasons: tuple[str, ...] = ()
        self.message = ""
        self.loaded: LoadedMedia | None = None
        self.online = True
        self.confirms = True
        self.confirm_seconds = 0.0
        #: Called once, at the next status question or label write (an operator acting meanwhile, a crash).
        self.on_status: Callable[[], object] | None = None
        self.on_write: Callable[[], object] | None = None
        self._cut_after: int | None = None
        self._cut_in_confirm: bool | None = None
        self._finish_fails: bool | None = None
        self._refusal: str | None = None
        self._waiting: tuple[str, str] | None = None
        #: A printer that says how many labels it holds, as a Zebra's ``~HS`` does, so that the engine
        #: pipelines: labels wait in ``buffer``, and the oldest comes out after each status answer
        #: unless ``head_stopped``.
        self.buffers = False
        self.buffer: list[bytes] = []
        self.head_stopped = False
        self._power_cycle = False

    @property
    def labels(self) -> list[Bitmap]:
        """Every label that came out, as the (black) bitmap its bytes carry."""
        return [planes(data)[0] for data in self.received if data.startswith(PNG_MAGIC)]

    @property
    def red_planes(self) -> list[Bitmap | None]:
        """The red plane of every label that came out (None for one-colour labels)."""
        return [planes(data)[1] for data in self.received if data.startswith(PNG_MAGIC)]

    # ----- what a test scripts ------------------------------------------------------------

    def jam(self, reason: str, message: str = "") -> None:
        """The printer reports ``reason`` (``media-empty``, ``cover-open``…) until :meth:`fix`."""
        self.reasons = (reason,)
        self.message = message or reason

    def fix(self) -> None:
        """A person loaded paper or closed the cover."""
        self.reasons, self.message = (), ""

    def load(self, width_mm: float, length_mm: float | None, kind: str = "") -> None:
        """The printer reports this medium as loaded (None length: endless)."""
        self.loaded = LoadedMedia(width_mm, length_mm, kind)

    def unplug(self) -> None:
        """Opening the connection fails until :meth:`plug`."""
        self.online = False

    def plug(self) -> None:
        self.online = True

    def cut_after(self, nbytes: int) -> None:
        """The next label's connection drops after ``nbytes`` bytes; the printer discards the part."""
        self._cut_after = nbytes

    def cut_while_confirming(self, printed: bool = False) -> None:
        """The next label arrives whole, but the connection drops while the engine waits for the
        printer's word; ``printed`` says whether the label came out all the same."""
        self._cut_in_confirm = printed

    def finish_fails(self, printed: bool) -> None:
        """(write-only) The next label's connection is reset instead of closed after the bytes went."""
        self._finish_fails = printed

    def refuse(self, why: str) -> None:
        """The printer refuses the next label for good (a CUPS job aborted)."""
        self._refusal = why

    def hold_in_queue(self, why: str, reason: str = "paused") -> None:
        """The next label is taken but held by the print server (a stopped CUPS queue)."""
        self._waiting = (why, reason)

    def power_cycle(self) -> None:
        """(buffering) The printer is switched off and on as the next label arrives: every label in its
        buffer is lost and the connection drops (nothing of the new label taken)."""
        self._power_cycle = True

    def crash_on_write(self) -> None:
        """labeld dies while the next label is on the wire."""
        self.on_write = _crash

    # ----- what the engine sees ---------------------------------------------------------

    def status(self) -> PrinterStatus:
        if self.on_status is not None:
            hook, self.on_status = self.on_status, None
            hook()
        detail: dict[str, object] = {"formats_in_buffer": len(self.buffer)} if self.buffers else {}
        status = PrinterStatus(reasons=self.reasons, message=self.message, media=self.loaded, detail=detail)
        if self.buffer and not self.head_stopped and not status.blocked:
            self.received.append(self.buffer.pop(0))
        return status

    def take(self, data: bytes) -> None:
        """One label's bytes from the device."""
        if self.on_write is not None:
            hook, self.on_write = self.on_write, None
            hook()
        if self._cut_after is not None:
            sent, self._cut_after = min(self._cut_after, len(data)), None
            raise DeviceError(f"{self.name}: connection reset by peer", bytes_sent=sent)
        if self._power_cycle:
            self._power_cycle = False
            self.buffer.clear()
            raise DeviceError(f"{self.name}: connection reset by peer (the printer restarted)")
        (self.buffer if self.buffers else self.received).append(data)

    def confirm(self, timeout: float) -> bool:
        if self._cut_in_confirm is not None:
            printed, self._cut_in_confirm = self._cut_in_confirm, None
            self._lose_last(printed)
            raise DeviceError(f"{self.name}: connection lost while waiting for the printer")
        if self._refusal is not None:
            why, self._refusal = self._refusal, None
            self._lose_last(False)
            raise PrinterRefused(why)
        if self._waiting is not None:
            (why, reason), self._waiting = self._waiting, None
            self._lose_last(False)
            raise PrinterWaiting(why, reason=reason)
        waited = min(self.confirm_seconds, timeout)
        self.clock.advance(waited)
        if not self.confirms or self.confirm_seconds > timeout:
            self.clock.advance(timeout - waited)
            return False
        return True

    def finish(self, timeout: float) -> None:
        if self._finish_fails is not None:
            printed, self._finish_fails = self._finish_fails, None
            self._lose_last(printed)
            self.clock.advance(timeout)
            raise DeviceError(f"{self.name}: did not finish taking the label within {timeout:g} s")

    def _lose_last(self, printed: bool) -> None:
        if not printed and self.received:
            self.received.pop()


def planes(png: bytes) -> tuple[Bitmap, Bitmap | None]:
    """The black and red dots of a label PNG (red only where the image has colour)."""
    with Image.open(io.BytesIO(png)) as image:
        if image.mode != "RGB":
            return from_png(png), None
        rgb = np.asarray(image)
    dark: Bitmap = rgb < 128
    black: Bitmap = np.all(dark, axis=2)
    return black, ~dark[..., 0] & dark[..., 1] & dark[..., 2]


def _crash() -> None:
    raise SimulatedCrash("labeld was killed while sending")


class MemoryDevice:
    """The connection to a :class:`MemoryPrinter` (the Device protocol)."""

    def __init__(self, printer: MemoryPrinter) -> None:
        self.printer = printer
        self.uri = f"memory://{printer.name}"
        self.bidirectional = printer.answers

    def open(self) -> None:
        if not self.printer.online:
            raise DeviceError(f"{self.printer.name} does not answer (unplugged)")
        self.printer.opened += 1

    def write(self, data: bytes, name: str | None = None) -> None:
        self.printer.take(data)

    def read(self, size: int, timeout: float) -> bytes:
        return b""

    def finish(self, timeout: float) -> None:
        self.printer.finish(timeout)

    def close(self) -> None:
        pass


class MemoryDriver(PreviewDriver):
    """The preview printer's language (PNG) spoken to a :class:`MemoryPrinter`, with its status."""

    name = "memory"

    def __init__(self, printer: PrinterConfig, memory: MemoryPrinter) -> None:
        super().__init__(printer)
        self.memory = memory

    def connect(self) -> Device:
        return MemoryDevice(self.memory)

    @property
    def prints_red(self) -> bool:
        return self.printer.red

    def encode_two_colour(self, bitmap: Bitmap, red: Bitmap, copies: int = 1) -> bytes:
        """One RGB PNG: black dots black, red dots red (copies are not carried)."""
        rgb = np.full((*bitmap.shape, 3), 255, dtype=np.uint8)
        rgb[bitmap] = (0, 0, 0)
        rgb[red] = (255, 0, 0)
        out = io.BytesIO()
        Image.fromarray(rgb, "RGB").save(out, format="PNG")
        return out.getvalue()

    def encode_raw(self, data: bytes) -> bytes:
        if self.printer.driver != "zpl":
            return super().encode_raw(data)
        return data

    def status(self, device: Device) -> PrinterStatus:
        return self.memory.status() if device.bidirectional else PrinterStatus.unknown()

    def confirm(self, device: Device, timeout: float, labels: int | None = None) -> bool:
        return self.memory.confirm(timeout)

    def queued(self, status: PrinterStatus) -> int | None:
        formats = status.detail.get("formats_in_buffer")
        return formats if status.known and isinstance(formats, int) else None

    def media_mismatch(self, status: PrinterStatus) -> Reason | None:
        loaded, needed = status.media, self.geometry.media
        if loaded is None or (loaded.width_mm, loaded.length_mm) == (needed.width_mm, needed.length_mm):
            return None
        return Reason(MEDIA_MISMATCH, loaded=loaded.describe(), wanted=needed.describe(), label_id=needed.name)


def memory_printer(name: str = "memory", *, media: str = "75x120mm", dpi: int = 203, default: bool = False,
                   raw: bool = False, red: bool = False, confirm_timeout: float = 30.0,
                   pipeline: bool = False) -> PrinterConfig:
    """A ``[[printer]]`` for a memory printer; ``raw`` makes it a ZPL printer (raw files go to it as they
    are), ``red`` one with black/red media, ``pipeline`` one that takes the next label while it prints."""
    return PrinterConfig(name=name, driver="zpl" if raw else "preview", uri=f"memory://{name}", media=media,
                         dpi=dpi, default=default, red=red, confirm_timeout=confirm_timeout, pipeline=pipeline)


class Engine:
    """The engine on a scratch folder ``root``, with memory printers (default: one, ``memory``).

    It offers what ``labeld.daemon.operations.DaemonView`` asks of a daemon, so ``operations``
    is the real :class:`Operations` (cancel, hold, release, reprint…) acting on it.
    """

    def __init__(self, root: Path, printers: Sequence[PrinterConfig] = (), *,
                 preflight: PreflightConfig | None = None, routes: Sequence[RouteConfig] = (),
                 drift: ClockMonitor | None = None, answers: bool = True, renderer: Renderer = render_page_job,
                 clock: FakeClock | None = None, links: LinksConfig | None = None) -> None:
        self.root = root
        self.time = clock or FakeClock()
        self.config = Config(
            daemon=DaemonConfig(state_dir=root / "state", socket=root / "labeld.sock", socket_group=""),
            intake=IntakeConfig(hot_folder=root / "inbox", archive=root / "archive", rejected=root / "rejected",
                                min_free_space=0),
            preflight=preflight or PreflightConfig(),
            clock=ClockConfig(servers=(), local_sources=False),
            printers=tuple(printers) or (memory_printer(default=True),),
            routes=tuple(routes),
            links=links or LinksConfig(),
        )
        self.clock = drift
        self.renderer = renderer
        #: Told how long each label took to render (as the daemon tells its metrics).
        self.render_observers: list[RenderObserver] = []
        self.frontends: list[Any] = []  # none in process: the API and the page are tested on a real daemon
        self.memory = {p.name: MemoryPrinter(p.name, self.time, answers=answers) for p in self.config.printers}
        self.started_at = self.time.time()
        self.operations = Operations(self)
        self._threads_used = False
        self._assemble()

    def _assemble(self) -> None:
        """Build the parts over the state folder, as the daemon does at start."""
        config, clock = self.config, self.time
        self.spool = Spool(config.daemon.state_dir / "spool.db", clock=clock.time)
        self.store = DocumentStore(config.daemon.state_dir)
        self.recovered = self.spool.recover()
        self.rules = LabelRules(config.preflight, self.spool, self.clock, wall_clock=clock.time)
        self.acceptor = Acceptor(config, self.spool, self.store)
        #: Not started: a link's fetch is driven by the test (:meth:`fetch_links`), by the fake clock.
        self.remote = RemoteIntake(config, self.spool, self.acceptor, self.clock, now=clock.time)
        self.sources = SourceManager(config, self.spool, AcceptorSink(self.acceptor, self.spool, self.remote.wake),
                                     clock=clock.time)
        self.drivers = {p.name: MemoryDriver(p, self.memory[p.name]) for p in config.printers}
        self.pipeline = Pipeline(config, self.spool, self.store, dict(self.drivers), self.rules, self.renderer,
                                 on_render=self._rendered)
        self.workers = {
            p.name: PrinterWorker(p, self.drivers[p.name], self.spool, self.store, self.rules.stop_before_print,
                                  clock=clock.time, monotonic=clock.monotonic)
            for p in config.printers
        }

    def _rendered(self, seconds: float) -> None:
        for observer in self.render_observers:
            observer(seconds)

    def __enter__(self) -> Engine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.remote.fetcher.close()
        self.spool.close()

    def restart(self) -> None:
        """labeld starts again on the same state folder (after :class:`SimulatedCrash`, say):
        a new spool connection, start-up recovery (``recovered``), fresh workers."""
        self.remote.fetcher.close()
        self.spool.close()
        self._assemble()

    # ----- what DaemonView asks -----------------------------------------------------------

    def printer_states(self) -> list[PrinterState]:
        return [worker.state for worker in self.workers.values()]

    def status_line(self) -> str:
        counts = self.spool.counts()
        return f"{len(self.workers)} memory printers, {counts[JobState.QUEUED] + counts[JobState.READY]} waiting"

    # ----- input ------------------------------------------------------------------------

    def submit(self, data: bytes, name: str = "label.pdf", *, folder: str | None = None,
               printer: str | None = None, copies: int = 1, posting: str | None = None,
               tracking: str | None = None, issued_at: float | None = None,
               posting_mismatch: str = "refuse") -> list[int]:
        """A document through the one accept path (as an upload, or a hot-folder file in ``folder``);
        the new job ids. ``issued_at`` None: issued now, by the fake clock."""
        sidecar = Sidecar(printer=printer, copies=copies, posting_number=posting, tracking_number=tracking,
                          issued_at=issued_at, posting_mismatch=posting_mismatch)
        return list(self.acceptor.accept(data, name=name, source="api", folder=folder, sidecar=sidecar).job_ids)

    def submit_link(self, url: str, *, printer: str | None = None, copies: int = 1, posting: str | None = None,
                    tracking: str | None = None, issued_at: float | None = None) -> list[int]:
        """A ``label_url`` job through the link intake's accept path (as ``POST /v1/jobs``); its job ids."""
        sidecar = Sidecar(printer=printer, copies=copies, posting_number=posting, tracking_number=tracking,
                          issued_at=issued_at)
        job = url_job(url, sidecar)
        return list(accept_job(self.acceptor, job, name="link", source="api").job_ids)

    # ----- running, one step at a time ----------------------------------------------------

    def fetch_links(self) -> int:
        """One round of the link intake, its fetches done here and now: how many links it took."""
        rows = self.remote.take_due()
        for row in rows:
            self.remote.fetch_one(row)
        return len(rows)

    def render(self) -> int:
        """One step of the render pipeline: how many queued jobs it decided."""
        return self.pipeline.run_once()

    def step(self, printer: str | None = None) -> float | None:
        """One step of a printer's worker (see :meth:`PrinterWorker.step`)."""
        return self.worker(printer).step()

    def run(self, max_steps: int = 1000) -> None:
        """Render and print until nothing moves: every queued job decided, every printer idle or
        waiting for a person. Backoff is not slept: a printer that is not ready is asked again only
        while something else moves."""
        for _ in range(max_steps):
            moved = self.render() > 0
            for worker in self.workers.values():
                moved = worker.step() == 0.0 or moved
            if not moved:
                return
        raise RuntimeError(f"the engine still moved after {max_steps} steps")

    @contextmanager
    def threads(self) -> Iterator[Engine]:
        """The render thread and every printer's thread, running for real until the block ends.
        Once per engine (a stopped worker's thread cannot start again)."""
        if self._threads_used:
            raise RuntimeError("Engine.threads() runs once per engine")
        self._threads_used = True
        self.pipeline.start()
        for worker in self.workers.values():
            worker.start()
        try:
            yield self
        finally:
            self.pipeline.stop()
            for worker in self.workers.values():
                worker.stop()

    def prune(self) -> tuple[int, int]:
        """Retention pruning as the daemon runs it hourly (``daemon.retention``, by the fake clock)."""
        self.sources.prune(self.spool.clock() - self.config.daemon.retention)
        return retention.prune(self.spool, self.store, self.config.daemon.retention)

    def wait_for(self, condition: Callable[[], bool], timeout: float = 30.0, what: str = "the condition") -> None:
        """(threaded mode) Wait until ``condition()`` holds (see :func:`wait_for`)."""
        wait_for(self.spool, condition, timeout, what)

    # ----- looking ----------------------------------------------------------------------

    def printer(self, name: str | None = None) -> MemoryPrinter:
        return self.memory[name or self.config.default_printer.name]

    def worker(self, name: str | None = None) -> PrinterWorker:
        return self.workers[name or self.config.default_printer.name]

    def job(self, job_id: int) -> Job:
        job = self.spool.job(job_id)
        assert job is not None, f"no job {job_id}"
        return job

    def state(self, job_id: int) -> JobState:
        return self.job(job_id).state

    def states(self, job_ids: Sequence[int]) -> list[str]:
        return [self.state(job_id).value for job_id in job_ids]

    def reasons(self, job_id: int) -> list[Reason]:
        """Every reason in the job's history, oldest first."""
        return [event.reason for event in self.spool.history(job_id)]

    def codes(self, job_id: int) -> list[str]:
        """The codes of every reason in the job's history, oldest first."""
        return [reason.code for reason in self.reasons(job_id)]

    def moves(self, job_id: int) -> list[tuple[str | None, str]]:
        """The job's history as (from, to) state pairs."""
        return [(event.from_state, event.to_state) for event in self.spool.history(job_id)]

    def preflight_record(self, job_id: int) -> dict[str, Any]:
        return self.job(job_id).preflight
