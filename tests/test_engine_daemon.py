"""The daemon's wiring (``labeld.daemon.app.Daemon``) in this process: start-up recovery, the
state-directory lock, printers that cannot work, the status line, pruning and reloads.

The whole daemon runs here (real hot folder, real socket, preview printers writing PNGs) with
the in-process renderer instead of the sandbox; the real process is proven by the e2e tests.
"""

from __future__ import annotations

import dataclasses
import json as jsonlib
import os
import signal
import socket
import threading
from collections.abc import Iterator, MutableMapping
from pathlib import Path
from typing import Any

import pytest
import structlog
from structlog.testing import capture_logs

from labeld.api.server import ApiServer
from labeld.config import (
    ClockConfig,
    Config,
    DaemonConfig,
    IntakeConfig,
    PrinterConfig,
    load_config,
)
from labeld.daemon.app import AlreadyRunning, Daemon
from labeld.daemon.logs import configure_logging
from labeld.daemon.operations import Operations
from labeld.labelmaker import batch_pdf
from labeld.page_job import render_page_job
from labeld.reasons import Reason
from labeld.spool.spool import NewDocument, NewLabel, Spool
from labeld.spool.states import JobState
from labeld.testing.daemon import toml_text
from labeld.testing.engine import wait_for
from labeld.testing.sntp_server import SntpResponder

HANG = 30.0  # a bound that only catches a hang


def make_config(root: Path, *printers: PrinterConfig) -> Config:
    preview = PrinterConfig(name="preview", driver="preview", uri=f"dir://{root / 'printed'}", media="75x120mm",
                            dpi=203, default=True)
    return Config(
        daemon=DaemonConfig(state_dir=root / "state", socket=root / "labeld.sock", socket_group=""),
        intake=IntakeConfig(hot_folder=root / "inbox", archive=root / "archive", rejected=root / "rejected",
                            min_free_space=0),
        clock=ClockConfig(servers=(), local_sources=False),
        printers=printers or (preview,),
    )


@pytest.fixture
def started(memory_dir: Path) -> Iterator[Daemon]:
    """A started daemon (with its control socket) on a scratch folder with one preview printer."""
    daemon = Daemon(make_config(memory_dir), renderer=render_page_job, frontends=[ApiServer])
    daemon.start()
    yield daemon
    daemon.stop()


def wait_printed(daemon: Daemon, count: int) -> None:
    wait_for(daemon.spool, lambda: daemon.spool.counts()[JobState.PRINTED] >= count, HANG, f"{count} labels printed")


def test_a_file_in_the_inbox_comes_out_of_the_printer(started: Daemon, memory_dir: Path) -> None:
    """Hot folder → spool → render → preview printer, with the parts the daemon wired."""
    (memory_dir / "inbox" / "two.pdf").write_bytes(batch_pdf(2))
    wait_printed(started, 2)
    assert sorted(p.name for p in (memory_dir / "printed").iterdir()) == ["job-000001.png", "job-000002.png"]
    assert started.status_line() == "1 printer, 0 waiting"
    assert [s.name for s in started.printer_states()] == ["preview"]
    assert [type(f) for f in started.frontends] == [ApiServer] and (memory_dir / "labeld.sock").exists()


def test_jobs_caught_printing_are_uncertain_after_a_restart(memory_dir: Path) -> None:
    """A job left `printing` by a crash is `uncertain` once the daemon has started, and logged."""
    config = make_config(memory_dir)
    spool = Spool(config.daemon.state_dir / "spool.db")
    now = spool.clock()
    [job] = spool.add_document(NewDocument("0" * 64, "a.pdf", "api", 10, 1),
                               [NewLabel(0, "preview", now, now + 60)], "api")
    spool.transition(job, JobState.READY, Reason.plain("rendered"))
    spool.transition(job, JobState.PRINTING, Reason("job.sending", printer="preview"))
    spool.close()
    daemon = Daemon(config, renderer=render_page_job)
    with capture_logs() as logs:
        daemon.start()
    try:
        assert daemon.spool.job(job).state is JobState.UNCERTAIN  # type: ignore[union-attr]
        assert any(entry["event"] == "job_uncertain" and entry["job"] == job for entry in logs)
    finally:
        daemon.stop()


