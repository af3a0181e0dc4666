"""Zebra ZPL end to end: files dropped in a real labeld's inbox come out of the ZPL emulator.

The daemon runs in a child process; the printers are ZPL emulators in this process on raw TCP
and on virtual USB (real pyusb in the daemon through ``LABELD_USB_BACKEND``). A Zebra answers
``~HS`` on the connection it prints from, so every label is confirmed, and a fault is seen as
what it is (media-empty), not as silence.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from labeld.bitmap import Bitmap
from labeld.config import PrinterConfig
from labeld.drivers.zpl import ZplDriver
from labeld.labelmaker import LabelSpec, Symbol, label_pdf, module_pattern
from labeld.spool.store import DocumentStore
from labeld.testing.bench import ZEBRA_ZD420, EmulatorBench
from labeld.testing.daemon import DaemonProcess
from labeld.testing.emulator_base import Emulator, Fault
from labeld.testing.zpl_emulator import make_emulator
from tests.conftest import decode

FAST_MM_S = 5000.0
USB_ID = "0x0a5f:0x0120"
MEDIA = "58x40mm"
SIZE = (58.0, 40.0)


def plug(bench: EmulatorBench, transport: str, name: str, dpi: int,
         faults: tuple[Fault, ...] = ()) -> tuple[Emulator, str]:
    """A ZD420 at ``dpi`` on ``transport``; returns it and labeld's URI for it."""
    emulator = make_emulator(bench.tmp_path / f"out-{name}", dpi=dpi, speed_mm_s=FAST_MM_S, faults=faults, name=name)
    return emulator, bench.attach(emulator, transport, name, ZEBRA_ZD420)


def start_daemon(daemons: list[DaemonProcess], root: Path, bench: EmulatorBench, printers: list[dict[str, Any]]
                 ) -> DaemonProcess:
    tables = [{"driver": "zpl", "media": MEDIA, **p} for p in printers]
    tables[0]["default"] = True
    process = DaemonProcess(root / "labeld", printers=tables, env=bench.env)
    daemons.append(process)
    return process.start()


def posting(n: int) -> str:
    return f"{30000000 + n:08d}-0001-1"


def tracking(n: int) -> str:
    return f"TRK{n:09d}"


def label_spec(n: int, size: tuple[float, float] = SIZE, lines: int = 0) -> LabelSpec:
    """A label (58×40 mm unless told): a Code128 of its posting, a QR of its tracking number and
    ``lines`` lines of address text."""
    text = tuple(f"Line {i}: Lenina prospekt {n}-{i}, Moskva 1190{i:02d}" for i in range(lines))
    return LabelSpec(posting=posting(n), tracking=tracking(n), size_mm=size, extra_text=text, symbols=(
        Symbol("code128", posting(n), 3.0, 3.0, 0.3, height_mm=10.0),
        Symbol("qr", tracking(n), 40.0, 24.0, 0.5),
    ))


def batch(first: int, count: int, size: tuple[float, float] = SIZE, lines: int = 0) -> bytes:
    return label_pdf([label_spec(n, size, lines) for n in range(first, first + count)])


def assert_printed_in_job_order(daemon: DaemonProcess, emulator: Emulator, printer: str, first: int) -> None:
    """Each job's label came out once, in job order, dot for dot, with its own barcodes."""
    jobs = [job for job in daemon.jobs() if job["printer"] == printer]
    assert len(emulator.labels) == len(jobs)
    for n, (job, printed) in enumerate(zip(jobs, emulator.labels, strict=True), start=first):
        assert np.array_equal(printed, daemon.spooled_bitmap(job["id"])), f"job {job['id']} differs from its render"
        assert set(decode(printed)) == {posting(n), tracking(n)}


@pytest.mark.parametrize("transport", ["tcp", "usb"])
def test_batches_print_dot_for_dot_at_203_and_300_dpi(bench: EmulatorBench, daemons: list[DaemonProcess],
                                                      tmp_path: Path, transport: str) -> None:
    """A batch per resolution prints exactly as rendered, barcodes readable, each confirmed by ~HS."""
    low, low_uri = plug(bench, transport, "zd203", 203)
    high, high_uri = plug(bench, transport, "zd300", 300)
    daemon = start_daemon(daemons, tmp_path, bench, [
        {"name": "zd203", "uri": low_uri, "dpi": 203},
        {"name": "zd300", "uri": high_uri, "dpi": 300},
    ])
    daemon.drop("low.pdf", batch(0, 3), folder="zd203")
    daemon.drop("high.pdf", batch(10, 3), folder="zd300")
    daemon.wait_states(6, timeout=120)

    assert_printed_in_job_order(daemon, low, "zd203", first=0)
    assert_printed_in_job_order(daemon, high, "zd300", first=10)
    assert {label.shape for label in low.labels} == {(320, 464)}
    assert {label.shape for label in high.labels} == {(472, 685)}
    assert all(job["confirmed"] for job in daemon.jobs())


def raw_zpl_label() -> tuple[bytes, Bitmap]:
    """A ZPL file as an ERP would send it (a ^GF graphic of a QR code) and the dots it draws."""
    bitmap = np.zeros((320, 464), dtype=bool)
    qr = module_pattern("qr", "RAW-ZPL-0001").repeat(6, axis=0).repeat(6, axis=1)
    bitmap[40 : 40 + qr.shape[0], 100 : 100 + qr.shape[1]] = qr
    driver = ZplDriver(PrinterConfig(name="zd", driver="zpl", uri="tcp://unused", media=MEDIA))
    return driver.encode(bitmap), bitmap


