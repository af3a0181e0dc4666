"""A Wi-Fi Brother QL through a real labeld: raw TCP for the labels, SNMP for the status.

The printer is a QL-820NWB emulator on a TCP port with its network card (an SNMP agent on UDP
loopback) in this process; the daemon runs in a child process. Faults are the emulator's own
switches; every printed label is checked dot for dot against the daemon's render and decoded.
"""

from __future__ import annotations

import signal
import socket
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from labeld.cli.client import Client
from labeld.testing.bench import EmulatorBench
from labeld.testing.daemon import DaemonProcess
from labeld.testing.emulator_base import Emulator, Fault, TcpServer
from labeld.testing.snmp_agent import SnmpAgent, V3User
from tests.test_e2e_brother import DIE_CUT, assert_printed_in_job_order, batch, plug

FAULT_REASONS = {"paper-out": "media-empty", "cover-open": "cover-open"}


def snmp_printer(agent: SnmpAgent | SilentSnmpPort, uri: str, **extra: Any) -> dict[str, Any]:
    return {"name": "ql", "driver": "brother_ql", "model": "QL-820NWB", "uri": uri, "media": "62x29",
            "default": True, "snmp": agent.address, "probe_interval": "0.5s", **extra}


def start(daemons: list[DaemonProcess], root: Path, printer: dict[str, Any], env: dict[str, str] | None = None
          ) -> DaemonProcess:
    process = DaemonProcess(root / "labeld", printers=[printer], env=env)
    daemons.append(process)
    return process.start()


def history(daemon: DaemonProcess, job_id: int) -> list[tuple[str, str]]:
    rows = daemon.query("SELECT reason_code, reason FROM events WHERE job_id = ? ORDER BY id", (job_id,))
    return [(code, text) for code, text in rows]


def sent_events(daemon: DaemonProcess) -> int:
    return int(daemon.query("SELECT count(*) FROM events WHERE to_state = 'printing' AND job_id IS NOT NULL")[0][0])


@pytest.mark.parametrize("fault", ["paper-out", "cover-open"])
def test_fault_at_label_4_of_20_waits_and_every_label_prints_once_confirmed(
        bench: EmulatorBench, daemons: list[DaemonProcess], tmp_path: Path, fault: str) -> None:
    """Paper out (or cover open) at label 4 of 20: labels 4–20 wait ``ready`` and none is sent while
    the printer says so; after SIGUSR1-style clearing all 20 print once, in order, each confirmed by
    the page counter going up by one."""
    emulator, uri = plug(bench, "tcp", "ql", "62x29", faults=(Fault(fault, 3),))
    agent = bench.attach_snmp(emulator, counter_start=5000)
    daemon = start(daemons, tmp_path, snmp_printer(agent, uri))
    daemon.drop("twenty.pdf", batch(100, 20, DIE_CUT))
    daemon.wait_for(lambda: FAULT_REASONS[fault] in daemon.printer("ql")["reasons"], 60, fault)
    daemon.wait_states(20, ("printed", "ready"), timeout=60)
    time.sleep(1.0)  # the worker keeps asking; nothing may go out meanwhile

    assert [job["state"] for job in daemon.jobs()] == ["printed"] * 3 + ["ready"] * 17
    assert sent_events(daemon) == 3
    assert len(emulator.labels) == 3
    shown = daemon.printer("ql")
    assert shown["state"] == "stopped" and shown["waiting"] == 17
    assert "the printer says" in shown["message"]

    emulator.clear_fault()
    daemon.wait_states(20, timeout=90)
    assert_printed_in_job_order(daemon, emulator, "ql", first=100)
    jobs = daemon.jobs()
    assert all(job["confirmed"] and not job["interrupted"] for job in jobs)
    counters = [(code, params) for job in jobs for code, params in
                daemon.query("SELECT reason_code, reason_params FROM events WHERE job_id = ? AND "
                             "to_state = 'printing'", (job["id"],))]
    assert [code for code, _ in counters] == ["job.sending_counted"] * 20
    assert [f'"counter": {5000 + n}' in params for n, (_, params) in enumerate(counters)] == [True] * 20
    assert sent_events(daemon) == 20


