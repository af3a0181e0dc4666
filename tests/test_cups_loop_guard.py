"""The loop guard: a ``cups`` printer must not print to a queue that feeds labeld.

Queues on a private cupsd with labeld's backend installed: one on ``labeld:/zd420``, a class
holding it, a queue forwarding to it over IPP, and a plain queue. check-config refuses the
first three, the daemon keeps such a printer stopped (its other printers print), and a queue
turned into a loop later blocks the printer before its next label.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from labeld.config import PrinterConfig
from labeld.devices import open_device
from labeld.drivers import make_driver
from labeld.drivers.cups import CupsDriver
from labeld.labelmaker import batch_pdf
from labeld.testing.cupsd import PrivateCupsd
from labeld.testing.daemon import DaemonProcess, toml_text
from tests.cups_helpers import PPD, cupsd_with_labeld

LOOP = "feeds labeld itself (device URI labeld:/zd420)"


@pytest.fixture(scope="module")
def cupsd() -> Iterator[PrivateCupsd]:
    server = cupsd_with_labeld(None)
    server.add_queue("feeds", "labeld:/zd420", ppd=PPD)
    server.run("lpadmin", "-p", "feeds", "-c", "ring")
    server.add_queue("fwd", f"ipp://localhost:{server.port}/printers/feeds")
    server.add_capture_queue("plain")
    yield server
    server.stop()


def cups_printer(uri: str, name: str = "c") -> PrinterConfig:
    return PrinterConfig(name=name, driver="cups", uri=uri, format="zpl", media="58x40mm", dpi=203)


def driver_for(uri: str) -> CupsDriver:
    driver = make_driver(cups_printer(uri))
    assert isinstance(driver, CupsDriver)
    return driver


def test_loop_found_directly_through_a_class_and_over_ipp(cupsd: PrivateCupsd) -> None:
    """The labeld queue itself, a class with it as member and an ipp://localhost queue forwarding to
    it all feed labeld, and the self-check says so; a plain queue passes."""
    for queue in ("feeds", "ring", "fwd"):
        driver = driver_for(cupsd.uri(queue))
        loop = driver.loop()
        assert loop is not None and LOOP in loop, queue
        assert driver.self_check() == loop
    plain = driver_for(cupsd.uri("plain"))
    assert plain.loop() is None and plain.self_check() is None


def test_status_blocks_a_queue_that_feeds_labeld(cupsd: PrivateCupsd) -> None:
    """Before each label the queue's device URI is read: a loop blocks the printer with the reason."""
    driver = driver_for(cupsd.uri("feeds"))
    status = driver.status(open_device(cupsd.uri("feeds")))
    assert status.blocked and "other" in status.reasons and LOOP in status.message


def check_config(tmp_path: Path, uri: str) -> subprocess.CompletedProcess[str]:
    config = tmp_path / "config.toml"
    config.write_text(toml_text({"printer": [{"name": "desk", "driver": "cups", "uri": uri, "format": "zpl",
                                              "media": "58x40mm", "dpi": 203}]}))
    return subprocess.run([sys.executable, "-m", "labeld.cli.labeld_cmd", "check-config", str(config)],
                          capture_output=True, text=True, timeout=60, env=dict(os.environ))


def test_check_config_refuses_a_loop_and_passes_a_plain_queue(cupsd: PrivateCupsd, tmp_path: Path) -> None:
    """check-config exits 2 naming the printer and the loop; a plain queue is OK."""
    looping = check_config(tmp_path, cupsd.uri("ring"))
    assert looping.returncode == 2 and "[[printer]] desk uri:" in looping.stderr and LOOP in looping.stderr
    plain = check_config(tmp_path, cupsd.uri("plain"))
    assert plain.returncode == 0, plain.stderr


def test_daemon_keeps_the_looping_printer_stopped_and_prints_on_the_others(
        cupsd: PrivateCupsd, daemons: list[DaemonProcess], tmp_path: Path) -> None:
    """At start the printer on a looping queue is stopped with the reason; the preview printer prints."""
    loop = {"name": "loop", "driver": "cups", "uri": cupsd.uri("fwd"), "format": "zpl", "media": "58x40mm",
            "dpi": 203}
    preview = {"name": "preview", "driver": "preview", "uri": f"dir://{tmp_path / 'printed'}", "media": "75x120mm",
               "dpi": 300, "default": True}
    daemon = DaemonProcess(tmp_path / "labeld", printers=[loop, preview])
    daemons.append(daemon.start())
    daemon.wait_for(lambda: daemon.printer("loop")["state"] == "stopped", 20, "the looping printer stopped")
    assert LOOP in daemon.printer("loop")["message"]
    daemon.drop("one.pdf", batch_pdf(1, first_posting=61000000))
    daemon.wait_states(1, timeout=30)
    assert cupsd.captured("plain") == []
