"""usb://0x0a5f:PID through real pyusb over the virtual backend into the ZPL emulator."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from labeld.config import PrinterConfig
from labeld.devices.base import open_device
from labeld.drivers.zpl import ZplDriver
from labeld.testing.emulator_base import Emulator, Fault
from labeld.testing.virtual_usb import EmulatorLink, VirtualPrinter, VirtualUsbBackend
from labeld.testing.zpl_emulator import make_emulator

BUS: list[VirtualUsbBackend] = []
URI = "usb://0x0a5f:0x0120"


def current_backend() -> VirtualUsbBackend:
    """What LABELD_USB_BACKEND points at in these tests."""
    return BUS[-1]


@pytest.fixture
def zebra(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Emulator]:
    monkeypatch.setenv("LABELD_USB_BACKEND", f"{__name__}:current_backend")
    emulator = make_emulator(tmp_path / "out", speed_mm_s=20000.0, faults=(Fault("paper-out", 1),))
    printer = VirtualPrinter(link=EmulatorLink(emulator), vendor=0x0A5F, product=0x0120, serial="ZD420A",
                             manufacturer="Zebra Technologies", product_name="ZTC ZD420-203dpi ZPL")
    BUS[:] = [VirtualUsbBackend([printer])]
    yield emulator
    BUS.clear()
    emulator.close()


def _driver() -> ZplDriver:
    driver = ZplDriver(PrinterConfig(name="zebra", driver="zpl", uri=URI, media="58x40mm"))
    driver.status_timeout = 10.0  # a hang bound: the emulator answers at once
    return driver


def test_prints_confirms_and_reports_paper_out_over_usb(zebra: Emulator) -> None:
    """Over USB the ZPL printer prints dot for dot, confirms, then says paper out from ~HQES/~HS."""
    driver = _driver()
    device = open_device(URI)
    bitmap = np.zeros((320, 464), dtype=bool)
    bitmap[10:300:3, 20:440] = True
    assert driver.status(device).reasons == ()
    device.write(driver.encode(bitmap))
    assert driver.confirm(device, timeout=30)
    assert np.array_equal(zebra.labels[0], bitmap)
    status = driver.status(device)
    assert "media-empty" in status.reasons and status.blocked
    zebra.clear_fault()
    assert driver.status(device).reasons == ()
    device.close()
