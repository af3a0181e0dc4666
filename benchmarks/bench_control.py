"""Measurement 8: how fast the control socket answers ``GET /v1/status`` while the daemon is busy.

Two loads, as in ``tests/test_reliability_load.py`` (which asserts only that every answer comes,
and counts): 1 000 documents uploaded at once on 1 000 connections, and 2 000 one-page files
renamed into the hot folder at once. Meanwhile a probe asks ``status`` every 0.2 s and keeps each
answer's time (median, 95th percentile, slowest) and the daemon's peak RSS. The target: the
slowest answer under 1 s, so ``labelctl status`` never feels stuck while the ERP floods labeld.
The printer is the preview driver (PNGs into a folder), so the load is labeld's own work.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from benchmarks.corpus import Corpus
from labeld.labelmaker import LabelSpec, label_pdf
from labeld.testing.control_load import StatusProbe, upload_all
from labeld.testing.daemon import DaemonProcess

TARGET_MAX_MS = 1000.0
CALL_TIMEOUT_S = 60.0
NO_VERIFY = {"preflight": {"verify_barcodes": False, "barcode_repair": "off"}}


def labels(count: int, first_posting: int) -> list[bytes]:
    """``count`` one-page 58×40 mm labels, each with its own posting number (so none is a duplicate)."""
    return [label_pdf(LabelSpec(posting=f"{first_posting + i:08d}-0001-1", tracking=f"B{first_posting + i}",
                                size_mm=(58.0, 40.0), symbols=())) for i in range(count)]


def uploads(scratch: Path, count: int) -> dict[str, Any]:
    documents = [(f"u{i:05d}.pdf", pdf) for i, pdf in enumerate(labels(count, 72_000_000))]
    with DaemonProcess(scratch / "control-uploads", sections=NO_VERIFY) as daemon:
        assert daemon.process is not None
        started = time.monotonic()
        with StatusProbe(daemon.socket, daemon.process.pid, timeout=CALL_TIMEOUT_S) as probe:
            answers = upload_all(daemon.socket, documents, timeout=120)
        accepted_s = time.monotonic() - started
        daemon.wait_states(count, ("printed",), timeout=60 + count)
        printed_s = time.monotonic() - started
    return {"load": f"{count} concurrent uploads", "count": count,
            "accepted": sum(status == 201 for status, _ in answers), "all_accepted_s": round(accepted_s, 1),
            "all_printed_s": round(printed_s, 1), **probe.summary()}


def hot_folder(scratch: Path, count: int) -> dict[str, Any]:
    staging = scratch / "control-staging"
    staging.mkdir()
    for i, pdf in enumerate(labels(count, 73_000_000)):
        (staging / f"l{i:05d}.pdf").write_bytes(pdf)
    with DaemonProcess(scratch / "control-folder", sections=NO_VERIFY) as daemon:
        assert daemon.process is not None
        started = time.monotonic()
        with StatusProbe(daemon.socket, daemon.process.pid, timeout=CALL_TIMEOUT_S) as probe:
            for i in range(count):
                os.rename(staging / f"l{i:05d}.pdf", daemon.inbox / f"l{i:05d}.pdf")
            daemon.wait_states(count, ("printed",), timeout=60 + count)
        printed_s = time.monotonic() - started
        accepted = daemon.query("SELECT COUNT(*) FROM documents")[0][0]
    return {"load": f"{count} files into the hot folder", "count": count, "accepted": accepted,
            "all_accepted_s": None, "all_printed_s": round(printed_s, 1), **probe.summary()}


def run(corpus: Corpus, scratch: Path, quick: bool) -> dict[str, Any]:
    del corpus  # the loads need unique one-page labels, made here
    upload_count, file_count = (20, 20) if quick else (1000, 2000)
    cases = [uploads(scratch, upload_count), hot_folder(scratch, file_count)]
    worst = max((c["status_max_ms"] or 0.0) for c in cases)
    return {"cases": cases, "target_max_ms": TARGET_MAX_MS, "worst_max_ms": worst,
            "met": worst < TARGET_MAX_MS and all(c["status_failures"] == 0 for c in cases)}