def test_snmp_silent_mid_batch_goes_on_write_only_showing_status_unknown(
        bench: EmulatorBench, daemons: list[DaemonProcess], tmp_path: Path) -> None:
    """The SNMP agent stops after label 4 of 12 while TCP still works: the printer shows
    ``status-unknown`` (never plain ready), the rest print write-only and unconfirmed, and every
    label comes out exactly once."""
    emulator, uri = plug(bench, "tcp", "ql", "62x29")
    agent = bench.attach_snmp(emulator)
    daemon = start(daemons, tmp_path, snmp_printer(agent, uri, status="snmp", confirm_timeout="5s"))
    emulator.speed_mm_s = 60.0  # about half a second a label: the agent stops mid-batch
    daemon.drop("twelve.pdf", batch(300, 12, DIE_CUT))
    daemon.wait_states(4, timeout=60)
    agent.stop()
    daemon.wait_for(lambda: "status-unknown" in daemon.printer("ql")["reasons"], 30, "status-unknown")
    emulator.speed_mm_s = 5000.0
    daemon.wait_states(12, timeout=120)

    assert_printed_in_job_order(daemon, emulator, "ql", first=300)
    jobs = daemon.jobs()
    confirmed = [bool(job["confirmed"]) for job in jobs]
    assert confirmed[:4] == [True] * 4 and False in confirmed
    assert confirmed == sorted(confirmed, reverse=True)  # confirmed until the agent stopped, not after
    assert not any(job["interrupted"] for job in jobs)
    shown = daemon.printer("ql")
    assert "status-unknown" in shown["reasons"] and shown["state"] != "stopped"
    assert "status unknown" in shown["message"] and "no SNMP answer" in shown["message"]
    assert sum(e.get("event") == "snmp_status_lost" for e in daemon.log_events()) == 1


def test_wrong_community_and_wrong_v3_key_are_named(bench: EmulatorBench, daemons: list[DaemonProcess],
                                                    tmp_path: Path) -> None:
    """A wrong v2c community (no answer at all) and a wrong SNMPv3 auth key (an authentication
    report) each stop the printer with a sentence that says so — with ``status_lost = "wait"`` no
    label goes out — and the secrets appear nowhere in the log or the API."""
    emulator, uri = plug(bench, "tcp", "ql", "62x29")
    agent = bench.attach_snmp(emulator, community="s3cret-community",
                              users=(V3User("labeld", "right-auth-key", "right-priv-key"),))
    secrets = tmp_path / "secrets"
    secrets.mkdir()
    for name, value in (("community", "wrong-community"), ("auth", "wrong-auth-key"), ("priv", "right-priv-key")):
        (secrets / name).write_text(value + "\n")
        (secrets / name).chmod(0o600)
    cases = [
        ({"snmp_community_file": str(secrets / "community")}, "a wrong community gets no answer either"),
        ({"snmp_user": "labeld", "snmp_auth_key_file": str(secrets / "auth"),
          "snmp_priv_key_file": str(secrets / "priv")}, "SNMPv3 authentication failed"),
    ]
    for n, (keys, words) in enumerate(cases):
        daemon = start(daemons, tmp_path / f"case{n}", snmp_printer(agent, uri, status="snmp", status_lost="wait",
                                                                       **keys))
        daemon.drop("one.pdf", batch(400 + n, 1, DIE_CUT))
        daemon.wait_for(lambda d=daemon: "status-unknown" in d.printer("ql")["reasons"], 30, "status-unknown")
        daemon.wait_states(1, ("ready",), timeout=30)
        shown = daemon.printer("ql")
        assert shown["state"] == "stopped" and words in shown["message"], shown
        assert shown["message_code"] == "printer.status_unknown_wait"
        time.sleep(0.5)
        assert sent_events(daemon) == 0
        everything = daemon.log_text() + str(daemon.printer("ql")) + daemon.config_path.read_text()
        for secret in ("wrong-community", "wrong-auth-key", "right-priv-key", "s3cret-community"):
            assert secret not in everything
        daemon.stop()
    assert emulator.labels == []