def test_a_second_daemon_on_the_same_state_directory_is_refused(started: Daemon) -> None:
    """The state directory is locked; the refusal names the running daemon's pid."""
    with pytest.raises(AlreadyRunning, match=f"another labeld \\(pid {os.getpid()}\\) is running"):
        Daemon(started.config, renderer=render_page_job).start()


def test_a_printer_whose_driver_cannot_be_made_is_shown_stopped(memory_dir: Path) -> None:
    """An unknown driver does not stop the daemon: that printer is `stopped` with the reason."""
    good = PrinterConfig(name="preview", driver="preview", uri=f"dir://{memory_dir / 'printed'}", default=True)
    bad = PrinterConfig(name="ghost", driver="nonesuch", uri="dir:///nowhere")
    daemon = Daemon(make_config(memory_dir, good, bad), renderer=render_page_job)
    daemon.start()
    try:
        states = {s.name: s for s in daemon.printer_states()}
        assert (states["ghost"].state, states["ghost"].reasons) == ("stopped", ("other",))
        assert "unknown driver 'nonesuch'" in states["ghost"].message.text()
        assert daemon.status_line() == "2 printers, 1 need attention (ghost), 0 waiting"
    finally:
        daemon.stop()


def test_prune_forgets_old_documents_and_says_so(started: Daemon, memory_dir: Path) -> None:
    """The hourly prune forgets documents past `retention` and logs how many went."""
    (memory_dir / "inbox" / "one.pdf").write_bytes(batch_pdf(1))
    wait_printed(started, 1)
    started.config = dataclasses.replace(started.config,
                                         daemon=dataclasses.replace(started.config.daemon, retention=-60.0))
    with capture_logs() as logs:
        started.prune()
    assert [e for e in logs if e["event"] == "spool_pruned"] == [
        {"event": "spool_pruned", "documents": 1, "jobs": 1, "log_level": "info"}]
    assert started.spool.jobs() == []


def test_reload_keeps_the_running_config_when_the_new_one_is_broken(memory_dir: Path) -> None:
    """A file with errors is refused (the running printers stay); a good one swaps them; no file: skipped."""
    base = make_config(memory_dir)
    tables: dict[str, Any] = {"daemon": {"state_dir": str(base.daemon.state_dir), "socket": str(base.daemon.socket),
                         "socket_group": ""},
              "intake": {"hot_folder": str(base.intake.hot_folder), "archive": str(base.intake.archive),
                         "rejected": str(base.intake.rejected), "min_free_space": 0},
              "clock": {"servers": [], "local_sources": False},
              "printer": [{"name": "preview", "driver": "preview", "uri": f"dir://{memory_dir / 'printed'}",
                           "default": True}]}
    path = memory_dir / "config.toml"
    path.write_text(toml_text(tables))
    daemon = Daemon(load_config(path), renderer=render_page_job)
    daemon.start()
    try:
        path.write_text(toml_text({**tables, "printer": [{"name": "x", "driver": "zpll", "uri": "tcp://h:9"}]}))
        with capture_logs() as logs:
            daemon.reload()
        assert [e["event"] for e in logs] == ["reload_refused"] and list(daemon.workers) == ["preview"]
        second = {"name": "second", "driver": "preview", "uri": f"dir://{memory_dir / 'second'}"}
        path.write_text(toml_text({**tables, "daemon": {**tables["daemon"], "retention": "1d"},
                                   "printer": [*tables["printer"], second]}))
        with capture_logs() as logs:
            daemon.reload()
        assert [e["event"] for e in logs if e["event"].startswith(("reload", "config"))] == [
            "reload_partial", "config_reloaded"]
        assert list(daemon.workers) == ["preview", "second"]
        assert daemon.config.daemon.retention == base.daemon.retention
    finally:
        daemon.stop()
    builtin = Daemon(dataclasses.replace(base, source=None), renderer=render_page_job)
    with capture_logs() as logs:
        builtin.reload()
    assert [e["event"] for e in logs] == ["reload_skipped"]


@pytest.fixture
def own_signals() -> Iterator[None]:
    """Daemon.run() installs SIGTERM/SIGINT/SIGHUP handlers in this process; put pytest's back after."""
    saved = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)}
    yield
    for sig, handler in saved.items():
        signal.signal(sig, handler)


