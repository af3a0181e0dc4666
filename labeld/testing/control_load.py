"""Load on a running daemon's control socket, for the load tests and the control-socket benchmark.

:class:`StatusProbe` asks ``GET /v1/status`` over and over while something else loads the daemon
and keeps how long each answer took (and the daemon's RSS); :func:`upload_all` sends many
documents at once, one connection each, the way many ERP workers would. The load tests assert
counts with these; ``benchmarks/bench_control.py`` reports the times.
"""

from __future__ import annotations

import json
import statistics
import threading
import time
from pathlib import Path
from typing import Any

from labeld.cli.client import UnixHTTPConnection

#: An HTTP status and the JSON answer.
Answer = tuple[int, dict[str, Any]]


def status_seconds(socket_path: Path, timeout: float) -> float:
    """How long one ``GET /v1/status`` took, answer read and parsed; raises if it was not a 200."""
    started = time.monotonic()
    connection = UnixHTTPConnection(socket_path, timeout=timeout)
    try:
        connection.request("GET", "/v1/status")
        response = connection.getresponse()
        body = response.read()
        if response.status != 200:
            raise OSError(f"GET /v1/status answered {response.status}: {body[:200]!r}")
        json.loads(body)
    finally:
        connection.close()
    return time.monotonic() - started


def upload(socket_path: Path, data: bytes, name: str, timeout: float) -> Answer:
    """``POST /v1/documents?name=NAME`` with a PDF; the HTTP status and the JSON answer."""
    connection = UnixHTTPConnection(socket_path, timeout=timeout)
    try:
        connection.request("POST", f"/v1/documents?name={name}", body=data, headers={"Content-Type": "application/pdf"})
        response = connection.getresponse()
        return response.status, json.loads(response.read())
    finally:
        connection.close()


def upload_all(socket_path: Path, documents: list[tuple[str, bytes]], timeout: float) -> list[Answer]:
    """Upload every ``(name, pdf)`` at once, one thread and connection each, released together;
    the answers in the order they came."""
    answers: list[Answer] = []
    lock = threading.Lock()
    gate = threading.Barrier(len(documents) + 1)

    def send(name: str, data: bytes) -> None:
        gate.wait()
        answer = upload(socket_path, data, name, timeout)
        with lock:
            answers.append(answer)

    senders = [threading.Thread(target=send, args=document, daemon=True) for document in documents]
    for sender in senders:
        sender.start()
    gate.wait()
    for sender in senders:
        sender.join(timeout)
    return answers


class StatusProbe(threading.Thread):
    """Asks ``status`` every ``interval`` seconds until :meth:`finish`; each call may take up to
    ``timeout`` seconds before it counts as a failure. Samples the daemon's RSS alongside."""

    def __init__(self, socket_path: Path, pid: int, *, interval: float = 0.2, timeout: float = 60.0) -> None:
        super().__init__(name="status-probe", daemon=True)
        self.socket_path = socket_path
        self.pid = pid
        self.interval = interval
        self.timeout = timeout
        self.latencies: list[float] = []
        self.rss_kib: list[int] = []
        self.failures: list[str] = []
        self._done = threading.Event()

    def __enter__(self) -> StatusProbe:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.finish()

    def run(self) -> None:
        while not self._done.is_set():
            self.rss_kib.append(rss_kib(self.pid))
            try:
                self.latencies.append(status_seconds(self.socket_path, self.timeout))
            except (OSError, ValueError) as error:
                self.failures.append(repr(error))
            self._done.wait(self.interval)

    def finish(self) -> None:
        self._done.set()
        if self.is_alive():
            self.join(self.timeout + self.interval)

    def summary(self) -> dict[str, Any]:
        """Calls, failures, median / 95th percentile / slowest answer in ms, and peak RSS in MiB."""
        ms = sorted(v * 1000 for v in self.latencies)
        p95 = ms[min(len(ms) - 1, round(0.95 * (len(ms) - 1)))] if ms else None
        return {"status_calls": len(ms), "status_failures": len(self.failures),
                "status_median_ms": round(statistics.median(ms), 1) if ms else None,
                "status_p95_ms": None if p95 is None else round(p95, 1),
                "status_max_ms": round(ms[-1], 1) if ms else None,
                "rss_max_mib": max(self.rss_kib, default=0) // 1024}


def rss_kib(pid: int) -> int:
    """Resident set size of a process in KiB, from /proc (VmRSS)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise LookupError(f"no VmRSS for pid {pid}")
