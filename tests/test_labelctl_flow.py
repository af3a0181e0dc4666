"""labelctl against a real daemon with a preview printer: every operator command, run as a
subprocess, checked through its output, exit code and the PNGs the printer received."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import zxingcpp
from PIL import Image

from labeld.labelmaker import LabelSpec, batch_pdf, label_pdf
from labeld.testing.daemon import DaemonProcess


@dataclass
class Ctl:
    daemon: DaemonProcess

    def run(self, *args: str, env: dict[str, str] | None = None, timeout: float = 30.0
            ) -> subprocess.CompletedProcess[str]:
        """labelctl with LABELD_SOCKET pointing at the daemon (``--socket`` is tested separately)."""
        environment = {**os.environ, "LABELD_SOCKET": str(self.daemon.socket), "LANG": "C.UTF-8", "LANGUAGE": "",
                       **(env or {})}
        return subprocess.run([sys.executable, "-m", "labeld.cli.labelctl", *args], capture_output=True,
                              text=True, env=environment, timeout=timeout)

    def ok(self, *args: str) -> str:
        result = self.run(*args)
        assert result.returncode == 0, result.stderr
        return result.stdout

    def json(self, *args: str) -> Any:
        return json.loads(self.ok("--json", *args))

    def state(self, job: int) -> str:
        return str(self.json("show", str(job))["state"])

    def wait_state(self, job: int, state: str, timeout: float = 20.0) -> None:
        self.daemon.wait_for(lambda: self.state(job) == state, timeout, f"job {job} {state}")


@pytest.fixture(scope="module")
def ctl(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Ctl]:
    with DaemonProcess(tmp_path_factory.mktemp("labelctl")) as daemon:
        yield Ctl(daemon)


def print_pdf(ctl: Ctl, tmp_path: Path, data: bytes, *extra: str, name: str = "batch.pdf") -> list[int]:
    path = tmp_path / name
    path.write_bytes(data)
    return list(ctl.json("print", str(path), *extra)["job_ids"])


def printed_png(ctl: Ctl, job: int, copy: str = "") -> np.ndarray:
    return np.asarray(Image.open(ctl.daemon.printed / f"job-{job:06d}{copy}.png").convert("L")) < 128


def test_print_list_show_preview(ctl: Ctl, tmp_path: Path) -> None:
    """A 3-page PDF becomes 3 printed jobs; jobs/show tell about them; preview is the printed bitmap."""
    path = tmp_path / "three.pdf"
    path.write_bytes(batch_pdf(3, first_posting=20000000))
    out = ctl.ok("print", str(path))
    assert "3 labels" in out and "on preview" in out
    ids = [j["id"] for j in ctl.json("jobs", "--limit", "3")["jobs"]][::-1]
    for job in ids:
        ctl.wait_state(job, "printed")
    table = ctl.ok("jobs", "--posting", "20000001-0001-1")
    assert "printed" in table and "20000001-0001-1" in table and "three.pdf p2" in table
    detail = ctl.ok("show", str(ids[0]))
    assert f"job {ids[0]}: printed on preview" in detail and "new → queued" in detail and "issued " in detail
    out_png = tmp_path / "preview.png"
    assert "wrote the bitmap" in ctl.ok("preview", str(ids[1]), "-o", str(out_png))
    preview = np.asarray(Image.open(out_png).convert("L")) < 128
    assert np.array_equal(preview, printed_png(ctl, ids[1]))
    decoded = {b.text for b in zxingcpp.read_barcodes(Image.open(out_png).convert("L"))}
    assert "20000001-0001-1" in decoded


def test_reprint_by_id_and_posting(ctl: Ctl, tmp_path: Path) -> None:
    """Reprints make new jobs of the same label, by job id and by posting number."""
    first = print_pdf(ctl, tmp_path, label_pdf(LabelSpec(posting="30000000-0001-1", tracking="TRKA")))[0]
    ctl.wait_state(first, "printed")
    out = ctl.ok("reprint", str(first))
    assert f"reprint of job {first} queued as job" in out
    again = ctl.json("reprint", "30000000-0001-1", "--copies", "2")["job_ids"][0]
    for job in (first + 1, again):
        ctl.wait_state(job, "printed")
    detail = ctl.json("show", str(again))
    assert detail["reprint_of"] == first and detail["copies"] == 2
    for copy in ("-1", "-2"):
        assert np.array_equal(printed_png(ctl, again, copy), printed_png(ctl, first))


def test_reprint_refuses_superseded_unless_forced(ctl: Ctl, tmp_path: Path) -> None:
    """An older label of a posting that got a newer one is refused with the reason; --force prints it."""
    old = print_pdf(ctl, tmp_path, label_pdf(LabelSpec(posting="40000000-0001-1", tracking="TRKOLD")),
                    name="old.pdf")[0]
    ctl.wait_state(old, "printed")
    new = print_pdf(ctl, tmp_path, label_pdf(LabelSpec(posting="40000000-0001-1", tracking="TRKNEW")),
                    name="new.pdf")[0]
    ctl.wait_state(new, "printed")
    refused = ctl.run("reprint", str(old))
    assert refused.returncode == 1 and "superseded" in refused.stderr and "--force" in refused.stderr
    newest = ctl.json("reprint", "40000000-0001-1")["job_ids"][0]
    assert ctl.json("show", str(newest))["reprint_of"] == new
    forced = ctl.json("reprint", str(old), "--force")["job_ids"][0]
    ctl.wait_state(forced, "printed")


def test_expired_label_held_refused_then_released(ctl: Ctl, tmp_path: Path) -> None:
    """An expired label is held; reprint says it expired; release prints it anyway (forced)."""
    stale = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - 5 * 3600))
    path = tmp_path / "stale.pdf"
    path.write_bytes(label_pdf(LabelSpec(posting="50000000-0001-1", tracking="TRKSTALE")))
    result = subprocess.run(
        ["curl", "-s", "--unix-socket", str(ctl.daemon.socket), "-X", "POST", "-H", "Content-Type: application/pdf",
         "--data-binary", f"@{path}", f"http://labeld/v1/documents?issued_at={stale}&name=stale.pdf"],
        capture_output=True, text=True, check=True)
    held = json.loads(result.stdout)["job_ids"][0]
    ctl.wait_state(held, "held")
    assert "expired" in ctl.json("show", str(held))["reason"]
    refused = ctl.run("reprint", str(held))
    assert refused.returncode == 1 and "expired" in refused.stderr
    assert "is queued" in ctl.ok("release", str(held))
    ctl.wait_state(held, "printed")
    assert ctl.json("show", str(held))["forced"] is True


def test_pause_hold_cancel_resume(ctl: Ctl, tmp_path: Path) -> None:
    """While paused, jobs wait; one is held, one cancelled; after resume the rest print, the held one on release."""
    assert "paused" in ctl.ok("pause", "preview")
    assert ctl.json("printers")["printers"][0]["paused"] is True
    ids = print_pdf(ctl, tmp_path, batch_pdf(3, first_posting=60000000), name="paused.pdf")
    for job in ids:
        ctl.wait_state(job, "ready")
    time.sleep(0.5)
    assert all(ctl.state(job) == "ready" for job in ids)
    ctl.daemon.wait_for(lambda: "paused" in ctl.ok("printers"), 30, "printer shows paused")
    assert ctl.json("hold", str(ids[0]))["state"] == "held"
    assert ctl.json("cancel", str(ids[1]))["state"] == "cancelled"
    ctl.ok("resume", "preview")
    ctl.wait_state(ids[2], "printed")
    assert ctl.state(ids[0]) == "held"
    ctl.ok("release", str(ids[0]))
    ctl.wait_state(ids[0], "printed")
    assert not (ctl.daemon.printed / f"job-{ids[1]:06d}.png").exists()
    refused = ctl.run("cancel", str(ids[2]))
    assert refused.returncode == 1 and "printed" in refused.stderr


def test_status_printers_clock_and_test_page(ctl: Ctl) -> None:
    """Human views say what a person needs; a test page prints with a readable barcode."""
    status = ctl.ok("status")
    assert status.startswith("labeld 0.1.0, up ") and "PRINTER" in status and "preview *" in status
    assert ctl.json("status")["jobs"]["printed"] >= 1
    assert "STATE" in ctl.ok("printers")
    assert "clock unknown" in ctl.ok("clock")
    job = ctl.json("test", "preview")["job_ids"][0]
    ctl.wait_state(job, "printed")
    image = Image.open(ctl.daemon.printed / f"job-{job:06d}.png").convert("L")
    assert any(b.text.startswith("T") for b in zxingcpp.read_barcodes(image))


def test_watch_follows_events(ctl: Ctl, tmp_path: Path) -> None:
    """watch prints state changes as they happen, from the daemon's long-poll."""
    env = {**os.environ, "LABELD_SOCKET": str(ctl.daemon.socket), "PYTHONUNBUFFERED": "1"}
    watch = subprocess.Popen([sys.executable, "-m", "labeld.cli.labelctl", "watch"], stdout=subprocess.PIPE,
                             text=True, env=env)
    try:
        assert watch.stdout is not None
        assert "following labeld" in watch.stdout.readline()
        job = print_pdf(ctl, tmp_path, batch_pdf(1, first_posting=70000000), name="watched.pdf")[0]
        lines: list[str] = []
        while len(lines) < 12 and not (lines and "printing → printed" in lines[-1]):
            lines.append(watch.stdout.readline())  # after any alarms still open when watch started
    finally:
        watch.terminate()
        watch.wait(10)
    text = "".join(lines)
    assert f"job {job} on preview: new → queued — accepted watched.pdf" in text
    assert f"job {job} on preview (70000000-0001-1): printing → printed" in text
    assert "queued → ready" in text and "ready → printing" in text and "printing → printed" in text


