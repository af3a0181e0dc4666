"""labelctl as a packer and a shift lead use it, against real daemons: alarms in watch and status,
watch through a daemon restart, batch progress in a real terminal (tmux) and its summary and exit
code, acknowledgements, rejected files, overrides, posting mismatches, scanned codes, and the
dead ends a new user met (--json anywhere, JSON errors, broken pipes, PNG to stdout, narrow terminals)."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from labeld.labelmaker import LabelSpec, Symbol, batch_pdf, label_pdf
from labeld.testing.bench import EmulatorBench
from labeld.testing.daemon import DaemonProcess
from labeld.testing.emulator_base import Fault
from labeld.testing.sntp_server import SntpResponder
from labeld.testing.zpl_emulator import make_emulator

LABELCTL = [sys.executable, "-m", "labeld.cli.labelctl"]


def labelctl(daemon: DaemonProcess, *args: str, timeout: float = 60.0, text: bool = True,
             socket: Path | None = None) -> subprocess.CompletedProcess[Any]:
    env = {**os.environ, "LABELD_SOCKET": str(socket or daemon.socket), "LANG": "C.UTF-8"}
    env.pop("LANGUAGE", None)
    return subprocess.run([*LABELCTL, *args], capture_output=True, text=text, env=env, timeout=timeout)


def ok(daemon: DaemonProcess, *args: str) -> str:
    done = labelctl(daemon, *args)
    assert done.returncode == 0, (args, done.stdout, done.stderr)
    return done.stdout


def as_json(daemon: DaemonProcess, *args: str) -> Any:
    return json.loads(ok(daemon, *args, "--json"))


def wait_for(what: str, check: Callable[[], Any], timeout: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout
    while not (value := check()):
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)
    return value


def state(daemon: DaemonProcess, job: int) -> str:
    return str(as_json(daemon, "show", str(job))["state"])


def write(tmp_path: Path, name: str, data: bytes) -> str:
    path = tmp_path / name
    path.write_bytes(data)
    return str(path)


@dataclass
class Watch:
    """``labelctl watch`` in the background; its lines as they come."""

    daemon: DaemonProcess
    lines: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        env = {**os.environ, "LABELD_SOCKET": str(self.daemon.socket), "PYTHONUNBUFFERED": "1", "LANG": "C.UTF-8"}
        self.process = subprocess.Popen([*LABELCTL, "watch"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                        text=True, env=env)
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()
        self.wait("following labeld")

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(line.rstrip("\n"))

    def wait(self, *words: str, timeout: float = 30.0) -> str:
        found: str = wait_for(f"a watch line with {words}; have {self.lines[-8:]}",
                              lambda: next((line for line in self.lines if all(w in line for w in words)), ""),
                              timeout)
        return found

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(10)


def first_json_watch_line(daemon: DaemonProcess) -> dict[str, Any]:
    """``labelctl --json watch``'s first line: the alarms open when it started."""
    env = {**os.environ, "LABELD_SOCKET": str(daemon.socket), "PYTHONUNBUFFERED": "1", "LANG": "C.UTF-8"}
    process = subprocess.Popen([*LABELCTL, "--json", "watch"], stdout=subprocess.PIPE, text=True, env=env)
    try:
        assert process.stdout is not None
        first: dict[str, Any] = json.loads(process.stdout.readline())
    finally:
        process.terminate()
        process.wait(10)
    assert first["kind"] == "open-alarms"
    return first


@pytest.fixture
def watches() -> Iterator[list[Watch]]:
    running: list[Watch] = []
    yield running
    for watch in running:
        watch.stop()


