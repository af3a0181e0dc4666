"""Measurement 5: the daemon's peak memory on a 1000-page file, and its CPU use when idle.

Peak RSS is the kernel's own high-water mark (``VmHWM`` in ``/proc/PID/status``) of the daemon
and of every child it has (a render worker, if one runs), read while the daemon still runs
after the last label went out; a psutil sample every 0.1 s during the batch is kept too, to show
the curve's shape. Idle CPU is user + system time over an idle stretch right after start-up,
with inotify watching the hot folder: a daemon that polls shows up here.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import psutil  # type: ignore[import-untyped]  # no stubs installed here

from benchmarks.bench_latency import TcpSink, brother_daemon, land, stop_daemon
from benchmarks.corpus import Corpus

MIB = 1024 * 1024


def high_water_mib(pid: int) -> float:
    """``VmHWM`` of ``pid``: the most resident memory it ever had, in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def tree(process: psutil.Process) -> list[psutil.Process]:
    return [process, *process.children(recursive=True)]


def cpu_seconds(process: psutil.Process) -> float:
    total = 0.0
    for member in tree(process):
        times = member.cpu_times()
        total += times.user + times.system
    return total


def idle_cpu(process: psutil.Process, seconds: float) -> dict[str, Any]:
    before, wakeups_before = cpu_seconds(process), _wakeups(process)
    time.sleep(seconds)
    used = cpu_seconds(process) - before
    return {"idle_seconds": seconds, "cpu_seconds": round(used, 4), "cpu_percent": round(used / seconds * 100, 3),
            "context_switches": _wakeups(process) - wakeups_before}


def _wakeups(process: psutil.Process) -> int:
    return sum(sum(member.num_ctx_switches()) for member in tree(process))


def watch_batch(process: psutil.Process, sink: TcpSink, daemon: Any, pages: int, timeout: float
                ) -> tuple[float, list[float]]:
    """Sample the tree's RSS until all ``pages`` jobs settled; (seconds taken, samples in MiB)."""
    samples: list[float] = []
    start = time.monotonic()
    deadline = start + timeout
    while True:
        samples.append(sum(m.memory_info().rss for m in tree(process)) / MIB)
        states = daemon.query("SELECT COUNT(*) FROM jobs WHERE state IN ('printed','held','rejected',"
                              "'duplicate','superseded','failed')")
        if states[0][0] >= pages:
            return time.monotonic() - start, samples
        if time.monotonic() > deadline:
            raise TimeoutError(f"{states[0][0]} of {pages} labels done after {timeout} s")
        time.sleep(0.1)


def run(corpus: Corpus, scratch: Path, quick: bool) -> dict[str, Any]:
    pages, idle_s, settle = (5, 1.0, 0.3) if quick else (1000, 10.0, 2.0)
    source = corpus.file("58x40", "vector", pages)
    sink = TcpSink()
    daemon = brother_daemon(scratch / "resources", sink.uri).start()
    try:
        assert daemon.process is not None
        process = psutil.Process(daemon.process.pid)
        time.sleep(settle)  # start-up work (first scans, API socket) is not idleness
        idle = idle_cpu(process, idle_s)
        rss_start = sum(m.memory_info().rss for m in tree(process)) / MIB
        land(daemon.inbox, source.path)
        took, samples = watch_batch(process, sink, daemon, pages, timeout=60 + pages * 0.5)
        peaks = {f"{m.pid} {m.name()}": round(high_water_mib(m.pid), 1) for m in tree(process)}
        printed = daemon.query("SELECT COUNT(*) FROM jobs WHERE state = 'printed'")[0][0]
    finally:
        stopped = stop_daemon(daemon)
        sink.stop()
    return {"pages": pages, "label": "58x40 vector", "printer": "brother_ql 62 mm over tcp:// (sink)",
            "printed": printed, "seconds": round(took, 2), "labels_per_s": round(pages / took, 1),
            "rss_at_start_mib": round(rss_start, 1), "rss_sampled_max_mib": round(max(samples), 1),
            "peak_rss_mib": round(sum(peaks.values()), 1), "peak_rss_by_process_mib": peaks,
            "bytes_sent": sink.total, "idle": idle, **stopped}
