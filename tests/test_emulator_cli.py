"""labeld-emulator as a real subprocess: TCP in, PNGs and events.jsonl out, faults, SIGUSR1."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from labeld.bitmap import from_png
from labeld.config import PrinterConfig
from labeld.credentials import Secret
from labeld.devices.base import open_device
from labeld.devices.snmp import SnmpCredentials, SnmpError, SnmpTarget, parse_target, shared_client
from labeld.drivers.brother_ql import BrotherQLDriver
from labeld.drivers.printer_mib import read_mib
from labeld.testing.brother_emulator import BrotherQLCore
from labeld.testing.emulator_base import Emulator, Fault


def start(tmp_path: Path, *extra: str) -> tuple[subprocess.Popen[str], dict[str, str]]:
    process = subprocess.Popen(
        [sys.executable, "-m", "labeld.testing.emulator_cli", "brother_ql", "--listen", "127.0.0.1:0",
         "--out", str(tmp_path / "out"), "--media", "62", "--speed", "20000", *extra],
        stdout=subprocess.PIPE, text=True,
    )
    assert process.stdout is not None
    ready: dict[str, str] = json.loads(process.stdout.readline())
    return process, ready


@pytest.fixture
def stop_all() -> Iterator[list[subprocess.Popen[str]]]:
    processes: list[subprocess.Popen[str]] = []
    yield processes
    for process in processes:
        process.terminate()
        process.wait(timeout=10)


def events(out: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in (out / "events.jsonl").read_text().splitlines()]


def wait_for(condition: object, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if callable(condition) and condition():
            return True
        time.sleep(0.02)
    return False


def label(n: int) -> np.ndarray:
    bitmap = np.zeros((160, 696), dtype=bool)
    bitmap[10 + n * 5 : 20 + n * 5, 50:650] = True
    return bitmap


def ql(uri: str) -> BrotherQLDriver:
    return BrotherQLDriver(PrinterConfig(name="ql", driver="brother_ql", uri=uri, media="62"))


def test_cli_writes_pngs_and_events(tmp_path: Path, stop_all: list[subprocess.Popen[str]]) -> None:
    """Two labels over TCP become 0001.png and 0002.png equal to the input, with events logged."""
    process, ready = start(tmp_path)
    stop_all.append(process)
    device = open_device(ready["tcp"])
    driver = ql(ready["tcp"])
    for n in (1, 2):
        device.write(driver.encode(label(n)))
    device.close()
    out = tmp_path / "out"
    assert wait_for(lambda: (out / "0002.png").exists())
    assert np.array_equal(from_png((out / "0002.png").read_bytes()), label(2))
    assert [e["event"] for e in events(out)][:1] == ["started"]
    assert sum(e["event"] == "printed" for e in events(out)) == 2


def test_cli_paper_out_over_usb_socket_then_sigusr1(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                    stop_all: list[subprocess.Popen[str]]) -> None:
    """paper-out@2 in a separate process over virtual USB: 2 print, the third is refused and the
    status says media-empty; SIGUSR1 loads paper and the third prints."""
    sock = tmp_path / "usb.sock"
    process, ready = start(tmp_path, "--fault", "paper-out@2", "--usb-socket", str(sock))
    stop_all.append(process)
    monkeypatch.setenv("LABELD_USB_BACKEND", "labeld.testing.virtual_usb:backend_from_env")
    monkeypatch.setenv("LABELD_VIRTUAL_USB", ready["usb_socket"])
    device = open_device("usb://0x04f9:0x209d")
    driver = ql("usb://0x04f9:0x209d")
    for n in (1, 2):
        device.write(driver.encode(label(n)))
        assert driver.confirm(device, timeout=30)
    assert driver.status(device).reasons == ("media-empty",)
    process.send_signal(signal.SIGUSR1)
    assert wait_for(lambda: driver.status(device).reasons == ())
    device.write(driver.encode(label(3)))
    assert driver.confirm(device, timeout=30)
    device.close()
    kinds = [e["event"] for e in events(tmp_path / "out")]
    assert kinds.count("printed") == 3 and "fault" in kinds and "fault-cleared" in kinds


def test_unknown_fault_is_a_usage_error(tmp_path: Path) -> None:
    result = subprocess.run([sys.executable, "-m", "labeld.testing.emulator_cli", "brother_ql", "--out",
                             str(tmp_path), "--fault", "fire@3"], capture_output=True, text=True, timeout=30)
    assert result.returncode == 2 and "fire" in result.stderr


def test_tcp_paper_out_holds_data_until_cleared(tmp_path: Path) -> None:
    """Over TCP the printer in error stops reading: labels sent meanwhile print after the clear,
    once each and in order."""
    from labeld.testing.emulator_base import TcpServer

    emulator = Emulator(BrotherQLCore(media="62"), tmp_path, speed_mm_s=1e5, faults=(Fault("paper-out", 4),))
    server = TcpServer(emulator)
    device = open_device(server.uri)
    driver = ql(server.uri)
    try:
        for n in range(4):
            device.write(driver.encode(label(n)))
            assert emulator.wait_labels(n + 1, timeout=30)
        for n in range(4, 8):
            device.write(driver.encode(label(n)))
        time.sleep(0.3)
        assert len(emulator.labels) == 4
        emulator.clear_fault()
        assert emulator.wait_labels(8, timeout=30)
    finally:
        device.close()
        server.stop()
    assert all(np.array_equal(printed, label(n)) for n, printed in enumerate(emulator.labels))


def test_speed_model_spaces_labels(tmp_path: Path) -> None:
    """At 200 mm/s a 13.5 mm label holds the next one back ~68 ms; slow makes it ten times that."""
    for faults, minimum in (((), 0.06), ((Fault("slow"),), 0.6)):
        emulator = Emulator(BrotherQLCore(media="62"), tmp_path / str(minimum), speed_mm_s=200, faults=faults)
        driver = ql("tcp://x")
        started = time.monotonic()
        emulator.feed(driver.encode(label(0)) + driver.encode(label(1)))
        assert time.monotonic() - started >= minimum


def test_cli_network_card_answers_snmp_with_the_fault_and_v3(tmp_path: Path, stop_all: list[subprocess.Popen[str]]
                                                           ) -> None:
    """``--snmp`` starts the agent: a jam shows as ``jammed`` in the MIB for the community from its
    file and for an SNMPv3 user; SIGUSR1 clears it; a wrong community gets no answer."""
    (tmp_path / "community").write_text("floor-2\n")
    (tmp_path / "auth").write_text("auth-key-123\n")
    (tmp_path / "priv").write_text("priv-key-123\n")
    process, ready = start(tmp_path, "--fault", "jam@0", "--snmp", "127.0.0.1:0", "--counter-start", "77",
                           "--snmp-community-file", str(tmp_path / "community"), "--snmp-user", "ops",
                           "--snmp-auth-file", str(tmp_path / "auth"), "--snmp-priv-file", str(tmp_path / "priv"))
    stop_all.append(process)
    host, port = parse_target(ready["snmp"], "")
    v2c = SnmpTarget(host, port, SnmpCredentials(community=Secret("floor-2")))
    v3 = SnmpTarget(host, port, SnmpCredentials(user="ops", auth_key=Secret("auth-key-123"),
                                                priv_key=Secret("priv-key-123")))
    for target in (v2c, v3):
        jammed = read_mib(shared_client(), target, brother=True)
        assert jammed.errors == {"jammed"} and jammed.life_count == 77 and "Media jam" in jammed.alerts
    process.send_signal(signal.SIGUSR1)
    assert wait_for(lambda: not read_mib(shared_client(), v2c, brother=True).errors)
    with pytest.raises(SnmpError) as silent:
        read_mib(shared_client(), SnmpTarget(host, port, SnmpCredentials(community=Secret("public"))), brother=True)
    assert silent.value.silent