class Terminal:
    """A command in a real terminal (a detached tmux session of a given size), read back as a screen."""

    def __init__(self, command: str, width: int = 110, height: int = 20) -> None:
        self.socket = f"labeld-test-{uuid.uuid4().hex[:8]}"
        self.tmux("new-session", "-d", "-x", str(width), "-y", str(height), f"{command}; echo EXIT=$?; sleep 600")

    def tmux(self, *args: str) -> str:
        return subprocess.run(["tmux", "-L", self.socket, *args], capture_output=True, text=True, check=True,
                              timeout=30).stdout

    def screen(self) -> str:
        return self.tmux("capture-pane", "-p", "-t", "0")

    def cursor_visible(self) -> bool:
        return self.tmux("display", "-p", "-t", "0", "#{cursor_flag}").strip() == "1"

    def close(self) -> None:
        subprocess.run(["tmux", "-L", self.socket, "kill-server"], capture_output=True, timeout=30)

    def wait_screen(self, *words: str, timeout: float = 30.0) -> str:
        """The screen, once it shows every one of ``words``."""
        def showing() -> str:
            screen = self.screen()
            return screen if all(word in screen for word in words) else ""
        found: str = wait_for(f"a screen with {words}", showing, timeout)
        return found


def in_terminal(daemon: DaemonProcess, *args: str, width: int = 110) -> Terminal:
    env = f"LABELD_SOCKET={shlex.quote(str(daemon.socket))} LANG=C.UTF-8 TERM=xterm-256color"
    command = " ".join(shlex.quote(a) for a in (*LABELCTL, *args))
    return Terminal(f"cd {shlex.quote(os.getcwd())} && env {env} {command}", width)


# ----- alarms in watch and status -----------------------------------------------------------------


def test_watch_and_status_show_printer_clock_and_file_alarms(bench: EmulatorBench, daemons: list[DaemonProcess],
                                                             watches: list[Watch], tmp_path: Path) -> None:
    """Paper-out on the ZPL emulator, a time server 7 s off and a garbage file each give one marked alarm
    line in watch and a line in status; watch starts with the alarms already open; paper loaded, watch
    says the printer is back; the clock back in bounds and off again are lines as they happen."""
    emulator = make_emulator(tmp_path / "zd", dpi=203, speed_mm_s=5000.0, faults=(Fault("paper-out", 1),), name="zd")
    uri = bench.attach(emulator, "tcp", "zd")
    server = SntpResponder(skew=7.0).start()
    try:
        daemon = DaemonProcess(tmp_path / "labeld", printers=[{"name": "zd", "driver": "zpl", "uri": uri,
                                                              "media": "58x40mm", "dpi": 203, "default": True}],
                               sections={"clock": {"servers": [server.server], "interval": "1s", "timeout": "0.5s"}})
        daemons.append(daemon.start())
        wait_for("the clock alarm", lambda: "clock is 7.0 s behind" in ok(daemon, "status"))
        watch = Watch(daemon)
        watches.append(watch)
        watch.wait("!! ALARM", "clock is 7.0 s behind")  # open when watch started
        assert [alarm["kind"] for alarm in first_json_watch_line(daemon)["alarms"]] == ["clock"]
        specs = [LabelSpec(posting=f"7100000{n}-0001-1", tracking=f"TRK{n}", size_mm=(58, 40), symbols=(
            Symbol("code128", f"7100000{n}-0001-1", 3.0, 3.0, 0.3, height_mm=10.0),)) for n in range(2)]
        ok(daemon, "print", write(tmp_path, "two.pdf", label_pdf(specs)))
        daemon.drop("junk.pdf", b"not a pdf")
        printer = watch.wait("!! ALARM", "printer zd stopped", "media-empty")
        junk = watch.wait("!! ALARM", "file junk.pdf rejected", "not a PDF")
        server.skew = 0.0
        assert "ALARM" not in watch.wait("clock ok: clock is within")
        server.skew = 7.0
        clock = watch.wait("!! ALARM", "clock drifting", "7.0 s behind")
        assert len({printer, clock, junk}) == 3
        assert sum("printer zd stopped" in line for line in watch.lines) == 1, "one line per alarm"
        status = ok(daemon, "status")
        assert "3 alarms — need a person now:" in status
        for words in ("printer zd stopped (media-empty)", "clock is 7.0 s behind", "file junk.pdf was rejected"):
            assert any(line.startswith("!! ALARM") and words in line for line in status.splitlines()), words
        emulator.clear_fault()
        back = watch.wait("printer zd is ready again (was: media-empty)")
        assert "ALARM" not in back
        assert "printer zd stopped" not in ok(daemon, "status")
    finally:
        server.stop()