def test_run_tells_systemd_reloads_on_sighup_and_stops_on_sigterm(memory_dir: Path, own_signals: None,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """The main loop: READY with a status, a watchdog ping, SIGHUP reloads (no file: skipped),
    SIGTERM stops cleanly with STOPPING — told over a real notify socket."""
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    listener.bind(str(memory_dir / "notify.sock"))
    listener.settimeout(HANG)
    monkeypatch.setenv("NOTIFY_SOCKET", str(memory_dir / "notify.sock"))
    monkeypatch.setenv("WATCHDOG_USEC", "1000000")  # a ping at the first tick, then every 0.5 s
    monkeypatch.setattr("labeld.daemon.app.MAIN_LOOP_SECONDS", 0.02)
    daemon = Daemon(make_config(memory_dir), renderer=render_page_job)
    told: list[str] = []

    def systemd_and_operator(logs: list[MutableMapping[str, Any]]) -> None:
        """Reads what the daemon tells; once it is ready sends SIGHUP, once reloaded SIGTERM."""
        while not told or told[-1] != "STOPPING=1\n":
            told.append(listener.recv(4096).decode())
            if told[-1].startswith("READY=1"):
                os.kill(os.getpid(), signal.SIGHUP)
            if told[-1] == "WATCHDOG=1\n" and any(e["event"] == "reload_skipped" for e in logs):
                os.kill(os.getpid(), signal.SIGTERM)

    with capture_logs() as logs:
        reader = threading.Thread(target=systemd_and_operator, args=(logs,), daemon=True)
        reader.start()
        daemon.run()
    reader.join(HANG)
    listener.close()
    assert told[0] == "READY=1\nSTATUS=1 printer, 0 waiting\n"
    assert "WATCHDOG=1\n" in told and told[-1] == "STOPPING=1\n"
    assert [e["event"] for e in logs if e["event"].startswith(("reload", "labeld_st"))] == [
        "labeld_started", "reload_skipped", "labeld_stopping", "labeld_stopped"]


def test_status_line_counts_held_jobs_and_shows_the_clock(memory_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """With an SNTP server configured the daemon measures the clock (a real exchange on loopback);
    the status line says how many labels are held and the clock's state, and a change is told to
    systemd at the next tick."""
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    listener.bind(str(memory_dir / "notify.sock"))
    listener.settimeout(HANG)
    monkeypatch.setenv("NOTIFY_SOCKET", str(memory_dir / "notify.sock"))
    with SntpResponder(skew=0.0) as sntp:
        config = make_config(memory_dir)
        config = dataclasses.replace(config, clock=ClockConfig(servers=(sntp.server,), local_sources=False))
        daemon = Daemon(config, renderer=render_page_job)
        daemon.start()
        try:
            clock = daemon.clock
            assert clock is not None
            wait_for(daemon.spool, lambda: clock.snapshot().state == "ok", HANG, "the clock measured")
            daemon.pipeline.stop()  # the label stays queued, so it can be held
            (memory_dir / "inbox" / "one.pdf").write_bytes(batch_pdf(1))
            wait_for(daemon.spool, lambda: bool(daemon.spool.queued()), HANG, "the file taken")
            Operations(daemon).hold(daemon.spool.queued()[0].id)
            daemon.tick()
            assert listener.recv(4096).decode() == "STATUS=1 printer, 0 waiting, 1 held, clock ok\n"
        finally:
            daemon.stop()
            listener.close()


@pytest.fixture
def own_logging() -> Iterator[None]:
    """configure_logging() sets structlog up for the whole process; put the tests' set-up back after."""
    saved = structlog.get_config()
    yield
    structlog.configure(**saved)


@pytest.mark.parametrize("json", [True, False])
def test_log_lines_are_json_for_journald_and_plain_on_a_terminal(own_logging: None, json: bool,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    """JSON lines (for journald) or readable lines, with the level filtered as configured."""
    configure_logging("warning", json=json)
    log = structlog.get_logger("labeld.test")
    log.info("not_shown")
    log.warning("printer_unavailable", printer="ql820")
    err = capsys.readouterr().err
    assert "not_shown" not in err
    if json:
        line = jsonlib.loads(err)
        assert (line["event"], line["level"], line["printer"]) == ("printer_unavailable", "warning", "ql820")
    else:
        assert "printer_unavailable" in err and "printer=ql820" in err
