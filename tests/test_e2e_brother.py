"""Brother QL end to end: PDFs dropped in a real labeld's inbox come out of the emulator.

The daemon runs in a child process; the printers are Brother QL emulators in this process,
reached the three ways a QL is: raw TCP (write-only), virtual USB through real pyusb in the
daemon (``LABELD_USB_BACKEND``) and a pty standing in for ``/dev/usb/lp0`` (``file://``). Every
printed label must equal, dot for dot, the bitmap the daemon rendered and kept in its spool,
and its barcodes must decode.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
import pymupdf
import pytest

from labeld.bitmap import from_png
from labeld.labelmaker import LabelSpec, Symbol, label_pdf
from labeld.spool.store import DocumentStore
from labeld.testing.bench import BROTHER_QL_820NWB, EmulatorBench
from labeld.testing.brother_emulator import BrotherQLCore
from labeld.testing.daemon import DaemonProcess
from labeld.testing.emulator_base import Emulator, Fault
from tests.conftest import decode

FAST_MM_S = 5000.0
USB_ID = "0x04f9:0x209d"
DIE_CUT = (62.0, 29.0)
ENDLESS = (62.0, 45.0)


def plug(bench: EmulatorBench, transport: str, name: str, media: str,
         faults: tuple[Fault, ...] = ()) -> tuple[Emulator, str]:
    """A QL-820NWB with ``media`` loaded on ``transport``; returns it and labeld's URI for it."""
    emulator = Emulator(BrotherQLCore(media=media), bench.tmp_path / f"out-{name}", speed_mm_s=FAST_MM_S,
                        faults=faults, name=name)
    return emulator, bench.attach(emulator, transport, name, BROTHER_QL_820NWB)


def start_daemon(daemons: list[DaemonProcess], root: Path, bench: EmulatorBench, printers: list[dict[str, Any]]
                 ) -> DaemonProcess:
    tables = [{"driver": "brother_ql", "model": "QL-820NWB", **p} for p in printers]
    tables[0]["default"] = True
    process = DaemonProcess(root / "labeld", printers=tables, env=bench.env)
    daemons.append(process)
    return process.start()


def posting(n: int) -> str:
    return f"{20000000 + n:08d}-0001-1"


def tracking(n: int) -> str:
    return f"TRK{n:09d}"


def label_spec(n: int, size: tuple[float, float]) -> LabelSpec:
    """A label with a Code128 of its posting and a QR of its tracking number, fitted to ``size``."""
    return LabelSpec(posting=posting(n), tracking=tracking(n), size_mm=size, symbols=(
        Symbol("code128", posting(n), 2.0, 2.0, 0.254, height_mm=8.0),
        Symbol("qr", tracking(n), 45.0, size[1] - 12.0, 0.423),
    ))


def batch(first: int, count: int, size: tuple[float, float]) -> bytes:
    return label_pdf([label_spec(n, size) for n in range(first, first + count)])


def jobs_of(daemon: DaemonProcess, printer: str) -> list[dict[str, Any]]:
    return [job for job in daemon.jobs() if job["printer"] == printer]


def assert_printed_in_job_order(daemon: DaemonProcess, emulator: Emulator, printer: str, first: int) -> None:
    """Each job's label came out once, in job order, dot for dot, with its own barcodes."""
    jobs = jobs_of(daemon, printer)
    assert len(emulator.labels) == len(jobs)
    for n, (job, printed) in enumerate(zip(jobs, emulator.labels, strict=True), start=first):
        assert np.array_equal(printed, daemon.spooled_bitmap(job["id"])), f"job {job['id']} differs from its render"
        assert set(decode(printed)) == {posting(n), tracking(n)}


@pytest.mark.parametrize("transport", ["tcp", "usb", "file"])
def test_batches_print_dot_for_dot(bench: EmulatorBench, daemons: list[DaemonProcess], tmp_path: Path,
                                   transport: str) -> None:
    """62 mm endless and 62×29 die-cut batches print exactly as rendered; confirmed except over TCP."""
    endless, endless_uri = plug(bench, transport, "ql62", "62")
    die_cut, die_cut_uri = plug(bench, transport, "ql29", "62x29")
    daemon = start_daemon(daemons, tmp_path, bench, [
        {"name": "ql62", "uri": endless_uri, "media": "62"},
        {"name": "ql29", "uri": die_cut_uri, "media": "62x29"},
    ])
    daemon.drop("endless.pdf", batch(0, 3, ENDLESS), folder="ql62")
    daemon.drop("diecut.pdf", batch(10, 3, DIE_CUT), folder="ql29")
    daemon.wait_states(6, timeout=120)

    assert_printed_in_job_order(daemon, endless, "ql62", first=0)
    assert_printed_in_job_order(daemon, die_cut, "ql29", first=10)
    assert all(label.shape == (271, 696) for label in die_cut.labels)
    assert all(label.shape[1] == 696 and label.shape[0] > 271 for label in endless.labels)
    assert {bool(job["confirmed"]) for job in daemon.jobs()} == {transport != "tcp"}


