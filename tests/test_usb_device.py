"""usb:// through real pyusb over the virtual backend, in-process and across a Unix socket."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from labeld.config import PrinterConfig
from labeld.devices.base import open_device
from labeld.drivers.brother_ql import BrotherQLDriver
from labeld.errors import DeviceError
from labeld.testing.brother_emulator import BrotherQLCore
from labeld.testing.emulator_base import Emulator, Fault
from labeld.testing.virtual_usb import (
    EmulatorLink,
    UsbSocketServer,
    VirtualPrinter,
    VirtualUsbBackend,
)

BUS: list[VirtualUsbBackend] = []


def current_backend() -> VirtualUsbBackend:
    """What LABELD_USB_BACKEND points at in these tests."""
    return BUS[-1]


@pytest.fixture
def bus(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[VirtualUsbBackend]]:
    monkeypatch.setenv("LABELD_USB_BACKEND", f"{__name__}:current_backend")
    BUS.clear()
    yield BUS
    BUS.clear()


def plug(bus: list[VirtualUsbBackend], tmp_path: Path, media: str = "62", faults: tuple[Fault, ...] = (),
         serial: str = "A1") -> tuple[Emulator, VirtualPrinter]:
    emulator = Emulator(BrotherQLCore(media=media), tmp_path / serial, speed_mm_s=1e5, faults=faults)
    printer = VirtualPrinter(link=EmulatorLink(emulator), serial=serial)
    if not bus:
        bus.append(VirtualUsbBackend([]))
    bus[-1].printers.append(printer)
    return emulator, printer


def ql(media: str = "62", uri: str = "usb://0x04f9:0x209d") -> BrotherQLDriver:
    return BrotherQLDriver(PrinterConfig(name="ql", driver="brother_ql", uri=uri, media=media))


def label(rows: int = 300) -> np.ndarray:
    bitmap = np.zeros((rows, 696), dtype=bool)
    bitmap[::7, 100:600] = True
    return bitmap


def test_prints_reads_status_and_confirms(bus: list[VirtualUsbBackend], tmp_path: Path) -> None:
    """Find, detach usblp, claim, print one label, read a 62 mm status, confirm with type 01."""
    emulator, printer = plug(bus, tmp_path)
    device = open_device("usb://0x04f9:0x209d")
    driver = ql()
    status = driver.status(device)
    assert status.known and status.reasons == () and status.media is not None
    assert status.media.describe() == "62 mm endless"
    assert printer.detach_count == 1 and not printer.kernel_driver_attached
    device.write(driver.encode(label()))
    assert driver.confirm(device, timeout=30) is True
    assert np.array_equal(emulator.labels[0], label())
    device.close()


def test_serial_picks_the_right_printer(bus: list[VirtualUsbBackend], tmp_path: Path) -> None:
    """Two QL-820NWBs on the bus: the URI's serial chooses which one prints."""
    first, _ = plug(bus, tmp_path, serial="AAA111")
    second, _ = plug(bus, tmp_path, serial="BBB222")
    device = open_device("usb://0x04f9:0x209d/BBB222")
    device.write(ql().encode(label()))
    device.close()
    assert (len(first.labels), len(second.labels)) == (0, 1)


def test_missing_printer_is_a_device_error(bus: list[VirtualUsbBackend], tmp_path: Path) -> None:
    plug(bus, tmp_path)
    with pytest.raises(DeviceError, match="no USB printer 0x04f9:0x2042"):
        open_device("usb://0x04f9:0x2042").open()


def test_paper_out_blocks_then_prints_after_clear(bus: list[VirtualUsbBackend], tmp_path: Path) -> None:
    """paper-out@1: the status says media-empty, a label sent anyway is refused (not confirmed,
    not printed), and after the fault clears the label prints."""
    emulator, _ = plug(bus, tmp_path, faults=(Fault("paper-out", 1),))
    device = open_device("usb://0x04f9:0x209d")
    driver = ql()
    device.write(driver.encode(label()))
    assert driver.confirm(device, timeout=30)
    status = driver.status(device)
    assert status.reasons == ("media-empty",) and status.blocked and status.media is None
    device.write(driver.encode(label()))
    assert driver.confirm(device, timeout=1) is False
    assert len(emulator.labels) == 1
    emulator.clear_fault()
    assert driver.status(device).reasons == ()
    device.write(driver.encode(label()))
    assert driver.confirm(device, timeout=30) and len(emulator.labels) == 2
    device.close()


def test_disconnect_mid_label_reports_bytes_sent(bus: list[VirtualUsbBackend], tmp_path: Path) -> None:
    """disconnect@1: label 2 is cut off after its first chunk; the error says how much went out
    and nothing half-printed counts as printed."""
    emulator, _ = plug(bus, tmp_path, faults=(Fault("disconnect", 1),))
    device = open_device("usb://0x04f9:0x209d")
    driver = ql()
    device.write(driver.encode(label()))
    big = driver.encode(np.random.default_rng(0).random((3000, 696)) < 0.5)
    with pytest.raises(DeviceError) as cut:
        device.write(big)
    assert 0 < cut.value.bytes_sent < len(big)
    assert len(emulator.labels) == 1
    device.write(driver.encode(label()))
    assert driver.confirm(device, timeout=30) and len(emulator.labels) == 2


def test_media_mismatch_is_refused_by_the_printer(bus: list[VirtualUsbBackend], tmp_path: Path) -> None:
    """62x29 die-cut jobs on a printer loaded with 62 mm endless: the driver sees the mismatch
    before printing, and a job sent anyway is refused with the replace-media error."""
    emulator, _ = plug(bus, tmp_path, media="62")
    device = open_device("usb://0x04f9:0x209d")
    driver = ql("62x29")
    mismatch = driver.media_mismatch(driver.status(device))
    assert mismatch is not None and "62 mm endless" in mismatch.text()
    device.write(driver.encode(np.zeros((271, 696), dtype=bool)))
    assert driver.confirm(device, timeout=2) is False
    assert emulator.labels == [] and any(e["event"] == "media-mismatch" for e in emulator.events)


def test_across_processes_through_the_unix_socket(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """backend_from_env connects to a UsbSocketServer: the path the daemon uses in end-to-end tests."""
    emulator = Emulator(BrotherQLCore(media="62"), tmp_path / "out", speed_mm_s=1e5)
    server = UsbSocketServer(emulator, tmp_path / "usb.sock", serial="SOCK1")
    monkeypatch.setenv("LABELD_USB_BACKEND", "labeld.testing.virtual_usb:backend_from_env")
    monkeypatch.setenv("LABELD_VIRTUAL_USB", str(tmp_path / "usb.sock"))
    try:
        device = open_device("usb://0x04f9:0x209d/SOCK1")
        driver = ql()
        assert driver.status(device).media is not None
        device.write(driver.encode(label()))
        assert driver.confirm(device, timeout=30)
        device.close()
    finally:
        server.stop()
    assert np.array_equal(emulator.labels[0], label())
