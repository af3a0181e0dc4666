"""Crash consistency: SIGKILL the real daemon again and again; nothing lost, nothing printed twice unsaid."""

from __future__ import annotations

import os
from pathlib import Path

from reliability_helpers import sized, wait_until

from labeld.labelmaker import batch_pdf
from labeld.testing.crash import CrashHarness, count_postings, make_tcp_emulator, printer_table
from labeld.testing.daemon import DaemonProcess
from labeld.testing.emulator_base import TcpServer

SEED = int(os.environ.get("LABELD_CRASH_SEED", "20261126"))


def test_random_kills_keep_every_label(tmp_path: Path) -> None:
    """≥ 20 seeded SIGKILLs while taking files, rendering and sending: every label printed once or uncertain."""
    kills = sized(20, 200)
    report = CrashHarness(tmp_path, seed=SEED, kills=kills, first_batch=12).run()
    print(report.summary())
    assert report.problems == [], report.summary()
    assert len(report.kills) >= kills + 2
    assert {k.how for k in report.kills} >= {"sigkill", "failpoint:after-accept", "failpoint:before-send"}
    assert sum(report.printed.values()) >= sum(len(d.postings) for d in report.drops) - len(report.uncertain)


def test_kill_after_accept_archives_without_a_second_document(tmp_path: Path) -> None:
    """Killed between commit and archive: the restart moves the file out and does not take it again."""
    daemon = DaemonProcess(tmp_path / "labeld", env={"LABELD_FAILPOINT": "after-accept"})
    daemon.start()
    daemon.drop("batch.pdf", batch_pdf(3))
    wait_until(lambda: daemon.process is not None and daemon.process.poll() is not None, 20, "the failpoint")
    assert daemon.process is not None and daemon.process.returncode == -9
    assert daemon.query("SELECT COUNT(*) FROM documents")[0][0] == 1
    assert [p.name.split("~")[-1] for p in (daemon.inbox / ".labeld" / "claimed").iterdir()] == ["batch.pdf"]
    daemon.kill()
    daemon.env.clear()
    with daemon:
        daemon.wait_states(3)
        wait_until(lambda: list(daemon.archive.rglob("batch.pdf")) != [], 10, "the archive")
    assert daemon.query("SELECT COUNT(*) FROM documents")[0][0] == 1
    assert sorted(p.name for p in daemon.printed.iterdir() if p.suffix == ".png") != []
    assert len([p for p in daemon.printed.iterdir() if p.suffix == ".png"]) == 3
    assert list((daemon.inbox / ".labeld" / "claimed").iterdir()) == []
    assert "intake_resumed" in daemon.log_text()


def test_kill_before_send_leaves_one_uncertain_label(tmp_path: Path) -> None:
    """Killed after ``printing`` was committed but before a byte left: that job is uncertain, the rest print."""
    emulator = make_tcp_emulator("zpl", tmp_path / "printer", 2000.0)
    server = TcpServer(emulator)
    daemon = DaemonProcess(tmp_path / "labeld", printers=[printer_table("zpl", server.uri)],
                           env={"LABELD_FAILPOINT": "before-send"})
    try:
        daemon.start()
        daemon.drop("batch.pdf", batch_pdf(3, first_posting=30000000))
        wait_until(lambda: daemon.process is not None and daemon.process.poll() is not None, 20, "the failpoint")
        daemon.kill()
        daemon.env.clear()
        with daemon:
            daemon.wait_states(3, ("printed", "uncertain"))
        states = [(j["page"], j["state"]) for j in daemon.jobs()]
        assert states == [(0, "uncertain"), (1, "printed"), (2, "printed")]
        assert "labelctl reprint" in daemon.jobs()[0]["reason"]
        printed, unreadable = count_postings(emulator.labels)
        assert (dict(printed), unreadable) == ({"30000001-0001-1": 1, "30000002-0001-1": 1}, 0)
    finally:
        daemon.kill()
        server.stop()
        emulator.close()