def test_exit_codes_and_socket_choice(ctl: Ctl, tmp_path: Path) -> None:
    """0 done, 1 refused, 2 usage, 3 unreachable with a sentence; --socket beats LABELD_SOCKET."""
    missing = str(tmp_path / "nothing.sock")
    down = ctl.run("status", env={"LABELD_SOCKET": missing})
    assert down.returncode == 3 and "does not exist: is labeld running" in down.stderr
    assert ctl.run("--socket", str(ctl.daemon.socket), "status", env={"LABELD_SOCKET": missing}).returncode == 0
    assert ctl.run("show", "999999").returncode == 1
    assert "there is no job 999999" in ctl.run("show", "999999").stderr
    assert ctl.run("preview", "abc", "-o", "x.png").returncode == 2
    assert ctl.run("frobnicate").returncode == 2
    assert ctl.run().returncode == 2
    assert ctl.run("print", str(tmp_path / "absent.pdf")).returncode == 1
    not_pdf = tmp_path / "notes.pdf"
    not_pdf.write_text("hello")
    refused = ctl.run("print", str(not_pdf))
    assert refused.returncode == 1 and refused.stderr.startswith("labelctl: ")


def test_bash_completion_from_parser(ctl: Ctl) -> None:
    """The completion script is valid bash and offers every command and a command's options."""
    script = ctl.ok("completion", "bash")
    subprocess.run(["bash", "-n"], input=script, text=True, check=True)
    function = re.search(r"complete .*-F (\S+) labelctl", script)
    assert function, "the script registers no completion function for labelctl"

    def complete(*words: str) -> list[str]:
        line = " ".join(f'"{w}"' for w in ("labelctl", *words))
        probe = (script + f"\nCOMP_WORDS=({line}); COMP_CWORD={len(words)}; COMP_LINE='labelctl {' '.join(words)}';"
                 f" COMP_POINT=${{#COMP_LINE}}; {function[1]}; printf '%s\\n' \"${{COMPREPLY[@]}}\"\n")
        env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",
               "LABELD_SOCKET": str(ctl.daemon.socket)}
        return subprocess.run(["bash"], input=probe, text=True, capture_output=True, env=env).stdout.split()

    assert complete("reprint", "1", "--f") == ["--force"]
    assert {"status", "jobs", "reprint", "preview", "watch"} <= set(complete(""))
    assert "--socket" in complete("--s")
    assert complete("pause", "") == ["preview"], "printer names come from the running daemon"


def test_print_wait_reports_printed_and_refused(ctl: Ctl, tmp_path: Path) -> None:
    """print --wait returns 0 once every label printed, and 4 naming the job and its reason when one was refused."""
    good = tmp_path / "good.pdf"
    good.write_bytes(batch_pdf(2, first_posting=26000000))
    result = ctl.run("print", "--wait", str(good), timeout=60)
    assert result.returncode == 0, result.stderr
    low = tmp_path / "low.pdf"
    low.write_bytes(batch_pdf(1, first_posting=26100000, raster_dpi=150))
    result = ctl.run("print", "--wait", str(low), timeout=60)
    assert result.returncode == 4 and "0 of 1 printed, 1 rejected" in result.stdout
    assert "rejected — barcode image at 149." in result.stdout
