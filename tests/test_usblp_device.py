"""file:// (usblp) through a pty standing in for /dev/usb/lp0."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest

from labeld.config import PrinterConfig
from labeld.devices.base import open_device
from labeld.drivers.brother_ql import BrotherQLDriver
from labeld.errors import DeviceError
from labeld.testing.brother_emulator import BrotherQLCore
from labeld.testing.emulator_base import Emulator, Fault, PtyServer


def label(rows: int = 400) -> np.ndarray:
    bitmap = np.zeros((rows, 696), dtype=bool)
    bitmap[5:-5:3, 20:680] = True
    return bitmap


def ql() -> BrotherQLDriver:
    return BrotherQLDriver(PrinterConfig(name="ql", driver="brother_ql", uri="file:///dev/usb/lp0", media="62"))


def test_prints_and_confirms_through_the_pty(tmp_path: Path) -> None:
    """Status (32 bytes, 62 mm endless), one label dot for dot, confirmation type 01."""
    emulator = Emulator(BrotherQLCore(media="62"), tmp_path / "out", speed_mm_s=1e5)
    server = PtyServer(emulator, tmp_path / "lp0")
    device = open_device(server.uri)
    driver = ql()
    try:
        status = driver.status(device)
        assert status.known and status.reasons == () and status.media is not None
        device.write(driver.encode(label()))
        assert driver.confirm(device, timeout=30) is True
        assert np.array_equal(emulator.labels[0], label())
    finally:
        device.close()
        server.stop()


def test_cover_open_shows_in_status_until_cleared(tmp_path: Path) -> None:
    """cover-open@0: the status says cover-open; after clearing, it prints."""
    emulator = Emulator(BrotherQLCore(media="62"), tmp_path / "out", speed_mm_s=1e5, faults=(Fault("cover-open"),))
    server = PtyServer(emulator, tmp_path / "lp0")
    device = open_device(server.uri)
    driver = ql()
    try:
        assert driver.status(device).reasons == ("cover-open",)
        emulator.clear_fault()
        assert driver.status(device).reasons == ()
        device.write(driver.encode(label()))
        assert driver.confirm(device, timeout=30)
    finally:
        device.close()
        server.stop()


def test_disconnect_breaks_the_open_device_and_the_path_comes_back(tmp_path: Path) -> None:
    """disconnect@0: the label is cut off, the open fd fails, reopening the same path works."""
    emulator = Emulator(BrotherQLCore(media="62"), tmp_path / "out", speed_mm_s=1e5,
                        faults=(Fault("disconnect"),))
    server = PtyServer(emulator, tmp_path / "lp0")
    device = open_device(server.uri)
    driver = ql()
    try:
        with pytest.raises(DeviceError):
            data = driver.encode(np.random.default_rng(1).random((2000, 696)) < 0.5)
            device.write(data)
            for _ in range(50):
                device.read(32, 0.05)
        device.close()
        assert emulator.labels == [] and any(e["event"] == "disconnected" for e in emulator.events)
        deadline = time.monotonic() + 30
        while not (tmp_path / "lp0").exists() and time.monotonic() < deadline:
            time.sleep(0.01)  # the printer re-appears a moment after it was "plugged back in"
        device.write(driver.encode(label()))
        assert driver.confirm(device, timeout=30)
    finally:
        device.close()
        server.stop()


def test_missing_device_file_is_offline(tmp_path: Path) -> None:
    with pytest.raises(DeviceError, match="unplugged"):
        open_device(f"file://{tmp_path}/lp9").open()
