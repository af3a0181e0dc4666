"""The daemon's wiring: the one place where intake, spool, pipeline, printers, API and clock meet.

Signal handlers only set flags; the main loop acts on them: SIGTERM/SIGINT stop cleanly (the
label on the wire finishes, nothing is cut off), SIGHUP reloads the configuration (a bad one
is refused and the running one kept).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import signal
import threading
import time
from pathlib import Path
from types import FrameType
from typing import Any

import structlog

from labeld import __version__
from labeld.config import Config, load_config
from labeld.daemon.label_rules import LabelRules
from labeld.daemon.pipeline import Pipeline, Renderer
from labeld.daemon.printer_worker import PrinterState, PrinterWorker
from labeld.drivers.base import Driver, make_driver
from labeld.errors import ConfigError, LabeldError
from labeld.intake.accept import Acceptor, inspect_in_process
from labeld.intake.hotfolder import HotFolder
from labeld.intake.inspect import DocumentInfo
from labeld.render.job import RenderRequest, RenderResult, render_page_job
from labeld.render.sandbox import RenderSandbox
from labeld.service.notify import notify, watchdog_interval
from labeld.spool import retention
from labeld.spool.spool import Spool
from labeld.spool.store import DocumentStore

log = structlog.get_logger("labeld")

PRUNE_EVERY = 3600.0
MAIN_LOOP_SECONDS = 1.0


class AlreadyRunning(LabeldError):
    """Another labeld holds the state directory."""


class Daemon:
    def __init__(self, config: Config, *, renderer: Renderer | None = None) -> None:
        self.config = config
        self._given_renderer = renderer
        self.sandbox: RenderSandbox | None = None
        self.started_at = time.time()
        self._stop = threading.Event()
        self._reload = threading.Event()
        self._lock_fd: int | None = None
        self.components: list[Any] = []
        self.workers: dict[str, PrinterWorker] = {}
        self.driver_errors: dict[str, str] = {}
        self.clock: Any = None
        self.api: Any = None
        self._last_prune = 0.0
        self._last_status = ""
        self._last_watchdog = 0.0
        interval = watchdog_interval()
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
        log.info("labeld_started", version=__version__, printers=[p.name for p in config.printers],
                 inbox=str(config.intake.hot_folder), socket=str(config.daemon.socket))

    def _start_components(self) -> None:
        config = self.config
        self.clock = self._make_clock()
        self.rules = LabelRules(config.preflight, self.spool, self.clock)
        drivers = self._make_drivers()
        self.acceptor = Acceptor(config, self.spool, self.store, self.inspector)
        self.pipeline = Pipeline(config, self.spool, self.store, drivers, self.rules, self.renderer)
        self.workers = {
            name: PrinterWorker(config.printer(name), driver, self.spool, self.store,  # type: ignore[arg-type]
                                hold_check=self.rules.hold_before_print)
            for name, driver in drivers.items()
        }
        self.hotfolder = HotFolder(config, self.acceptor, self.spool.has_intake_key)
        self.pipeline.start()
        for worker in self.workers.values():
            worker.start()
        self.hotfolder.start()
        self.components = [self.hotfolder, self.pipeline, *self.workers.values()]
        if self.clock is not None:
            self.clock.start()
            self.components.append(self.clock)
        self.api = self._make_api()
        if self.api is not None:
            self.api.start()

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
            return sandbox.run(render_page_job, request, task=f"rendering page {request.page + 1}")

        return render_in_sandbox

    def inspector(self, data: bytes, max_pages: int, max_page_mm: float) -> DocumentInfo:
        if self.sandbox is None:
            return inspect_in_process(data, max_pages, max_page_mm)
        return self.sandbox.run(inspect_in_process, data, max_pages, max_page_mm, task="opening the PDF")

    def _make_drivers(self) -> dict[str, Driver]:
        drivers: dict[str, Driver] = {}
        self.driver_errors = {}
        for printer in self.config.printers:
            try:
                drivers[printer.name] = make_driver(printer)
            except (LabeldError, ValueError, ImportError) as error:
                self.driver_errors[printer.name] = str(error)
                log.error("printer_unusable", printer=printer.name, reason=str(error))
        return drivers

    def _make_clock(self) -> Any:
        if not self.config.clock.servers and not self.config.clock.local_sources:
            return None
        try:
            from labeld.clock.monitor import ClockMonitor
        except ImportError:
            return None
        return ClockMonitor(self.config.clock, structlog.get_logger("labeld.clock"))

    def _make_api(self) -> Any:
        try:
            from labeld.api.server import ApiServer  # type: ignore[import-not-found, unused-ignore]
        except ImportError:
            return None
        return ApiServer(self)

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
        if self.api is not None:
            self.api.stop()
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
        self.notify(READY=1, STATUS=self._last_status)
        try:
            while not self._stop.wait(MAIN_LOOP_SECONDS):
                if self._reload.is_set():
                    self._reload.clear()
                    self.reload()
                self.tick()
        finally:
            self.notify(STOPPING=1)
            self.stop()

    def tick(self) -> None:
        """Periodic duties of the main loop: watchdog, status line, pruning."""
        now = time.monotonic()
        if self._watchdog_every and now - self._last_watchdog >= self._watchdog_every:
            self._last_watchdog = now
            self.notify(WATCHDOG=1)
        status = self.status_line()
        if status != self._last_status:
            self._last_status = status
            self.notify(STATUS=status)
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
            new = Config(self.config.daemon, new.intake, new.render, new.preflight, new.clock, new.printers,
                         new.routes, new.source)
        self._stop_components()
        self.config = new
        self._start_components()
        log.info("config_reloaded", source=str(new.source))

    def prune(self) -> None:
        documents, jobs = retention.prune(self.spool, self.store, self.config.daemon.retention)
        if jobs:
            log.info("spool_pruned", documents=documents, jobs=jobs)

    # ----- views used by the API and the status line ---------------------------------------

    def printer_states(self) -> list[PrinterState]:
        states = [w.state for w in self.workers.values()]
        for name, error in self.driver_errors.items():
            printer = self.config.printer(name)
            assert printer is not None
            states.append(PrinterState(name, printer.driver, printer.uri, printer.media, state="stopped",
                                       reasons=("other",), message=error))
        return states

    def status_line(self) -> str:
        counts = self.spool.counts()
        printers = self.printer_states()
        stopped = [p.name for p in printers if p.state == "stopped"]
        parts = [f"{len(printers)} printer{'s' if len(printers) != 1 else ''}"]
        if stopped:
            parts.append(f"{len(stopped)} need attention ({', '.join(stopped)})")
        parts.append(f"{counts['queued'] + counts['ready']} waiting")
        if counts["held"]:
            parts.append(f"{counts['held']} held")
        if self.clock is not None:
            parts.append(f"clock {self.clock.snapshot().state}")
        return ", ".join(parts)

    def notify(self, **fields: object) -> None:
        """sd_notify to systemd (a no-op outside a Type=notify service)."""
        notify(**fields)

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
