"""CUPS end to end: PDFs dropped in a real labeld's inbox, printed through a private cupsd.

The daemon runs in a child process with ``driver = "cups"`` printers whose queues live on a
private cupsd (labeld.testing.cupsd): a raw queue to the ZPL emulator (labeld's own dot-exact
ZPL), a queue on the ``labeld-capture`` backend that can run out of labels, and a driver queue
with CUPS's own Zebra PPD that gets the PDF page.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from labeld.bitmap import Bitmap
from labeld.labelmaker import LabelSpec, Symbol, label_pdf
from labeld.testing.cupsd import PrivateCupsd
from labeld.testing.daemon import DaemonProcess
from labeld.testing.emulator_base import Emulator, TcpServer
from labeld.testing.zpl_emulator import ZplCore, make_emulator
from tests.conftest import decode

FAST_MM_S = 5000.0
SIZE = (58.0, 40.0)


@pytest.fixture(scope="module")
def cupsd() -> Iterator[PrivateCupsd]:
    with PrivateCupsd() as server:
        yield server


@pytest.fixture
def zebra(tmp_path: Path) -> Iterator[TcpServer]:
    """A ZD420 (203 dpi) on a TCP port, the device of the CUPS queues that print to it."""
    server = TcpServer(make_emulator(tmp_path / "zebra", speed_mm_s=FAST_MM_S))
    yield server
    server.stop()
    server.emulator.close()


def start_daemon(daemons: list[DaemonProcess], root: Path, printer: dict[str, Any]) -> DaemonProcess:
    table = {"name": "cz", "driver": "cups", "dpi": 203, "default": True, "confirm_timeout": "20s", **printer}
    process = DaemonProcess(root / "labeld", printers=[table])
    daemons.append(process)
    return process.start()


def posting(n: int) -> str:
    return f"{40000000 + n:08d}-0001-1"


def tracking(n: int) -> str:
    return f"TRK{n:09d}"


def batch(first: int, count: int, size: tuple[float, float] = SIZE) -> bytes:
    """Labels with a Code128 of the posting and a QR of the tracking number."""
    return label_pdf([
        LabelSpec(posting=posting(n), tracking=tracking(n), size_mm=size, symbols=(
            Symbol("code128", posting(n), 3.0, 3.0, 0.3, height_mm=10.0),
            Symbol("qr", tracking(n), size[0] - 18.0, size[1] - 16.0, 0.5),
        ))
        for n in range(first, first + count)
    ])


def cups_jobs(cupsd: PrivateCupsd, queue: str) -> list[str]:
    """The jobs CUPS still holds for ``queue`` (not completed)."""
    return [line for line in cupsd.run("lpstat", "-o", queue).splitlines() if line.strip()]


def assert_labels_match_jobs(daemon: DaemonProcess, labels: list[Bitmap], first: int) -> None:
    """One label per job, in job order, dot for dot as rendered, each with its own barcodes."""
    jobs = daemon.jobs()
    assert len(labels) == len(jobs)
    for n, (job, printed) in enumerate(zip(jobs, labels, strict=True), start=first):
        assert np.array_equal(printed, daemon.spooled_bitmap(job["id"])), f"job {job['id']} differs from its render"
        assert set(decode(printed)) == {posting(n), tracking(n)}


def test_zpl_through_a_raw_queue_is_dot_exact(cupsd: PrivateCupsd, zebra: TcpServer, daemons: list[DaemonProcess],
                                              tmp_path: Path) -> None:
    """format = "zpl" on a raw queue to the emulator: what comes out is labeld's bitmap, dot for
    dot, and each label is confirmed because CUPS reported its job completed."""
    cupsd.add_queue("e2e_raw", f"socket://127.0.0.1:{zebra.port}")
    daemon = start_daemon(daemons, tmp_path, {"uri": cupsd.uri("e2e_raw"), "format": "zpl", "media": "58x40mm"})
    daemon.drop("three.pdf", batch(0, 3))
    daemon.wait_states(3, timeout=120)

    assert zebra.emulator.wait_labels(3, timeout=30)
    assert_labels_match_jobs(daemon, zebra.labels, first=0)
    assert all(job["confirmed"] for job in daemon.jobs())
    assert cups_jobs(cupsd, "e2e_raw") == []


def test_queue_out_of_media_keeps_jobs_in_labeld_then_prints_each_once(
        cupsd: PrivateCupsd, daemons: list[DaemonProcess], tmp_path: Path) -> None:
    """The queue's printer is out of labels: CUPS stops the queue with media-empty on the first
    job, labeld shows the printer stopped with media-empty and keeps the other labels ``ready``
    (one job in CUPS, not five); re-enabled, every label prints once, in order."""
    cupsd.add_capture_queue("e2e_dry")
    cupsd.set_media_empty("e2e_dry", True)
    daemon = start_daemon(daemons, tmp_path, {"uri": cupsd.uri("e2e_dry"), "format": "zpl", "media": "58x40mm"})
    daemon.drop("five.pdf", batch(10, 5))
    daemon.wait_for(lambda: "media-empty" in daemon.printer("cz")["reasons"], 120, "media-empty")
    daemon.wait_states(5, ("ready",), timeout=120)

    shown = daemon.printer("cz")
    assert shown["state"] == "stopped" and shown["waiting"] == 5
    assert len(cups_jobs(cupsd, "e2e_dry")) == 1
    assert cupsd.captured("e2e_dry") == []

    cupsd.set_media_empty("e2e_dry", False)
    cupsd.enable("e2e_dry")
    daemon.wait_states(5, timeout=120)
    assert all(job["confirmed"] for job in daemon.jobs())
    assert cups_jobs(cupsd, "e2e_dry") == []
    assert_labels_match_jobs(daemon, printed_by_zebra(cupsd.captured("e2e_dry"), tmp_path), first=10)


def printed_by_zebra(jobs: list[bytes], tmp_path: Path) -> list[Bitmap]:
    """What a Zebra prints from the captured job bytes, fed in order."""
    printer = Emulator(ZplCore(), tmp_path / "replay", speed_mm_s=1e6)
    for data in jobs:
        printer.feed(data)
    printer.close()
    return printer.labels


def test_pdf_through_cups_zebra_driver_queue_reads(cupsd: PrivateCupsd, zebra: TcpServer,
                                                   daemons: list[DaemonProcess], tmp_path: Path) -> None:
    """format = "pdf" into CUPS's Zebra driver queue: each page reaches the emulator (as the
    ~DG/^XG graphic CUPS's driver sends) with its barcodes readable, confirmed by CUPS."""
    cupsd.add_queue("e2e_ppd", f"socket://127.0.0.1:{zebra.port}", model="drv:///sample.drv/zebra.ppd",
                    options={"PageSize": "w213h340", "Resolution": "203dpi"})
    daemon = start_daemon(daemons, tmp_path, {"uri": cupsd.uri("e2e_ppd"), "format": "pdf", "media": "75x120mm"})
    daemon.drop("two.pdf", batch(20, 2, (75.0, 120.0)))
    daemon.wait_states(2, timeout=120)

    assert zebra.emulator.wait_labels(2, timeout=10)
    assert [set(decode(label)) for label in zebra.labels] == [{posting(n), tracking(n)} for n in (20, 21)]
    assert all(job["confirmed"] for job in daemon.jobs())
