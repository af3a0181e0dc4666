"""Measurement 3: from a file landing in the hot folder to the first byte at the printer.

The printer is a plain TCP sink in this process that timestamps every chunk it receives, so
"first byte" is the moment the kernel hands it the first byte of the document's first label,
on the same monotonic clock as the rename that lands the file. The daemon is a real ``labeld
run`` (``labeld.testing.daemon.DaemonProcess``) printing to a Brother QL over ``tcp://``, which
is write-only: nothing but label bytes goes out, so the first byte is the first label.

A streaming daemon sends page 1 of a 100-page file as soon as page 1 is rendered; a batching
one would render all 100 first. The target: first byte of 100 pages ≤ 1.2 × that of 1 page.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import statistics
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

from benchmarks import ratio
from benchmarks.corpus import Corpus
from labeld.testing.daemon import DaemonProcess

SETTLED = ("printed", "held", "rejected", "duplicate", "superseded", "failed")


class TcpSink:
    """A printer that takes everything and remembers when each chunk arrived."""

    def __init__(self) -> None:
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._listener.getsockname()[1]
        self.arrivals: list[tuple[float, int]] = []
        self._lock = threading.Lock()
        self._arrived = threading.Condition(self._lock)
        self._thread = threading.Thread(target=self._serve, name="tcp-sink", daemon=True)
        self._thread.start()

    @property
    def uri(self) -> str:
        return f"tcp://127.0.0.1:{self.port}"

    @property
    def total(self) -> int:
        with self._lock:
            return sum(n for _, n in self.arrivals)

    def first_after(self, since: float, timeout: float) -> float:
        """The monotonic time of the first chunk that arrived after ``since``."""
        deadline = time.monotonic() + timeout
        with self._arrived:
            while True:
                later = [t for t, _ in self.arrivals if t > since]
                if later:
                    return min(later)
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"no byte arrived within {timeout} s")
                self._arrived.wait(left)

    def stop(self) -> None:
        with contextlib.suppress(OSError):
            self._listener.shutdown(socket.SHUT_RDWR)
        self._listener.close()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return
            threading.Thread(target=self._drain, args=(conn,), daemon=True).start()

    def _drain(self, conn: socket.socket) -> None:
        with conn:
            while data := conn.recv(1 << 16):
                with self._arrived:
                    self.arrivals.append((time.monotonic(), len(data)))
                    self._arrived.notify_all()


def brother_daemon(root: Path, uri: str) -> DaemonProcess:
    """A real labeld printing to one QL-820NWB with 62 mm tape at ``uri``, logging at info."""
    printer = {"name": "ql", "driver": "brother_ql", "model": "QL-820NWB", "uri": uri, "media": "62",
               "default": True}
    return bench_daemon(root, printer)


def bench_daemon(root: Path, printer: dict[str, Any]) -> DaemonProcess:
    """A real labeld with one printer, logging at info; faulthandler on, so that a hang can be
    shown as every thread's stack (see :func:`stop_daemon`)."""
    return DaemonProcess(root, printers=[printer], sections={"daemon": {"log_level": "info"}},
                         env={"PYTHONFAULTHANDLER": "1"})


def stop_daemon(daemon: DaemonProcess, timeout: float = 60.0) -> dict[str, Any]:
    """SIGTERM and wait, as systemd does. A daemon that does not stop in time is a finding, not
    a crash of the benchmark: its threads' stacks are dumped (SIGABRT → faulthandler) and kept."""
    assert daemon.process is not None
    start = time.monotonic()
    try:
        daemon.stop(timeout)
        return {"stop_seconds": round(time.monotonic() - start, 2), "stop_hung": False}
    except subprocess.TimeoutExpired:
        daemon.process.send_signal(signal.SIGABRT)
        with contextlib.suppress(subprocess.TimeoutExpired):
            daemon.process.wait(10)
        daemon.kill()
        log = daemon.log_text()
        dump = log[log.rfind("Fatal Python error"):] if "Fatal Python error" in log else log[-4000:]
        return {"stop_seconds": round(time.monotonic() - start, 2), "stop_hung": True, "thread_dump": dump[-6000:]}


def land(inbox: Path, source: Path) -> float:
    """Put ``source`` into ``inbox`` the way a careful ERP does (write aside, rename in);
    the monotonic time of the rename, the moment the file lands."""
    inbox.mkdir(parents=True, exist_ok=True)
    temp = inbox / f".{source.name}.part"
    temp.write_bytes(source.read_bytes())
    landed = time.monotonic()
    os.replace(temp, inbox / source.name)
    return landed


def wait_settled(daemon: DaemonProcess, count: int, timeout: float) -> int:
    """Wait until ``count`` jobs reached a final state; how many of all jobs printed."""
    daemon.wait_states(count, SETTLED, timeout)
    return sum(job["state"] == "printed" for job in daemon.jobs())


def first_byte_ms(daemon: DaemonProcess, sink: TcpSink, corpus: Corpus, pages: int, expected: int) -> float:
    source = corpus.fresh("58x40", "vector", pages)
    landed = land(daemon.inbox, source.path)
    first = sink.first_after(landed, timeout=60)
    wait_settled(daemon, expected, timeout=60 + pages)
    return (first - landed) * 1000


def run(corpus: Corpus, scratch: Path, quick: bool) -> dict[str, Any]:
    rounds, big = (1, 5) if quick else (5, 100)
    sink = TcpSink()
    samples: dict[int, list[float]] = {1: [], big: []}
    jobs = 0
    daemon = brother_daemon(scratch / "latency", sink.uri).start()
    try:
        jobs += 1
        first_byte_ms(daemon, sink, corpus, 1, jobs)  # warm-up: first imports and opens are not latency
        for _ in range(rounds):
            for pages in (1, big):
                jobs += pages
                samples[pages].append(first_byte_ms(daemon, sink, corpus, pages, jobs))
        printed = sum(job["state"] == "printed" for job in daemon.jobs())
    finally:
        stopped = stop_daemon(daemon)
        sink.stop()
    one, many = statistics.median(samples[1]), statistics.median(samples[big])
    return {"printer": "brother_ql QL-820NWB 62 mm over tcp:// (sink)", "label": "58x40 vector",
            "rounds": rounds, "pages_big": big, "first_byte_1_page_ms": round(one, 1),
            f"first_byte_{big}_pages_ms": round(many, 1), "first_byte_big_ms": round(many, 1),
            "big_over_1": ratio(many, one),
            "samples_ms": {str(k): [round(v, 1) for v in s] for k, s in samples.items()},
            "jobs": jobs, "printed": printed, **stopped}