def test_watch_goes_on_through_a_daemon_restart(daemon: DaemonProcess, watches: list[Watch]) -> None:
    """When labeld stops, watch says so and waits; when it is back, watch says so and shows what happens next."""
    watch = Watch(daemon)
    watches.append(watch)
    daemon.stop()
    watch.wait("labeld stopped answering", "waiting for it to come back")
    daemon.start()
    watch.wait("labeld is back", "nothing missed")
    daemon.drop("empty.pdf", b"")
    watch.wait("!! ALARM", "file empty.pdf rejected", "empty")
    assert watch.process.poll() is None


# ----- batch progress ----------------------------------------------------------------------------


def test_print_wait_without_a_terminal_sums_up_and_says_so_in_the_exit_code(daemon: DaemonProcess,
                                                                            tmp_path: Path) -> None:
    """No progress without a terminal; the summary names the label that did not print with its job id,
    page, posting and reason; exit code 4. --json gives the same as one JSON document."""
    pdf = label_pdf([LabelSpec(posting="72000000-0001-1"), LabelSpec(posting="72000001-0001-1", raster_dpi=150),
                     LabelSpec(posting="72000002-0001-1")])
    done = labelctl(daemon, "print", "--wait", write(tmp_path, "mixed.pdf", pdf))
    assert done.returncode == 4, done.stderr
    assert done.stderr == "", "nothing but the summary without a terminal"
    lines = done.stdout.splitlines()
    assert lines[0].startswith("accepted mixed.pdf: 3 labels as jobs ")
    assert lines[1] == "mixed.pdf: 2 of 3 printed, 1 rejected"
    job = int(lines[0].split("jobs ")[1].split("–")[0]) + 1
    assert lines[2].startswith(f"  job {job} (page 2, 72000001-0001-1): rejected — barcode image at 149.")
    assert "labelctl show`" not in done.stdout
    again = labelctl(daemon, "print", "--json", "--wait",
                     write(tmp_path, "again.pdf", batch_pdf(2, first_posting=72100000)))
    answer = json.loads(again.stdout)
    assert again.returncode == 0 and answer["exit_code"] == 0
    assert [r["state"] for r in answer["results"]] == ["printed", "printed"]


def test_progress_renders_in_a_terminal_and_ends_cleanly(daemon: DaemonProcess, tmp_path: Path) -> None:
    """In a real terminal the bar shows "0/4 printed" and why it waits (the printer is paused); after
    resume it reaches 4/4, the summary follows, the cursor is shown again and the exit code is 0."""
    ok(daemon, "pause", "preview")
    four = write(tmp_path, "four.pdf", batch_pdf(4, first_posting=73000000))
    terminal = in_terminal(daemon, "print", "--wait", four)
    try:
        waiting = terminal.wait_screen("0/4 printed", "waiting for preview: paused")
        assert "four.pdf" in waiting and "━" in waiting
        ok(daemon, "resume", "preview")
        final = terminal.wait_screen("EXIT=")
        lines = [line.rstrip() for line in final.splitlines() if line.strip()]
        assert lines[-1] == "EXIT=0" and lines[-2] == "four.pdf: 4 of 4 printed"
        assert "4/4 printed" in lines[-3] and "waiting" not in lines[-3]
        assert sum("four.pdf ━" in line for line in lines) == 1, "the bar is redrawn in place, not repeated"
        assert terminal.cursor_visible()
    finally:
        terminal.close()


# ----- acknowledgements, rejected files, overrides, postings -------------------------------------------


