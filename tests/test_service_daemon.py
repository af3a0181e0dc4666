"""The daemon under a real NOTIFY_SOCKET, and its signals: READY, STATUS, WATCHDOG, STOPPING, SIGHUP."""

from __future__ import annotations

from pathlib import Path

from labeld.labelmaker import batch_pdf
from labeld.testing.daemon import DaemonProcess


def test_notify_ready_status_watchdog_and_stopping(tmp_path: Path) -> None:
    """With WatchdogSec=1s the main loop pings at half of it; STATUS says what an operator needs."""
    d = DaemonProcess(tmp_path, env={"WATCHDOG_USEC": "1000000"})
    d.start()
    assert "READY=1" in d.notifications
    assert any(line.startswith("STATUS=1 printer, 0 waiting") for line in d.notifications)
    d.wait_notification("WATCHDOG=1", timeout=30)
    d.drop("a.pdf", batch_pdf(2))
    d.wait_states(2)
    assert d.process is not None
    d.process.terminate()
    d.wait_notification("STOPPING=1", timeout=10)
    assert d.process.wait(30) == 0


def test_sighup_reloads_and_a_broken_config_is_refused(tmp_path: Path) -> None:
    """A new printer appears on SIGHUP; a config with errors is refused and the running one kept."""
    with DaemonProcess(tmp_path) as d:
        text = d.config_path.read_text()
        d.config_path.write_text(text + f'\n[[printer]]\nname = "second"\ndriver = "preview"\n'
                                 f'uri = "dir://{tmp_path / "second"}"\nmedia = "75x120mm"\ndpi = 203\n')
        assert d.process is not None
        d.process.send_signal(1)  # SIGHUP
        d.wait_for(lambda: any(e.get("event") == "config_reloaded" for e in d.log_events()), what="reload")
        d.drop("b.pdf", batch_pdf(1), folder="second")
        d.wait_states(1)
        assert d.jobs()[0]["printer"] == "second"
        d.config_path.write_text(text + '\n[[printer]]\nname = "third"\ndriver = "zpll"\nuri = "tcp://127.0.0.1:9"\n')
        d.process.send_signal(1)
        d.wait_for(lambda: any(e.get("event") == "reload_refused" for e in d.log_events()), what="refusal")
        refused = next(e for e in d.log_events() if e.get("event") == "reload_refused")
        assert any("'zpll' is not one of" in problem for problem in refused["problems"])
        d.drop("c.pdf", batch_pdf(1, first_posting=40000000), folder="second")
        d.wait_states(2)