def test_raw_zpl_file_is_printed_as_is(bench: EmulatorBench, daemons: list[DaemonProcess], tmp_path: Path) -> None:
    """A .zpl file in the inbox goes to the printer byte for byte: no render, no pre-flight."""
    emulator, uri = plug(bench, "tcp", "zd", 203)
    daemon = start_daemon(daemons, tmp_path, bench, [{"name": "zd", "uri": uri, "dpi": 203}])
    data, bitmap = raw_zpl_label()
    daemon.drop("erp.zpl", data)
    daemon.wait_states(1, timeout=120)

    assert emulator.wait_labels(1, timeout=30)
    assert np.array_equal(emulator.labels[0], bitmap)
    assert set(decode(emulator.labels[0])) == {"RAW-ZPL-0001"}
    job = daemon.jobs()[0]
    assert job["confirmed"] and job["preflight"] is None
    assert not DocumentStore(daemon.state_dir).bitmap_path(job["id"]).exists()


@pytest.mark.parametrize("transport", ["tcp", "usb"])
def test_paper_out_shows_media_empty_then_prints_every_label_once(bench: EmulatorBench, daemons: list[DaemonProcess],
                                                                  tmp_path: Path, transport: str) -> None:
    """Paper runs out after label 4 of 20: the printer answers ~HS in the fault (TCP too), so
    labeld shows media-empty (not offline) and keeps 16 ``ready``; paper loaded, all 20 once, in order."""
    emulator, uri = plug(bench, transport, "zd", 203, faults=(Fault("paper-out", 4),))
    daemon = start_daemon(daemons, tmp_path, bench, [{"name": "zd", "uri": uri, "dpi": 203}])
    daemon.drop("twenty.pdf", batch(100, 20))
    daemon.wait_for(lambda: "media-empty" in daemon.printer("zd")["reasons"], 120, "media-empty")
    daemon.wait_states(20, ("printed", "ready"), timeout=120)
    time.sleep(0.5)  # the worker keeps asking; nothing may come out meanwhile

    assert [job["state"] for job in daemon.jobs()] == ["printed"] * 4 + ["ready"] * 16
    assert len(emulator.labels) == 4
    shown = daemon.printer("zd")
    assert shown["state"] == "stopped" and "offline" not in shown["reasons"] and shown["waiting"] == 16

    emulator.clear_fault()
    daemon.wait_states(20, timeout=120)
    assert_printed_in_job_order(daemon, emulator, "zd", first=100)
    assert all(job["confirmed"] and not job["interrupted"] for job in daemon.jobs())


def test_disconnect_mid_label_resends_it_once(bench: EmulatorBench, daemons: list[DaemonProcess],
                                              tmp_path: Path) -> None:
    """The TCP connection drops in the middle of label 3: the printer discards the open format,
    the job says it was interrupted and re-sent, and every label comes out, in order, dot for dot.
    Batches are pipelined (#23): label 2 may still have been in the printer, unconfirmed, when the
    link dropped; if the printer no longer holds it on the new connection, labeld cannot tell
    "printed" from "lost in a restart" and sends it again, flagged — so a label comes out twice only
    when its job says ``interrupted``, never silently. The labels are 75×120 mm of text, so that one
    spans several of the printer's reads."""
    emulator, uri = plug(bench, "tcp", "zd", 300, faults=(Fault("disconnect", 2),))
    daemon = start_daemon(daemons, tmp_path, bench, [{"name": "zd", "uri": uri, "dpi": 300, "media": "75x120mm"}])
    daemon.drop("five.pdf", batch(200, 5, (75.0, 120.0), lines=10))
    daemon.wait_states(5, timeout=120)

    assert [e["event"] for e in emulator.events].count("disconnected") == 1
    jobs = daemon.jobs()
    came_out = [posting(n) for label in emulator.labels for n in range(200, 205) if posting(n) in decode(label)]
    assert len(came_out) == len(emulator.labels), "every printed label carries one of the batch's postings"
    assert list(dict.fromkeys(came_out)) == [posting(n) for n in range(200, 205)], "each label, in job order"
    for n, job in enumerate(jobs, start=200):
        assert came_out.count(posting(n)) == 1 or (came_out.count(posting(n)) == 2 and job["interrupted"]), job
        printed = [label for label in emulator.labels if posting(n) in decode(label)]
        assert all(np.array_equal(label, daemon.spooled_bitmap(job["id"])) for label in printed)
    assert jobs[2]["interrupted"] and not any(job["interrupted"] for job in jobs[3:])
    assert all(job["confirmed"] for job in jobs)
    history = [reason for (reason,) in daemon.query("SELECT reason FROM events WHERE job_id = ? ORDER BY id",
                                                    (jobs[2]["id"],))]
    assert any(reason.startswith("connection lost after") for reason in history)


@pytest.mark.parametrize(("language", "speed"), [("brother_ql", 176.0), ("zpl", 152.0)])
def test_emulator_cli_speed_defaults_to_the_model(tmp_path: Path, language: str, speed: float) -> None:
    """``labeld-emulator`` without --speed runs at its printer's speed: QL-820NWB 176, ZD420 152 mm/s."""
    process = subprocess.Popen([sys.executable, "-m", "labeld.testing.emulator_cli", language, "--listen",
                                "127.0.0.1:0", "--out", str(tmp_path)], stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        json.loads(process.stdout.readline())
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=10)
    started = json.loads((tmp_path / "events.jsonl").read_text().splitlines()[0])
    assert started["event"] == "started" and started["speed_mm_s"] == speed