def test_relabel_and_rejected_files_stay_in_status_until_acknowledged(daemon: DaemonProcess, tmp_path: Path) -> None:
    """A printed label voided by a newer one and a rejected file show in status; `ack` clears each and
    the history names who; `rejected` lists files with reasons, also as JSON."""
    old = as_json(daemon, "print", write(tmp_path, "a.pdf", label_pdf(LabelSpec(posting="74000000-0001-1",
                                                                                 tracking="TRKA"))))["job_ids"][0]
    wait_for("the first label", lambda: state(daemon, old) == "printed")
    new = as_json(daemon, "print", write(tmp_path, "b.pdf", label_pdf(LabelSpec(posting="74000000-0001-1",
                                                                                 tracking="TRKB"))))["job_ids"][0]
    wait_for("the second label", lambda: state(daemon, new) == "printed")
    daemon.drop("cut.pdf", b"%PDF-1.7\n1 0 obj <<")
    wait_for("the rejection", lambda: as_json(daemon, "rejected")["rejected"])
    status = ok(daemon, "status")
    assert f"relabel parcel 74000000-0001-1: the label of job {old} was printed" in status
    assert "files rejected today: 1" in status and "file cut.pdf was rejected" in status
    assert f"ack {old}`" in status and "ack --rejected 1`" in status
    assert f"job {old}: relabel acknowledged" in ok(daemon, "ack", str(old))
    assert "acknowledged by " in ok(daemon, "show", str(old)).splitlines()[-1]
    table = ok(daemon, "rejected")
    assert "cut.pdf" in table and "unreadable PDF" in table and "hotfolder" in table
    assert "acknowledged by" in ok(daemon, "ack", "--rejected", "1")
    after = ok(daemon, "status")
    assert "ALARM" not in after and "files rejected today: 1" in after
    again = labelctl(daemon, "ack", str(old))
    assert again.returncode == 1 and f"job {old} has no alarm to acknowledge" in again.stderr


def test_an_override_prints_a_refused_label_once_with_who_and_why(daemon: DaemonProcess, tmp_path: Path) -> None:
    """A rejected label: plain release is refused; release --override prints it and show says who and why."""
    job = as_json(daemon, "print", write(tmp_path, "coarse.pdf", label_pdf(LabelSpec(
        posting="75000000-0001-1", raster_dpi=150))))["job_ids"][0]
    wait_for("the rejection", lambda: state(daemon, job) == "rejected")
    plain = labelctl(daemon, "release", str(job))
    assert plain.returncode == 1 and "override" in plain.stderr
    assert "released past the label rules by " in ok(daemon, "release", "--override", "checked by hand", str(job))
    wait_for("the print", lambda: state(daemon, job) == "printed")
    detail = ok(daemon, "show", str(job))
    assert "override by " in detail and "checked by hand" in detail
    assert (daemon.printed / f"job-{job:06d}.png").exists()


def test_a_posting_the_label_contradicts_is_refused_unless_accepted(daemon: DaemonProcess, tmp_path: Path) -> None:
    """print --posting with another parcel's number is refused naming both numbers; accepted on purpose it prints."""
    path = write(tmp_path, "small_qr.pdf", label_pdf(LabelSpec(posting="64081225-0660-7", tracking="TRK64")))
    refused = labelctl(daemon, "print", "--posting", "12345678-0000-1", path)
    assert refused.returncode == 1
    assert "64081225-0660-7" in refused.stderr and "12345678-0000-1" in refused.stderr
    assert "--posting-mismatch=accept" in refused.stderr
    assert as_json(daemon, "jobs", "--posting", "12345678-0000-1")["jobs"] == []
    accepted = as_json(daemon, "print", "--posting", "12345678-0000-1", "--posting-mismatch=accept", path)
    job = accepted["job_ids"][0]
    wait_for("the accepted label", lambda: state(daemon, job) == "printed")
    assert as_json(daemon, "show", str(job))["label"]["posting_number"] == "12345678-0000-1"


def test_show_reprint_and_jobs_take_what_a_scanner_reads(daemon: DaemonProcess, tmp_path: Path) -> None:
    """OZON: QR text, a spaced posting and a tracking number work where a job id does; jobs --document filters."""
    [job] = as_json(daemon, "print", write(tmp_path, "scan.pdf", label_pdf(LabelSpec(
        posting="76000000-0001-1", tracking="TRK7600001"))))["job_ids"]
    wait_for("the label", lambda: state(daemon, job) == "printed")
    shown = ok(daemon, "show", "OZON:76000000-0001-1")
    assert shown.startswith("OZON:76000000-0001-1 is posting 76000000-0001-1") and f"job {job}: printed" in shown
    out = ok(daemon, "reprint", "76000000 0001 1")
    assert "reprint of the newest label of posting 76000000-0001-1" in out
    reprint = int(out.rsplit("job ", 1)[1])
    wait_for("the reprint", lambda: state(daemon, reprint) == "printed")
    assert {j["id"] for j in as_json(daemon, "jobs", "trk7600001")["jobs"]} == {job, reprint}
    assert [j["id"] for j in as_json(daemon, "jobs", "--document", "scan.pdf")["jobs"]] == [reprint, job]
    missing = labelctl(daemon, "reprint", "OZON:99999999-0000-1")
    assert missing.returncode == 1 and "no label in the spool matches" in missing.stderr


