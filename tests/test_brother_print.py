"""PDF → bitmap → Brother raster → emulator over a real TCP socket → PNG, dot for dot."""

from __future__ import annotations

import socket
from pathlib import Path

import numpy as np
import pytest

from labeld.bitmap import from_png
from labeld.config import PrinterConfig
from labeld.devices.base import open_device
from labeld.drivers.brother_ql import BrotherQLDriver
from labeld.labelmaker import LabelSpec, Symbol
from labeld.testing.brother_emulator import BrotherQLCore
from labeld.testing.emulator_base import Emulator, TcpServer
from tests.conftest import decode, render

POSTING = "12345678-0012-1"
LABELS = {
    "62": LabelSpec(size_mm=(58.0, 60.0), symbols=(
        Symbol("code128", POSTING, 3.0, 3.0, 0.254, height_mm=12.0),
        Symbol("qr", "https://ozon.example/t/TRK1", 3.0, 38.0, 0.508))),
    "62x29": LabelSpec(size_mm=(58.0, 22.5), symbols=(
        Symbol("code128", POSTING, 2.0, 2.0, 0.254, height_mm=8.0),
        Symbol("qr", "TRK62X29", 45.0, 11.0, 0.423))),
    "29": LabelSpec(size_mm=(25.0, 40.0), symbols=(
        Symbol("code128", "12345678", 2.0, 2.0, 0.254, height_mm=8.0),
        Symbol("qr", "TRK29", 2.0, 27.0, 0.508))),
}
EXPECTED = {"62": {POSTING, "https://ozon.example/t/TRK1"}, "62x29": {POSTING, "TRK62X29"}, "29": {"12345678", "TRK29"}}


def driver(media: str, uri: str = "tcp://127.0.0.1:9100") -> BrotherQLDriver:
    return BrotherQLDriver(PrinterConfig(name="ql", driver="brother_ql", uri=uri, media=media))


@pytest.mark.parametrize("media", ["62", "62x29", "29"])
def test_label_prints_dot_for_dot_over_tcp(media: str, tmp_path: Path) -> None:
    """The emulator's PNG equals the driver's input bitmap and its barcodes decode."""
    ql = driver(media)
    bitmap = render(LABELS[media], ql.geometry)
    assert set(decode(bitmap)) == EXPECTED[media]
    emulator = Emulator(BrotherQLCore(media=media), tmp_path, speed_mm_s=5000)
    server = TcpServer(emulator)
    device = open_device(server.uri)
    try:
        device.open()
        device.write(ql.encode(bitmap))
        device.close()
        assert emulator.wait_labels(1, timeout=30)
    finally:
        server.stop()
    printed = from_png((tmp_path / "0001.png").read_bytes())
    assert printed.shape == bitmap.shape
    assert np.array_equal(printed, bitmap)
    assert set(decode(printed)) == EXPECTED[media]
    assert not [e for e in emulator.events if e["event"] in ("dots-outside-label", "line-count-mismatch")]


def test_copies_print_as_separate_cut_pages(tmp_path: Path) -> None:
    """copies=3 is one job of three pages, each a full label."""
    ql = driver("62x29")
    bitmap = render(LABELS["62x29"], ql.geometry)
    emulator = Emulator(BrotherQLCore(media="62x29"), tmp_path, speed_mm_s=1e6)
    emulator.feed(ql.encode(bitmap, copies=3))
    assert len(emulator.labels) == 3
    assert all(np.array_equal(label, bitmap) for label in emulator.labels)
    assert [e["cut"] for e in emulator.events if e["event"] == "printed"] == [True] * 3


def test_tcp_is_write_only_for_brother(tmp_path: Path) -> None:
    """Over TCP the status is unknown and completion is never confirmed, even though it printed."""
    ql = driver("62")
    emulator = Emulator(BrotherQLCore(media="62"), tmp_path, speed_mm_s=1e6)
    server = TcpServer(emulator)
    device = open_device(server.uri)
    try:
        assert ql.status(device).known is False
        device.write(ql.encode(np.ones((200, 696), dtype=bool)))
        assert ql.confirm(device, timeout=0.3) is False
        assert emulator.wait_labels(1, timeout=30)
    finally:
        device.close()
        server.stop()


def test_wrong_bitmap_size_is_refused() -> None:
    with pytest.raises(ValueError, match="696"):
        driver("62").encode(np.zeros((100, 700), dtype=bool))
    with pytest.raises(ValueError, match="271"):
        driver("62x29").encode(np.zeros((100, 696), dtype=bool))


def test_emulator_tolerates_brother_ql_convert_output(tmp_path: Path) -> None:
    """brother_ql's own bytes (ESC i a before the invalidate, ESC i S inside, 1A after every
    page, no compression on the QL-800) decode to the same dots."""
    from brother_ql.conversion import convert
    from brother_ql.raster import BrotherQLRaster
    from PIL import Image

    bitmap = render(LABELS["62"], driver("62").geometry)
    image = Image.fromarray(np.where(bitmap, 0, 255).astype(np.uint8))
    for model in ("QL-820NWB", "QL-800"):
        data = convert(BrotherQLRaster(model), [image, image], "62", compress=True, cut=True)
        emulator = Emulator(BrotherQLCore(model=model, media="62"), tmp_path / model, speed_mm_s=1e6)
        emulator.feed(data)
        assert len(emulator.labels) == 2
        assert all(np.array_equal(label, bitmap) for label in emulator.labels)


def test_status_request_over_a_raw_socket_is_not_answered(tmp_path: Path) -> None:
    """A QL on port 9100 says nothing back, as the field notes describe."""
    emulator = Emulator(BrotherQLCore(media="62"), tmp_path)
    server = TcpServer(emulator)
    try:
        with socket.create_connection(("127.0.0.1", server.port)) as conn:
            conn.sendall(b"\x00" * 400 + b"\x1b@\x1biS")
            conn.settimeout(0.3)
            with pytest.raises(TimeoutError):
                conn.recv(32)
    finally:
        server.stop()
