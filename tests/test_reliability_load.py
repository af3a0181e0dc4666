"""Load: thousands of small files dropped at once are all taken exactly once, memory stays
bounded and the control socket keeps answering ``status`` within a second."""

from __future__ import annotations

import http.client
import json
import os
import socket
import threading
import time
from pathlib import Path

from reliability_helpers import rss_kib, sized

from labeld.labelmaker import LabelSpec, label_pdf
from labeld.testing.daemon import DaemonProcess

RSS_LIMIT_KIB = 600 * 1024


class UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, path: Path, timeout: float) -> None:
        super().__init__("labeld", timeout=timeout)
        self.path = str(path)

    def connect(self) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        self.sock.connect(self.path)


def _status_seconds(path: Path) -> float:
    started = time.monotonic()
    connection = UnixHTTPConnection(path, timeout=5)
    try:
        connection.request("GET", "/v1/status")
        response = connection.getresponse()
        assert response.status == 200
        json.loads(response.read())
    finally:
        connection.close()
    return time.monotonic() - started


def test_thousands_of_files_at_once(tmp_path: Path) -> None:
    """2 000 files (10 000 under LABELD_SOAK=1): each taken once, RSS bounded, status < 1 s throughout."""
    count = sized(2000, 10_000)
    daemon = DaemonProcess(tmp_path / "labeld", sections={"preflight": {"verify_barcodes": False}})
    pdfs = [label_pdf(LabelSpec(posting=f"{70000000 + i:08d}-0001-1", tracking=f"T{i}", size_mm=(58.0, 40.0),
                                symbols=())) for i in range(count)]
    with daemon:
        assert daemon.process is not None
        rss: list[int] = []
        latencies: list[float] = []
        done = threading.Event()

        def watch() -> None:
            while not done.wait(0.25):
                rss.append(rss_kib(daemon.process.pid))  # type: ignore[union-attr]
                if daemon.socket.exists():
                    latencies.append(_status_seconds(daemon.socket))

        watcher = threading.Thread(target=watch, daemon=True)
        started = time.monotonic()
        watcher.start()
        staging = tmp_path / "staging"
        staging.mkdir()
        for i, data in enumerate(pdfs):
            (staging / f"l{i:05d}.pdf").write_bytes(data)
        for i in range(count):
            os.rename(staging / f"l{i:05d}.pdf", daemon.inbox / f"l{i:05d}.pdf")
        daemon.wait_for(lambda: daemon.query("SELECT COUNT(*) FROM documents")[0][0] >= count,
                        timeout=sized(240, 1200), what=f"{count} documents")
        taken = time.monotonic() - started
        daemon.wait_states(count, ("printed",), timeout=sized(240, 1800))
        printed = time.monotonic() - started
        done.set()
        watcher.join(5)
        names = [r[0] for r in daemon.query("SELECT name FROM documents")]
    print(f"{count} files: taken in {taken:.1f} s, printed in {printed:.1f} s; RSS max {max(rss) // 1024} MiB; "
          f"status max {max(latencies, default=0) * 1000:.0f} ms over {len(latencies)} calls")
    assert sorted(names) == [f"l{i:05d}.pdf" for i in range(count)]
    assert len(list(daemon.printed.glob("*.png"))) == count
    assert max(rss) < RSS_LIMIT_KIB
    assert latencies and max(latencies) < 1.0
    assert [p for p in daemon.inbox.iterdir() if p.is_file()] == []


def _upload(path: Path, data: bytes, name: str) -> tuple[int, dict[str, object]]:
    connection = UnixHTTPConnection(path, timeout=120)
    try:
        connection.request("POST", f"/v1/documents?name={name}", body=data,
                           headers={"Content-Type": "application/pdf"})
        response = connection.getresponse()
        return response.status, json.loads(response.read())
    finally:
        connection.close()


def test_a_thousand_concurrent_uploads(tmp_path: Path) -> None:
    """1 000 uploads on 1 000 connections at once: each accepted once with its own jobs, none
    lost, RSS bounded, and `status` still answers within a second while they come in."""
    count = sized(1000, 5000)
    daemon = DaemonProcess(tmp_path / "labeld", sections={"preflight": {"verify_barcodes": False,
                                                                        "barcode_repair": "off"}})
    pdfs = [label_pdf(LabelSpec(posting=f"{71000000 + i:08d}-0001-1", tracking=f"U{i}", size_mm=(58.0, 40.0),
                                symbols=())) for i in range(count)]
    answers: list[tuple[int, dict[str, object]]] = []
    lock = threading.Lock()
    with daemon:
        assert daemon.process is not None
        gate = threading.Barrier(count + 1)

        def send(i: int) -> None:
            gate.wait()
            answer = _upload(daemon.socket, pdfs[i], f"u{i:05d}.pdf")
            with lock:
                answers.append(answer)

        senders = [threading.Thread(target=send, args=(i,), daemon=True) for i in range(count)]
        for sender in senders:
            sender.start()
        gate.wait()
        latencies, rss = [], []
        while any(sender.is_alive() for sender in senders):
            latencies.append(_status_seconds(daemon.socket))
            rss.append(rss_kib(daemon.process.pid))
            time.sleep(0.2)
        for sender in senders:
            sender.join(60)
        daemon.wait_states(count, ("printed",), timeout=sized(240, 1200))
        names = sorted(r[0] for r in daemon.query("SELECT name FROM documents"))
    print(f"{count} uploads: status max {max(latencies, default=0) * 1000:.0f} ms over {len(latencies)} calls, "
          f"RSS max {max(rss, default=0) // 1024} MiB")
    assert [status for status, _ in answers] == [201] * count
    job_ids = [job for _, body in answers for job in body["job_ids"]]  # type: ignore[attr-defined]
    assert len(job_ids) == len(set(job_ids)) == count
    assert names == [f"u{i:05d}.pdf" for i in range(count)]
    assert latencies and max(latencies) < 1.0
    assert max(rss) < RSS_LIMIT_KIB