# ----- dead ends -----------------------------------------------------------------------------------


def closed_pipe(command: list[str], daemon: DaemonProcess) -> subprocess.CompletedProcess[bytes]:
    """``command`` writing into a pipe whose reader is already gone (``| head`` after its first line)."""
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        env = {**os.environ, "LABELD_SOCKET": str(daemon.socket)}
        return subprocess.run(command, stdout=write_end, stderr=subprocess.PIPE, env=env, timeout=120)
    finally:
        os.close(write_end)


def test_json_anywhere_errors_as_json_and_quiet_pipes(daemon: DaemonProcess, tmp_path: Path) -> None:
    """--json after the command; errors under --json are JSON on stdout with the exit code; a closed pipe
    ends quietly (141, nothing on stderr) for labelctl and labeld preflight; preview -o - writes the PNG to
    stdout; clock rounds to the millisecond; --copies has help."""
    assert "version" in json.loads(ok(daemon, "status", "--json"))
    missing = labelctl(daemon, "show", "999999", "--json")
    assert missing.returncode == 1 and missing.stderr == ""
    error = json.loads(missing.stdout)["error"]
    assert (error["code"], error["exit_code"], error["reason_code"]) == ("not_found", 1, "op.no_job")
    away = labelctl(daemon, "--json", "status", socket=tmp_path / "none.sock")
    assert away.returncode == 3 and json.loads(away.stdout)["error"]["exit_code"] == 3
    [job] = as_json(daemon, "print", write(tmp_path, "one.pdf", batch_pdf(1, first_posting=77000000)))["job_ids"]
    wait_for("the label", lambda: state(daemon, job) == "printed")
    labeld = [sys.executable, "-m", "labeld.cli.labeld_cmd"]
    pdf = write(tmp_path, "pre.pdf", batch_pdf(3, first_posting=77100000))
    for command in ([*LABELCTL, "show", str(job)], [*LABELCTL, "completion", "bash"], [*LABELCTL, "jobs"],
                    [*labeld, "preflight", pdf]):
        closed = closed_pipe(command, daemon)
        assert closed.returncode == 141 and closed.stderr == b"", (command, closed.stderr[-500:])
    png = labelctl(daemon, "preview", str(job), "-o", "-", text=False)
    assert png.returncode == 0 and png.stdout.startswith(b"\x89PNG\r\n\x1a\n")
    assert not (Path.cwd() / "-").exists()
    assert "copies of each label" in ok(daemon, "print", "--help")
    clock = ok(daemon, "clock")
    assert "clock unknown" in clock and "e-" not in clock


def test_the_reason_column_fits_the_terminal_and_printed_stays_short(daemon: DaemonProcess, tmp_path: Path) -> None:
    """In an 80-column terminal no line of `jobs` is wider than the terminal, and a printed job's reason is
    the short "not confirmed", not the whole sentence (that is in `show`)."""
    [job] = as_json(daemon, "print", write(tmp_path, "w.pdf", batch_pdf(1, first_posting=78000000)))["job_ids"]
    wait_for("the label", lambda: state(daemon, job) == "printed")
    terminal = in_terminal(daemon, "jobs", width=80)
    try:
        screen = terminal.wait_screen("EXIT=0")
    finally:
        terminal.close()
    lines = [line.rstrip() for line in screen.splitlines() if line.strip()]
    assert all(len(line) <= 80 for line in lines), lines
    row = next(line for line in lines if line.startswith(f"{job} "))
    assert row.endswith("  not confirmed")
    assert "this printer connection cannot confirm printing" in ok(daemon, "show", str(job))
