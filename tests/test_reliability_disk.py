"""A full disk: new files wait in the inbox with a reason, accepted labels still print, and intake
resumes by itself when space returns. State dir and inbox live on an 8 MB tmpfs mounted here."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from reliability_helpers import wait_until

from labeld.labelmaker import batch_pdf
from labeld.testing.daemon import DaemonProcess

RESERVE = 2_000_000


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """An 8 MB tmpfs, or a skip that says why it could not be mounted."""
    disk = tmp_path / "disk"
    disk.mkdir()
    result = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", str(disk)],
                            capture_output=True, text=True, check=False)
    if result.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here (needs root or CAP_SYS_ADMIN): {result.stderr.strip()}")
    try:
        yield disk
    finally:
        subprocess.run(["umount", "-l", str(disk)], check=False)


def _fill(disk: Path, leave: int) -> Path:
    """Take all free space on ``disk`` but ``leave`` bytes."""
    stat = os.statvfs(disk)
    filler = disk / "filler.bin"
    with open(filler, "wb") as out:
        out.truncate(0)
        chunk = b"\0" * (1 << 20)
        remaining = stat.f_bavail * stat.f_frsize - leave
        while remaining > 0:
            remaining -= out.write(chunk[: min(len(chunk), remaining)])
    return filler


def _daemon(root: Path, disk: Path) -> DaemonProcess:
    daemon = DaemonProcess(
        root, sections={"daemon": {"state_dir": str(disk / "state")},
                        "intake": {"hot_folder": str(disk / "inbox"), "archive": str(disk / "archive"),
                                   "rejected": str(disk / "rejected"), "min_free_space": f"{RESERVE}B"},
                        "preflight": {"verify_barcodes": False}})
    daemon.state_dir, daemon.inbox, daemon.archive = disk / "state", disk / "inbox", disk / "archive"
    return daemon


def test_full_disk_refuses_with_a_reason_and_resumes(tmp_path: Path, small_disk: Path) -> None:
    """Below intake.min_free_space a new file waits in the inbox; freeing space lets it in unasked."""
    daemon = _daemon(tmp_path / "labeld", small_disk)
    with daemon:
        daemon.drop("before.pdf", batch_pdf(6, first_posting=50000000))
        wait_until(lambda: len(daemon.jobs()) == 6, 30, "the first batch to be accepted")
        filler = _fill(small_disk, RESERVE // 2)
        daemon.drop("while-full.pdf", batch_pdf(2, first_posting=51000000))
        daemon.wait_for(lambda: "spool_full" in daemon.log_text(), 30, "the spool_full log line")
        daemon.wait_states(6)
        # A refused file is claimed, refused and put back; a second event for it (its close after its
        # creation) may repeat that, so it is back in the inbox a moment later, not at every instant.
        wait_until(lambda: (daemon.inbox / "while-full.pdf").exists(), 30, "the refused file back in the inbox")
        assert {j["document"] for j in daemon.jobs()} == {"before.pdf"}
        full = next(e for e in daemon.log_events() if e["event"] == "spool_full")
        assert full["file"] == "while-full.pdf" and "in reserve" in full["reason"] and full["level"] == "error"
        filler.unlink()
        daemon.wait_states(8, timeout=60)
        assert not (daemon.inbox / "while-full.pdf").exists()
        assert sorted(p.name for p in daemon.archive.rglob("*.pdf")) == ["before.pdf", "while-full.pdf"]
        assert any(e["event"] == "spool_space_back" for e in daemon.log_events())
        assert daemon.query("PRAGMA integrity_check") == [("ok",)]
    assert len(list(daemon.printed.glob("*.png"))) == 8


def test_disk_full_to_the_last_byte_loses_no_accepted_label(tmp_path: Path, small_disk: Path) -> None:
    """The disk fills completely while accepted labels still render: none is lost once space returns."""
    daemon = _daemon(tmp_path / "labeld", small_disk)
    with daemon:
        daemon.drop("batch.pdf", batch_pdf(30, first_posting=52000000))
        wait_until(lambda: len(daemon.jobs()) == 30, 30, "the batch to be accepted")
        filler = _fill(small_disk, 0)
        wait_until(lambda: "disk is full" in daemon.log_text() or daemon.jobs()[-1]["state"] == "printed", 60,
                   "labeld to meet the full disk")
        filler.unlink()
        daemon.wait_states(30, timeout=120)
        assert daemon.query("PRAGMA integrity_check") == [("ok",)]
    assert len(list(daemon.printed.glob("*.png"))) == 30