def test_paper_out_waits_then_prints_every_label_once_in_order(bench: EmulatorBench, daemons: list[DaemonProcess],
                                                               tmp_path: Path) -> None:
    """Paper runs out after label 4 of 20 (USB): 4 print, 16 wait ``ready`` while the printer
    shows media-empty; paper loaded, all 20 are out exactly once and in job order."""
    emulator, uri = plug(bench, "usb", "ql", "62x29", faults=(Fault("paper-out", 4),))
    daemon = start_daemon(daemons, tmp_path, bench, [{"name": "ql", "uri": uri, "media": "62x29"}])
    daemon.drop("twenty.pdf", batch(100, 20, DIE_CUT))
    daemon.wait_for(lambda: daemon.printer("ql")["reasons"] == ["media-empty"], 120, "media-empty")
    daemon.wait_states(20, ("printed", "ready"), timeout=120)
    time.sleep(0.5)  # the worker keeps asking; nothing may come out meanwhile

    states = [job["state"] for job in daemon.jobs()]
    assert states == ["printed"] * 4 + ["ready"] * 16
    assert len(emulator.labels) == 4
    shown = daemon.printer("ql")
    assert shown["state"] == "stopped" and shown["waiting"] == 16
    assert any(e.get("event") == "printer_needs_attention" and e.get("reasons") == ["media-empty"]
               for e in daemon.log_events())

    emulator.clear_fault()
    daemon.wait_states(20, timeout=120)
    assert_printed_in_job_order(daemon, emulator, "ql", first=100)
    assert all(job["confirmed"] and not job["interrupted"] for job in daemon.jobs())


@pytest.mark.parametrize("kind", ["usb", "tcp"])
def test_disconnect_mid_label_resends_it_once(bench: EmulatorBench, daemons: list[DaemonProcess], tmp_path: Path,
                                              kind: str) -> None:
    """The connection drops in the middle of label 3: the printer discards it, the job says it was
    interrupted and re-sent, and every label comes out exactly once. Over TCP, where a QL cannot
    answer, labeld learns of the cut by half-closing after each label and waiting for the close."""
    emulator, uri = plug(bench, kind, "ql", "62", faults=(Fault("disconnect", 2),))
    daemon = start_daemon(daemons, tmp_path, bench, [{"name": "ql", "uri": uri, "media": "62"}])
    daemon.drop("five.pdf", batch(200, 5, (62.0, 80.0)))
    daemon.wait_states(5, timeout=120)

    assert [e["event"] for e in emulator.events].count("disconnected") == 1
    assert_printed_in_job_order(daemon, emulator, "ql", first=200)
    jobs = daemon.jobs()
    assert [bool(job["interrupted"]) for job in jobs] == [False, False, True, False, False]
    history = [reason for (reason,) in daemon.query("SELECT reason FROM events WHERE job_id = ? ORDER BY id",
                                                    (jobs[2]["id"],))]
    assert any(reason.startswith("connection lost after") for reason in history)
    assert history[-1].startswith("printed on ql (confirmed" if kind == "usb" else "printed on ql (sent;")


def test_media_mismatch_holds_the_job_naming_both_media(bench: EmulatorBench, daemons: list[DaemonProcess],
                                                        tmp_path: Path) -> None:
    """62 mm endless loaded, printer configured for 62×29 die-cut: held, nothing printed."""
    emulator, uri = plug(bench, "usb", "ql", "62")
    daemon = start_daemon(daemons, tmp_path, bench, [{"name": "ql", "uri": uri, "media": "62x29"}])
    daemon.drop("one.pdf", batch(300, 1, DIE_CUT))
    daemon.wait_states(1, ("held",), timeout=120)

    [held] = daemon.query("SELECT reason, reason_code FROM jobs")
    reason, code = held
    assert code == "printer.media_mismatch"
    assert "62 mm endless" in reason and "62×29 mm die-cut" in reason
    shown = daemon.printer("ql")
    assert shown["state"] == "stopped" and shown["reasons"] == ["media-mismatch"]
    assert emulator.labels == []


def test_red_and_black_on_two_colour_media(bench: EmulatorBench, daemons: list[DaemonProcess],
                                           tmp_path: Path) -> None:
    """On 62 mm black/red tape (`red = true`), red ink prints from the red plane and everything
    else from the black one; both planes arrive dot for dot, and the barcodes stay black."""
    emulator, uri = plug(bench, "usb", "ql", "62red")
    daemon = start_daemon(daemons, tmp_path, bench, [{"name": "ql", "uri": uri, "media": "62red", "red": True}])
    doc = pymupdf.open("pdf", batch(500, 1, ENDLESS))
    page = doc[0]
    page.draw_rect(pymupdf.Rect(10, 95, 40, 120), color=None, fill=(1, 0, 0))  # a red box, clear of the codes
    page.insert_text((45, 115), "FRAGILE", fontsize=12, color=(0.85, 0, 0))
    daemon.drop("red.pdf", doc.tobytes())
    daemon.wait_states(1, timeout=120)

    job = daemon.jobs()[0]
    black, red = emulator.labels[0], emulator.red_planes[0]
    assert red is not None and red.sum() > 2000
    assert np.array_equal(black, daemon.spooled_bitmap(job["id"]))
    spooled_red = from_png(DocumentStore(daemon.state_dir).bitmap_path(job["id"], "red").read_bytes())
    assert np.array_equal(red, spooled_red)
    assert not (black & red).any()
    assert set(decode(black)) == {posting(500), tracking(500)}
    assert (emulator.out_dir / "0001-red.png").exists()
