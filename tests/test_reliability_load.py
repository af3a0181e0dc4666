"""Load: thousands of small files dropped at once are all taken exactly once, memory stays
bounded and the control socket keeps answering ``status``.

How fast ``status`` answers meanwhile is a benchmark (``benchmarks/bench_control.py``, BENCHMARKS.md),
not a test: here each answer only has to come before a hang bound (STALL_S)."""

from __future__ import annotations

import os
import time
from pathlib import Path

from reliability_helpers import sized

from labeld.labelmaker import LabelSpec, label_pdf
from labeld.testing.control_load import StatusProbe, upload_all
from labeld.testing.daemon import DaemonProcess

RSS_LIMIT_KIB = 600 * 1024
#: A status call that takes this long is a hung control socket, not a busy machine (~50 ms quiet,
#: 1.3 s measured on a busy 2-core machine during 1 000 uploads).
STALL_S = 60.0


def _labels(count: int, first_posting: int, prefix: str) -> list[bytes]:
    return [label_pdf(LabelSpec(posting=f"{first_posting + i:08d}-0001-1", tracking=f"{prefix}{i}",
                                size_mm=(58.0, 40.0), symbols=())) for i in range(count)]


def test_thousands_of_files_at_once(tmp_path: Path) -> None:
    """2 000 files (10 000 under LABELD_SOAK=1): each taken once, RSS bounded, status answers throughout."""
    count = sized(2000, 10_000)
    daemon = DaemonProcess(tmp_path / "labeld", sections={"preflight": {"verify_barcodes": False}})
    pdfs = _labels(count, 70000000, "T")
    with daemon:
        assert daemon.process is not None
        with StatusProbe(daemon.socket, daemon.process.pid, interval=0.25, timeout=STALL_S) as probe:
            started = time.monotonic()
            staging = tmp_path / "staging"
            staging.mkdir()
            for i, data in enumerate(pdfs):
                (staging / f"l{i:05d}.pdf").write_bytes(data)
            for i in range(count):
                os.rename(staging / f"l{i:05d}.pdf", daemon.inbox / f"l{i:05d}.pdf")
            daemon.wait_for(lambda: daemon.query("SELECT COUNT(*) FROM documents")[0][0] >= count,
                            timeout=sized(600, 2400), what=f"{count} documents")
            taken = time.monotonic() - started
            daemon.wait_states(count, ("printed",), timeout=sized(800, 3600))
            printed = time.monotonic() - started
        names = [r[0] for r in daemon.query("SELECT name FROM documents")]
    seen = probe.summary()
    print(f"{count} files: taken in {taken:.1f} s, printed in {printed:.1f} s; RSS max {seen['rss_max_mib']} MiB; "
          f"status max {seen['status_max_ms']} ms over {seen['status_calls']} calls")
    assert sorted(names) == [f"l{i:05d}.pdf" for i in range(count)]
    assert len(list(daemon.printed.glob("*.png"))) == count
    assert max(probe.rss_kib) < RSS_LIMIT_KIB
    assert probe.failures == [] and probe.latencies and max(probe.latencies) < STALL_S
    assert [p for p in daemon.inbox.iterdir() if p.is_file()] == []


def test_a_thousand_concurrent_uploads(tmp_path: Path) -> None:
    """1 000 uploads on 1 000 connections at once: each accepted once with its own jobs, none
    lost, RSS bounded, and `status` still answers while they come in."""
    count = sized(1000, 5000)
    daemon = DaemonProcess(tmp_path / "labeld", sections={"preflight": {"verify_barcodes": False,
                                                                        "barcode_repair": "off"}})
    documents = [(f"u{i:05d}.pdf", pdf) for i, pdf in enumerate(_labels(count, 71000000, "U"))]
    with daemon:
        assert daemon.process is not None
        with StatusProbe(daemon.socket, daemon.process.pid, timeout=STALL_S) as probe:
            answers = upload_all(daemon.socket, documents, timeout=120)
        daemon.wait_states(count, ("printed",), timeout=sized(800, 2400))
        names = sorted(r[0] for r in daemon.query("SELECT name FROM documents"))
    seen = probe.summary()
    print(f"{count} uploads: status max {seen['status_max_ms']} ms over {seen['status_calls']} calls, "
          f"RSS max {seen['rss_max_mib']} MiB")
    assert [status for status, _ in answers] == [201] * count
    job_ids = [job for _, body in answers for job in body["job_ids"]]
    assert len(job_ids) == len(set(job_ids)) == count
    assert names == [name for name, _ in documents]
    assert probe.failures == [] and probe.latencies and max(probe.latencies) < STALL_S
    assert max(probe.rss_kib) < RSS_LIMIT_KIB