def test_auto_without_snmp_falls_back_to_write_only_with_one_log_line(
        bench: EmulatorBench, daemons: list[DaemonProcess], tmp_path: Path) -> None:
    """``status = "auto"`` against a QL whose SNMP is off: one clear log line, then labels print
    write-only (unconfirmed) as before, without asking SNMP again."""
    emulator, uri = plug(bench, "tcp", "ql", "62x29")
    agent = bench.attach_snmp(emulator)
    agent.stop()
    daemon = start(daemons, tmp_path, snmp_printer(agent, uri))
    daemon.drop("three.pdf", batch(500, 3, DIE_CUT))
    daemon.wait_states(3, timeout=60)
    assert_printed_in_job_order(daemon, emulator, "ql", first=500)
    assert not any(job["confirmed"] for job in daemon.jobs())
    lines = [e for e in daemon.log_events() if e.get("event") == "snmp_status_unavailable"]
    assert len(lines) == 1 and "write-only" in lines[0]["consequence"]
    assert "status-unknown" not in daemon.printer("ql")["reasons"]


class SilentSnmpPort:
    """A UDP port where a printer's SNMP agent would be, answering nothing (SNMP switched off, as on
    many Brother QLs): it notes, for every question that reaches it, how many labels the printer had
    put out by then."""

    def __init__(self, emulator: Emulator) -> None:
        self.emulator = emulator
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.questions: list[int] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.sock.getsockname()[1]}"

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.sock.recvfrom(65536)
            except TimeoutError:
                continue
            except OSError:
                return
            self.questions.append(len(self.emulator.labels))

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self.sock.close()


def test_auto_without_snmp_remembers_the_fallback_and_holds_no_label_after_a_restart(
        bench: EmulatorBench, daemons: list[DaemonProcess], tmp_path: Path) -> None:
    """``status = "auto"``, SNMP off: the first run asks at start-up (in the background, before any
    label) and remembers the fallback in the spool; after a restart a label dropped at once goes out
    write-only without a single SNMP question before it — nothing waits for the SNMP timeout — and
    the one log line says the fallback was remembered."""
    emulator, uri = plug(bench, "tcp", "ql", "62x29")
    silent = SilentSnmpPort(emulator)
    try:
        daemon = start(daemons, tmp_path, snmp_printer(silent, uri))
        daemon.wait_for(lambda: bool(silent.questions), 30, "the start-up question")
        daemon.drop("first.pdf", batch(700, 1, DIE_CUT))
        daemon.wait_states(1, timeout=60)
        daemon.wait_for(lambda: any(e.get("event") == "snmp_status_unavailable" for e in daemon.log_events()),
                        30, "the fallback")
        assert silent.questions[0] == 0  # asked before any label came, not when one did
        assert daemon.stop() == 0
        kept = daemon.query("SELECT key FROM meta WHERE key LIKE 'snmp_off:%'")
        assert [row[0] for row in kept] == [f"snmp_off:ql:127.0.0.1:{silent.address.rsplit(':', 1)[1]}"]

        asked_before = len(silent.questions)
        lines_before = len(daemon.log_events())
        daemon.start()
        daemon.drop("second.pdf", batch(701, 1, DIE_CUT))
        daemon.wait_states(2, timeout=60)
        assert_printed_in_job_order(daemon, emulator, "ql", first=700)
        assert silent.questions[asked_before:] == []  # no question at all before (or after) the label
        events = [e.get("event") for e in daemon.log_events()[lines_before:]]
        assert events.count("snmp_status_unavailable") == 1
        assert events.index("snmp_status_unavailable") < events.index("job_printed")
        line = next(e for e in daemon.log_events()[lines_before:] if e.get("event") == "snmp_status_unavailable")
        assert line["remembered"] is True and 'status = "none"' in line["consequence"]
        assert not any(job["confirmed"] for job in daemon.jobs())
    finally:
        silent.close()


