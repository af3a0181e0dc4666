"""The ZPL emulator, fed by the real driver over real TCP: dots, barcodes, status, faults."""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pymupdf
import pytest
import zxingcpp
from zebrafy import ZebrafyZPL

from labeld.bitmap import Bitmap, from_image, from_png
from labeld.config import PrinterConfig
from labeld.devices import open_device
from labeld.drivers.zpl import ZplDriver
from labeld.drivers.zpl_graphics import graphic_field
from labeld.drivers.zpl_status import parse_answer
from labeld.labelmaker import LabelSpec, label_pdf
from labeld.render.rasterize import render_label
from labeld.testing.emulator_base import Emulator, Fault, TcpServer
from labeld.testing.zpl_emulator import ZplCore, ZplTokenizer, make_core, make_emulator

FAST = 20000.0  # mm/s: tests that are not about speed should not wait for the head


def _printer(dpi: int, media: str = "75x120mm", **changes: object) -> PrinterConfig:
    fields: dict[str, object] = {"name": "zebra", "driver": "zpl", "uri": "tcp://x", "media": media, "dpi": dpi}
    fields.update(changes)
    return PrinterConfig(**fields)  # type: ignore[arg-type]


def _labels(driver: ZplDriver, count: int) -> list[Bitmap]:
    size = (driver.geometry.media.width_mm, driver.geometry.media.length_mm or 120.0)
    specs = [LabelSpec(posting=f"8765432{i}-0012-1", tracking=f"TRK00000000{i}", size_mm=size) for i in range(count)]
    with pymupdf.open(stream=label_pdf(specs), filetype="pdf") as doc:
        return [render_label(page, driver.geometry).bitmap for page in doc]


def _barcodes(bitmap: Bitmap) -> set[str]:
    image = np.where(bitmap, 0, 255).astype(np.uint8)
    return {result.text for result in zxingcpp.read_barcodes(image)}


def _stop(server: TcpServer) -> None:
    """Stop the server; a connection made just after wakes its accept(), which closing the
    listener alone does not do on Linux (reported to the emulator_base owner)."""
    def wake() -> None:
        with contextlib.suppress(OSError):
            socket.create_connection((server.host, server.port), timeout=1).close()

    poke = threading.Timer(0.05, wake)
    poke.start()
    server.stop()
    poke.join()
    server.emulator.close()


@pytest.fixture
def printer(tmp_path: Path) -> Iterator[TcpServer]:
    server = TcpServer(make_emulator(tmp_path / "out", speed_mm_s=FAST))
    yield server
    _stop(server)


def _core(tmp_path: Path, **kwargs: object) -> tuple[Emulator, ZplCore]:
    core = ZplCore()
    emulator = Emulator(core, tmp_path / "out", **kwargs)  # type: ignore[arg-type]
    return emulator, core


@pytest.mark.parametrize("dpi", [203, 300])
def test_labels_come_out_dot_for_dot_with_readable_barcodes(printer: TcpServer, tmp_path: Path, dpi: int) -> None:
    """Driver → TCP → emulator PNG is the renderer's bitmap exactly, and its barcodes decode."""
    driver = ZplDriver(_printer(dpi))
    bitmaps = _labels(driver, 2)
    device = open_device(printer.uri)
    for bitmap in bitmaps:
        device.write(driver.encode(bitmap))
    assert printer.emulator.wait_labels(2, timeout=10)
    device.close()
    for number, bitmap in enumerate(bitmaps, start=1):
        printed = from_png((tmp_path / "out" / f"{number:04d}.png").read_bytes())
        assert np.array_equal(printed, bitmap)
        assert {f"8765432{number - 1}-0012-1", f"https://ozon.example/t/TRK00000000{number - 1}"} <= _barcodes(printed)


@pytest.mark.parametrize("compression", ["ascii", "z64", "b64", "hex"])
def test_zebrafy_and_the_emulator_read_the_driver_output_alike(tmp_path: Path, compression: str) -> None:
    """Independent check: zebrafy's ZPL→image decodes our job to the emulator's dots."""
    driver = ZplDriver(_printer(203), compression=compression)
    bitmap = _labels(driver, 1)[0]
    job = driver.encode(bitmap)
    emulator, _ = _core(tmp_path, speed_mm_s=FAST)
    emulator.feed(job)
    theirs = from_image(ZebrafyZPL(job.decode()).to_images()[0])[:, : bitmap.shape[1]]
    assert np.array_equal(emulator.labels[0], theirs)
    assert np.array_equal(emulator.labels[0], bitmap)


def test_copies_print_as_separate_labels(tmp_path: Path) -> None:
    emulator, _ = _core(tmp_path, speed_mm_s=FAST)
    emulator.feed(ZplDriver(_printer(203)).encode(np.eye(16, dtype=bool), copies=3))
    assert len(emulator.labels) == 3
    assert [e["copy"] for e in emulator.events if e["event"] == "printed"] == [1, 2, 3]


def test_any_chunking_gives_the_same_commands() -> None:
    """Bytes cut anywhere (one at a time here) parse into the same commands as one block."""
    job = ZplDriver(_printer(203), compression="ascii").encode(np.eye(24, dtype=bool)) + b"~HS~HQES"
    whole = ZplTokenizer().feed(job)
    tokenizer = ZplTokenizer()
    pieces = [command for i in range(len(job)) for command in tokenizer.feed(job[i : i + 1])]
    assert pieces == whole
    assert [str(c) for c in whole][-2:] == ["~HS", "~HQ"]


