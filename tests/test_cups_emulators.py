"""Raw CUPS queues to the printer emulators: labeld's bytes go through CUPS untouched.

A private cupsd's raw queue has device ``socket://127.0.0.1:PORT``, the emulator's port; the
emulator's decoded label must equal the bitmap labeld rendered, dot for dot, barcodes readable.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from labeld.bitmap import Bitmap
from labeld.config import PrinterConfig
from labeld.devices import open_device
from labeld.drivers import make_driver
from labeld.drivers.cups import CupsDriver
from labeld.labelmaker import LabelSpec, Symbol, label_pdf
from labeld.render.place import placed_page_pdf
from labeld.testing.brother_emulator import BrotherQLCore
from labeld.testing.cupsd import PrivateCupsd
from labeld.testing.emulator_base import Emulator, TcpServer
from labeld.testing.zpl_emulator import ZplCore
from tests.conftest import decode, render

POSTING = "12345678-0012-1"
ZPL_LABEL = LabelSpec(posting=POSTING, tracking="TRK000000077")
ZPL_EXPECTED = {POSTING, "https://ozon.example/t/TRK000000077"}
QL_LABEL = LabelSpec(size_mm=(58.0, 22.5), symbols=(
    Symbol("code128", POSTING, 2.0, 2.0, 0.254, height_mm=8.0), Symbol("qr", "TRK62X29", 45.0, 11.0, 0.423)))
QL_EXPECTED = {POSTING, "TRK62X29"}


@pytest.fixture(scope="module")
def cupsd() -> Iterator[PrivateCupsd]:
    with PrivateCupsd() as server:
        yield server


def cups_driver(uri: str, fmt: str, media: str, dpi: int = 0) -> CupsDriver:
    driver = make_driver(PrinterConfig(name="c", driver="cups", uri=uri, format=fmt, media=media, dpi=dpi))
    assert isinstance(driver, CupsDriver)
    return driver


def print_through(cupsd: PrivateCupsd, queue: str, driver: CupsDriver, bitmap: Bitmap, server: TcpServer) -> None:
    cupsd.add_queue(queue, f"socket://127.0.0.1:{server.port}")
    device = open_device(cupsd.uri(queue))
    device.write(driver.encode(bitmap))
    assert driver.confirm(device, timeout=20), "CUPS did not report the job completed"
    assert server.emulator.wait_labels(1, timeout=10)


def test_zpl_through_a_raw_queue_is_dot_exact(cupsd: PrivateCupsd, tmp_path: Path) -> None:
    """format = "zpl": the ZPL emulator behind CUPS prints exactly labeld's 203-dpi bitmap."""
    driver = cups_driver(cupsd.uri("zebra_raw"), "zpl", "75x120mm", dpi=203)
    bitmap = render(ZPL_LABEL, driver.geometry)
    assert set(decode(bitmap)) == ZPL_EXPECTED
    server = TcpServer(Emulator(ZplCore(dpi=203), tmp_path, speed_mm_s=5000))
    try:
        print_through(cupsd, "zebra_raw", driver, bitmap, server)
        printed = server.labels[0]
    finally:
        server.stop()
    assert printed.shape == bitmap.shape
    assert np.array_equal(printed, bitmap)
    assert set(decode(printed)) == ZPL_EXPECTED
    assert (tmp_path / "0001.png").exists()


def test_brother_through_a_raw_queue_is_dot_exact(cupsd: PrivateCupsd, tmp_path: Path) -> None:
    """format = "brother_ql": the QL emulator behind CUPS prints exactly labeld's 62x29 bitmap."""
    driver = cups_driver(cupsd.uri("ql_raw"), "brother_ql", "62x29")
    bitmap = render(QL_LABEL, driver.geometry)
    assert set(decode(bitmap)) == QL_EXPECTED
    server = TcpServer(Emulator(BrotherQLCore(media="62x29"), tmp_path, speed_mm_s=5000))
    try:
        print_through(cupsd, "ql_raw", driver, bitmap, server)
        printed = server.labels[0]
    finally:
        server.stop()
    assert np.array_equal(printed, bitmap)
    assert set(decode(printed)) == QL_EXPECTED


def test_pdf_through_cups_zebra_driver_queue_reads(cupsd: PrivateCupsd, tmp_path: Path) -> None:
    """format = "pdf" into CUPS's own Zebra driver queue (PDF → raster → ~DG/^XG): the label
    reaches the emulator and its barcodes still decode (not dot-exact: CUPS rasterises)."""
    driver = cups_driver(cupsd.uri("zebra_ppd"), "pdf", "75x120mm", dpi=203)
    server = TcpServer(Emulator(ZplCore(dpi=203), tmp_path, speed_mm_s=5000))
    try:
        cupsd.add_queue("zebra_ppd", f"socket://127.0.0.1:{server.port}", model="drv:///sample.drv/zebra.ppd",
                        options={"PageSize": "w213h340", "Resolution": "203dpi"})
        device = driver.connect()
        placed = placed_page_pdf(label_pdf(ZPL_LABEL), 0, driver.geometry)
        device.write(driver.encode_page(placed) or b"")
        assert driver.confirm(device, timeout=30), "CUPS did not report the job completed"
        assert server.emulator.wait_labels(1, timeout=10)
        printed = server.labels[0]
    finally:
        server.stop()
    assert set(decode(printed)) == ZPL_EXPECTED
