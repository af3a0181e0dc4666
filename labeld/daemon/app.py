"""The daemon's wiring: the one place where intake, spool, pipeline, printers and clock meet.

The control socket and other faces of the daemon sit on top of it: they are *frontends*, made by
factories the caller hands in (``labeld run`` passes the API server), started after the engine
and rebuilt with it on a reload. The daemon itself imports none of them.

Signal handlers only set flags; the main loop acts on them: SIGTERM/SIGINT stop cleanly (the
label on the wire finishes, nothing is cut off), SIGHUP reloads the configuration (a bad one
is refused and the running one kept).
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import os
import signal
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from types import FrameType
from typing import Any, Protocol

import structlog

from labeld import __version__
from labeld.clock.monitor import ClockMonitor, ClockSnapshot
from labeld.config import Config, config_warnings, load_config
from labeld.daemon.label_rules import LabelRules
from labeld.daemon.pipeline import Pipeline, Renderer, RenderObserver
from labeld.daemon.printer_worker import PrinterCondition, PrinterState, PrinterWorker
from labeld.drivers.base import Driver, make_driver
from labeld.drivers.snmp_status import SNMP_OFF_PREFIX
from labeld.errors import ConfigError, LabeldError
from labeld.intake.accept import Acceptor, Sizes, inspect_in_process
from labeld.intake.hotfolder import HotFolder
from labeld.intake.inspect import DocumentInfo
from labeld.intake.remote import RemoteIntake
from labeld.page_job import RenderRequest, RenderResult, render_page_job
from labeld.reasons import Reason
from labeld.render.sandbox import RenderSandbox
from labeld.service import notify as sd
from labeld.sources import SourceManager
from labeld.sources.handoff import AcceptorSink
from labeld.spool import retention
from labeld.spool.spool import Spool
from labeld.spool.states import JobState
from labeld.spool.store import DocumentStore

log = structlog.get_logger("labeld")

PRUNE_EVERY = 3600.0
MAIN_LOOP_SECONDS = 1.0


class AlreadyRunning(LabeldError):
    """Another labeld holds the state directory."""


class Component(Protocol):
    """A part of the daemon with a life: started after the engine, stopped before it."""

    def start(self) -> None: ...

    def stop(self) -> None: ...


#: Makes a frontend (the control socket, the station page) for a started daemon.
Frontend = Callable[["Daemon"], Component]


class Daemon:
    def __init__(self, config: Config, *, renderer: Renderer | None = None,
                 frontends: Sequence[Frontend] = ()) -> None:
        self.config = config
        self._given_renderer = renderer
        self.frontend_factories = tuple(frontends)
        self.sandbox: RenderSandbox | None = None
        self.started_at = time.time()
        self._stop = threading.Event()
        self._reload = threading.Event()
        self._lock_fd: int | None = None
        self.components: list[Any] = []
        self.frontends: list[Component] = []
        self.workers: dict[str, PrinterWorker] = {}
        self.driver_errors: dict[str, str] = {}
        self.clock: ClockMonitor | None = None
        #: Told how long each label took to render (e.g. the metrics); frontends add theirs.
        self.render_observers: list[RenderObserver] = []
        self._last_prune = float("-inf")  # the first tick prunes
        self._last_status = ""
        self._last_watchdog = 0.0
        interval = sd.watchdog_interval()
        #: Ping systemd's watchdog at half its interval, from the main loop (a hung loop is restarted).
        self._watchdog_every = interval / 2 if interval else 0.0

    # ----- start / stop -------------------------------------------------------------------

    def start(self) -> None:
        config = self.config
        state_dir = config.daemon.state_dir
        state_dir.mkdir(parents=True, exist_ok=True)
        self._lock_state_dir(state_dir)
        self.spool = Spool(state_dir / "spool.db")
        self.store = DocumentStore(state_dir)
        for job in self.spool.recover():
            log.warning("job_uncertain", job=job.id, label=job.label_id, printer=job.printer,
                        reason="labeld stopped while sending it; it may or may not have printed")
        self._start_sandbox()
        self._start_components()
        for warning in config_warnings(config):
            log.warning("config_warning", warning=warning)
        log.info("labeld_started", version=__version__, printers=[p.name for p in config.printers],
                 inbox=str(config.intake.hot_folder), socket=str(config.daemon.socket))

    def _start_components(self) -> None:
        config = self.config
        self.clock = self._make_clock()
        if self.clock is not None:
            self.clock.on_change = self._clock_changed
        self.rules = LabelRules(config.preflight, self.spool, self.clock)
        drivers = self._make_drivers()
        self.acceptor = Acceptor(config, self.spool, self.store, self.inspector)
        self.pipeline = Pipeline(config, self.spool, self.store, drivers, self.rules, self.renderer,
                                 on_render=self._rendered)
        self.workers = {
            printer.name: PrinterWorker(printer, drivers[printer.name], self.spool, self.store,
                                        hold_check=self.rules.stop_before_print)
            for printer in config.printers if printer.name in drivers
        }
        self.remote = RemoteIntake(config, self.spool, self.acceptor, self.clock)
        self.hotfolder = HotFolder(config, self.acceptor, self.spool.has_intake_key, on_link=self.remote.wake)
        self.sources = SourceManager(config, self.spool, AcceptorSink(self.acceptor, self.spool, self.remote.wake))
        self.pipeline.start()
        for worker in self.workers.values():
            worker.start()
        self.hotfolder.start()
        self.remote.start()
        self.sources.start()
        self.components = [self.sources, self.hotfolder, self.remote, self.pipeline, *self.workers.values()]
        if self.clock is not None:
            self.clock.start()
            self.components.append(self.clock)
        self.frontends = []
        for make in self.frontend_factories:
            frontend = make(self)
            frontend.start()
            self.frontends.append(frontend)

    def _clock_changed(self, before: str | None, snapshot: ClockSnapshot) -> None:
        """The clock left or re-entered its bounds (or was measured for the first time): an event."""
        self.spool.add_notice("clock", "clock", before, snapshot.state, snapshot.reason,
                              alarm=snapshot.needs_attention,
                              data={"offset": snapshot.offset, "threshold": snapshot.threshold})

    def _rendered(self, seconds: float) -> None:
        for observer in self.render_observers:
            observer(seconds)

    def _start_sandbox(self) -> None:
        """PDFs are opened and rendered in a worker process with a time and a memory limit, so a
        hostile or broken PDF can neither hang nor crash the daemon: it costs that label only."""
        if self._given_renderer is not None:
            return
        render = self.config.render
        self.sandbox = RenderSandbox(timeout=render.timeout, memory_limit=render.memory_limit)
        self.sandbox.start()

    @property
    def renderer(self) -> Renderer:
        if self._given_renderer is not None:
            return self._given_renderer
        assert self.sandbox is not None
        sandbox = self.sandbox

        def render_in_sandbox(request: RenderRequest) -> RenderResult:
            return sandbox.run(render_page_job, request, task=Reason("task.render_page", page=request.page + 1))

        return render_in_sandbox

    def inspector(self, data: bytes, max_pages: int, max_page_mm: float, sizes: Sizes = (),
                  blank_check: bool = False) -> DocumentInfo:
        if self.sandbox is None:
            return inspect_in_process(data, max_pages, max_page_mm, sizes, blank_check)
        return self.sandbox.run(inspect_in_process, data, max_pages, max_page_mm, sizes, blank_check,
                                task=Reason("task.open_pdf"))

    def _make_drivers(self) -> dict[str, Driver[Any]]:
        drivers: dict[str, Driver[Any]] = {}
        self.driver_errors = {}
        for printer in self.config.printers:
            try:
                drivers[printer.name] = make_driver(printer)
            except (LabeldError, ValueError, ImportError) as error:
                self.driver_errors[printer.name] = str(error)
                log.error("printer_unusable", printer=printer.name, reason=str(error))
        return drivers

    def _make_clock(self) -> ClockMonitor | None:
        if not self.config.clock.servers and not self.config.clock.local_sources:
            return None
        return ClockMonitor(self.config.clock, structlog.get_logger("labeld.clock"))

    def stop(self) -> None:
        log.info("labeld_stopping")
        self._stop_components()
        if self.sandbox is not None:
            self.sandbox.close()
        self.spool.close()
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None
        log.info("labeld_stopped")

    def _stop_components(self) -> None:
        for frontend in reversed(self.frontends):
            frontend.stop()
        self.frontends = []
        self.render_observers = []
        for component in self.components:
            component.stop()
        self.components = []

    # ----- main loop ----------------------------------------------------------------------

    def run(self) -> None:
        """Run until SIGTERM/SIGINT; SIGHUP reloads."""
        signal.signal(signal.SIGTERM, self._on_stop_signal)
        signal.signal(signal.SIGINT, self._on_stop_signal)
        signal.signal(signal.SIGHUP, self._on_hup)
        self.start()
        self._last_status = self.status_line()
        sd.ready(self._last_status)
        try:
            while not self._stop.wait(MAIN_LOOP_SECONDS):
                if self._reload.is_set():
                    self._reload.clear()
                    self.reload()
                self.tick()
        finally:
            sd.stopping()
            self.stop()

    def tick(self) -> None:
        """Periodic duties of the main loop: watchdog, status line, pruning."""
        now = time.monotonic()
        if self._watchdog_every and now - self._last_watchdog >= self._watchdog_every:
            self._last_watchdog = now
            sd.watchdog()
        status = self.status_line()
        if status != self._last_status:
            self._last_status = status
            sd.status(status)
        if time.monotonic() - self._last_prune > PRUNE_EVERY:
            self._last_prune = time.monotonic()
            self.prune()

    def _on_stop_signal(self, signum: int, frame: FrameType | None) -> None:
        self._stop.set()

    def _on_hup(self, signum: int, frame: FrameType | None) -> None:
        self._reload.set()

    def reload(self) -> None:
        if self.config.source is None:
            log.info("reload_skipped", reason="running on built-in defaults; there is no file to reload")
            return
        try:
            new = load_config(self.config.source)
        except ConfigError as error:
            log.error("reload_refused", reason="the new configuration has errors; keeping the running one",
                      problems=error.problems)
            return
        if new.daemon != self.config.daemon:
            log.warning("reload_partial", reason="[daemon] changes take effect at the next restart")
            new = dataclasses.replace(new, daemon=self.config.daemon)
        sd.reloading()
        self._stop_components()
        self.spool.forget_kept(SNMP_OFF_PREFIX)  # a reload asks every ``auto`` printer afresh
        self.config = new
        self._start_components()
        sd.ready(self.status_line())
        log.info("config_reloaded", source=str(new.source))
        for warning in config_warnings(new):
            log.warning("config_warning", warning=warning)

    def prune(self) -> None:
        documents, jobs = retention.prune(self.spool, self.store, self.config.daemon.retention)
        self.sources.prune(self.spool.clock() - self.config.daemon.retention)
        if jobs:
            log.info("spool_pruned", documents=documents, jobs=jobs)

    # ----- views used by the API and the status line ---------------------------------------

    def printer_states(self) -> list[PrinterState]:
        states = [w.state for w in self.workers.values()]
        for name, error in self.driver_errors.items():
            printer = self.config.printer(name)
            assert printer is not None
            states.append(PrinterState(name, printer.driver, printer.uri, printer.media,
                                       state=PrinterCondition.STOPPED, reasons=("other",),
                                       message=Reason.plain(error)))
        return states

    def status_line(self) -> str:
        counts = self.spool.counts()
        printers = self.printer_states()
        stopped = [p.name for p in printers if p.state == PrinterCondition.STOPPED]
        parts = [f"{len(printers)} printer{'s' if len(printers) != 1 else ''}"]
        if stopped:
            parts.append(f"{len(stopped)} need attention ({', '.join(stopped)})")
        troubled = self.sources.in_trouble()
        if troubled:
            parts.append(f"source{'s' if len(troubled) != 1 else ''} in trouble ({', '.join(troubled)})")
        parts.append(f"{counts[JobState.QUEUED] + counts[JobState.READY]} waiting")
        if counts[JobState.HELD]:
            parts.append(f"{counts[JobState.HELD]} held")
        if self.clock is not None:
            parts.append(f"clock {self.clock.snapshot().state}")
        return ", ".join(parts)

    def _lock_state_dir(self, state_dir: Path) -> None:
        path = state_dir / "labeld.lock"
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o640)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            other = ""
            with contextlib.suppress(OSError, ValueError):
                other = f" (pid {int(os.read(fd, 32) or b'0')})"
            os.close(fd)
            raise AlreadyRunning(f"another labeld{other} is running with state directory {state_dir}") from None
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode())
        self._lock_fd = fd