def test_unknown_and_text_commands_are_logged_not_fatal(tmp_path: Path) -> None:
    """A ZPL file with text fields and an unknown command still prints its graphic."""
    emulator, _ = _core(tmp_path, speed_mm_s=FAST)
    graphic = graphic_field(np.ones((4, 8), dtype=bool), "ascii")
    emulator.feed(f"^XA^PW16^LL8^QQ1,2^FO10,10^A0N,30,30^FDhello^FS^FO4,2{graphic}^FS^XZ".encode())
    kinds = {e["event"]: e for e in emulator.events}
    assert kinds["unknown-command"]["command"] == "^QQ"
    assert kinds["not-rendered"]["commands"] == ["^A0", "^FD"]
    assert emulator.labels[0][2:6, 4:12].all() and emulator.labels[0].sum() == 32


def test_cups_stored_graphic_form_prints(tmp_path: Path) -> None:
    """CUPS's Zebra driver downloads ~DGR:CUPS.GRF then recalls it with ^XG; both work."""
    emulator, core = _core(tmp_path, speed_mm_s=FAST)
    job = (b"~DGR:CUPS.GRF,6,2,\nFFFF\n,\n:\n^XA^PW16^LL3^FO0,0^XGR:CUPS.GRF,1,1^FS^PQ1^XZ\n"
           b"^XA^IDR:CUPS.GRF^FS^XZ\n")
    emulator.feed(job)
    assert len(emulator.labels) == 1
    assert emulator.labels[0].tolist() == [[True] * 16, [False] * 16, [False] * 16]
    assert core.stored == {}


def test_binary_graphic_field_with_caret_bytes(tmp_path: Path) -> None:
    """^GFB carries raw bytes, including '^' and '~', which must not end the command."""
    emulator, _ = _core(tmp_path, speed_mm_s=FAST)
    emulator.feed(b"^XA^PW16^LL2^FO0,0^GFB,4,4,2,^~\xff\x00^FS^XZ")
    assert np.packbits(emulator.labels[0], axis=1).tobytes() == b"^~\xff\x00"


def test_status_answers_name_the_fault(tmp_path: Path) -> None:
    """Asked in a fault (where the transport lets it hear), the core says paper out / head open."""
    emulator, _ = _core(tmp_path, speed_mm_s=FAST, faults=(Fault("paper-out", 0),))
    emulator.feed(b"~HS~HQES")
    answer = parse_answer(emulator.take_replies(4096, 1.0))
    assert answer.host is not None and answer.host.paper_out
    assert answer.extended is not None and answer.extended.errors == 1


def test_status_and_confirm_over_tcp(printer: TcpServer) -> None:
    """The driver reads a ready printer, prints, and confirms once the buffer drained."""
    driver = ZplDriver(_printer(203))
    device = open_device(printer.uri)
    assert driver.status(device).reasons == ()
    device.write(driver.encode(_labels(driver, 1)[0]))
    assert driver.confirm(device, timeout=30)
    assert len(printer.labels) == 1
    device.close()


def test_silent_printer_is_offline_not_an_exception(tmp_path: Path) -> None:
    """A printer in a fault that does not answer reads as offline, with a sentence."""
    server = TcpServer(make_emulator(tmp_path / "out", speed_mm_s=FAST, faults=(Fault("cover-open", 0),),
                                     answers_in_fault=False))
    try:
        device = open_device(server.uri)
        driver = ZplDriver(_printer(203))
        driver.status_timeout = 0.3
        status = driver.status(device)
        assert status.reasons == ("offline",) and status.blocked
        assert "did not answer" in status.message
        device.close()
    finally:
        _stop(server)


def test_paper_out_holds_the_label_and_prints_in_order_after(tmp_path: Path) -> None:
    """A label that meets a paper-out stays in the printer and comes out, once, when paper is back."""
    server = TcpServer(make_emulator(tmp_path / "out", speed_mm_s=FAST, faults=(Fault("paper-out", 1),)))
    try:
        driver = ZplDriver(_printer(203, media="58x40mm"))
        driver.status_timeout = 10.0  # a hang bound: the printer answers ~HS at once, even in paper-out
        bitmaps = _labels(driver, 3)
        device = open_device(server.uri)
        device.write(driver.encode(bitmaps[0]) + driver.encode(bitmaps[1]))
        assert server.emulator.wait_labels(1, timeout=30)
        time.sleep(0.3)
        assert len(server.labels) == 1 and server.emulator.error == "paper-out"
        assert driver.status(device).blocked
        assert not driver.confirm(device, timeout=0.5)
        server.emulator.clear_fault()
        assert driver.confirm(device, timeout=30)
        device.write(driver.encode(bitmaps[2]))
        assert driver.confirm(device, timeout=30)
        device.close()
        assert len(server.labels) == 3
        for printed, sent in zip(server.labels, bitmaps, strict=True):
            assert np.array_equal(printed, sent)
    finally:
        _stop(server)


def test_speed_defaults_to_152_mm_per_second(tmp_path: Path) -> None:
    """Three 40 mm labels need at least two labels' head time between the first and the last."""
    emulator = make_emulator(tmp_path / "out")
    assert emulator.speed_mm_s == 152.0
    driver = ZplDriver(_printer(203, media="58x40mm"))
    start = time.monotonic()
    emulator.feed(driver.encode(np.zeros((320, 464), dtype=bool), copies=3))
    assert time.monotonic() - start >= 2 * 40 / 152 - 0.01
    printed = [json.loads(line) for line in (tmp_path / "out" / "events.jsonl").read_text().splitlines()]
    assert sum(1 for e in printed if e["event"] == "printed") == 3
    emulator.close()


def test_make_core_is_the_cli_factory() -> None:
    core = make_core(model="ZD420", media="75x120mm", dpi=300)
    assert (core.language, core.dpi, core.replies_over_tcp) == ("zpl", 300, True)