@pytest.mark.parametrize("crash", ["before-send", "after-send", "sigkill"])
def test_crash_mid_batch_is_settled_by_the_page_counter(bench: EmulatorBench, daemons: list[DaemonProcess],
                                                        tmp_path: Path, crash: str) -> None:
    """kill -9 while a label is being sent (before its bytes, after them, or at a random moment):
    on restart the label caught mid-send is settled by the page counter — sent again when the counter
    did not move, printed when it moved by one — and every label comes out exactly once."""
    emulator, uri = plug(bench, "tcp", "ql", "62x29")
    agent = bench.attach_snmp(emulator)
    env = {} if crash == "sigkill" else {"LABELD_FAILPOINT": crash}
    daemon = start(daemons, tmp_path, snmp_printer(agent, uri), env=env)
    daemon.drop("six.pdf", batch(600, 6, DIE_CUT))
    if crash == "sigkill":
        emulator.speed_mm_s = 200.0
        daemon.wait_for(lambda: any(job["state"] == "printing" for job in daemon.jobs()[2:]), 60, "a label sending")
        assert daemon.process is not None
        daemon.process.send_signal(signal.SIGKILL)
    daemon.wait_for(lambda: daemon.process is not None and daemon.process.poll() is not None, 60, "the crash")
    daemon.env.pop("LABELD_FAILPOINT", None)
    emulator.speed_mm_s = 5000.0
    daemon.start()
    daemon.wait_states(6, timeout=60)

    assert_printed_in_job_order(daemon, emulator, "ql", first=600)
    settled = [(job["id"], code) for job in daemon.jobs() for code, _ in history(daemon, job["id"])
               if code in ("job.uncertain_printed", "job.uncertain_not_printed")]
    if crash != "sigkill":
        expected = "job.uncertain_not_printed" if crash == "before-send" else "job.uncertain_printed"
        assert [code for _, code in settled] == [expected]
    assert all(job["state"] == "printed" for job in daemon.jobs())
    assert not any("job.uncertain_kept" in dict(history(daemon, job["id"])) for job in daemon.jobs())


def _restart_tcp(bench: EmulatorBench, emulator: Emulator, port: int) -> None:
    bench.servers.append(TcpServer(emulator, port=port))


def test_idle_printer_switched_off_shows_offline_and_back(bench: EmulatorBench, daemons: list[DaemonProcess],
                                                          tmp_path: Path) -> None:
    """No job in sight: the printer is switched off (TCP and SNMP gone) → ``offline`` in the
    printer list and in /metrics within a few probes; TCP back without SNMP → ``status-unknown``;
    SNMP back too → plainly idle."""
    emulator, uri = plug(bench, "tcp", "ql", "62x29")
    agent = bench.attach_snmp(emulator)
    daemon = start(daemons, tmp_path, snmp_printer(agent, uri, status="snmp"))
    daemon.wait_for(lambda: daemon.printer("ql")["loaded_media"] == "62×29 mm die-cut", 30, "the first probe")
    tcp = next(s for s in bench.servers if isinstance(s, TcpServer) and s.emulator is emulator)
    port = int(uri.rsplit(":", 1)[1])
    tcp.stop()
    agent.stop()
    daemon.wait_for(lambda: daemon.printer("ql")["reasons"] == ["offline"], 30, "offline")
    metrics = Client(daemon.socket).fetch("/metrics").decode()
    assert 'labeld_printer_up{printer="ql"} 0.0' in metrics
    assert 'labeld_printer_reason{printer="ql",reason="offline"} 1.0' in metrics

    _restart_tcp(bench, emulator, port)
    daemon.wait_for(lambda: daemon.printer("ql")["reasons"] == ["status-unknown"], 30, "status unknown")
    assert daemon.printer("ql")["state"] == "idle"
    bench.servers.append(SnmpAgent(emulator, port=agent.port))
    daemon.wait_for(lambda: daemon.printer("ql")["reasons"] == [], 60, "ready again")
    assert daemon.printer("ql")["state"] == "idle"
