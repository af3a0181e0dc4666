"""``status = "auto"`` over a real SNMP exchange on UDP loopback, in process: the fallback to
write-only is asked off the label's path, told to whoever keeps it, and undone when the printer's
SNMP is switched on later (the periodic re-check)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from labeld.config import PrinterConfig
from labeld.drivers import snmp_status
from labeld.drivers.base import PrinterStatus
from labeld.drivers.brother_ql import BrotherQLDriver
from labeld.testing.bench import EmulatorBench
from tests.test_e2e_brother import plug
from tests.test_e2e_snmp import SilentSnmpPort


def wait_until(check: object, what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():  # type: ignore[operator]
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def test_auto_falls_back_in_the_background_and_finds_snmp_switched_on_later(
        bench: EmulatorBench, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    emulator, uri = plug(bench, "tcp", "ql", "62x29")
    silent = SilentSnmpPort(emulator)
    port = int(silent.address.rsplit(":", 1)[1])
    driver = BrotherQLDriver(PrinterConfig(name="ql", driver="brother_ql", uri=uri, media="62x29",
                                           snmp=silent.address))
    snmp = driver.snmp
    assert snmp is not None
    told: list[float | None] = []
    snmp.remember = told.append
    connected = PrinterStatus.unknown("a Brother QL does not answer over a raw TCP connection")

    snmp.begin()
    wait_until(lambda: silent.questions, "the question")
    wait_until(lambda: snmp.probe(lambda: connected) is connected and not snmp.in_use, "the fallback")
    assert len(told) == 1 and told[0] is not None
    assert snmp.status() is None  # write-only; not due again for RECHECK_OFF: nothing asked
    asked = len(silent.questions)
    assert snmp.status() is None and len(silent.questions) == asked

    silent.close()  # SNMP switched on in the printer's web page
    bench.attach_snmp(emulator, port=port)
    monkeypatch.setattr(snmp_status, "RECHECK_OFF", 0.0)
    snmp._recheck_at = 0.0  # the re-check is due
    wait_until(lambda: snmp.probe(lambda: connected) is not connected, "SNMP found again")
    assert snmp.in_use and told[-1] is None
    status = snmp.status()
    assert status is not None and status.known


def test_restored_fallback_prints_write_only_without_asking(bench: EmulatorBench) -> None:
    emulator, uri = plug(bench, "tcp", "ql", "62x29")
    silent = SilentSnmpPort(emulator)
    try:
        driver = BrotherQLDriver(PrinterConfig(name="ql", driver="brother_ql", uri=uri, media="62x29",
                                               snmp=silent.address))
        snmp = driver.snmp
        assert snmp is not None
        snmp.restore(time.time())
        snmp.begin()
        assert not snmp.in_use and snmp.status() is None
        time.sleep(0.3)
        assert silent.questions == []
    finally:
        silent.close()
