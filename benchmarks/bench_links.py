"""Labels as links (#16): a 100-link batch against 100 files dropped, to the printer's first byte.

Both batches go to a real ``labeld run`` printing to a Brother QL over ``tcp://`` into
:class:`benchmarks.bench_latency.TcpSink` (write-only: the first byte is the first label's). The
links are served by :class:`labeld.testing.link_server.LinkServer` on loopback HTTPS (a per-run CA
that labeld trusts through ``[links] ca_bundle``): 100 ``POST /v1/jobs`` as fast as one client
sends them, each a different 58×40 label. The files are the same 100 labels, dropped into the
inbox one after another. Measured: submit → first byte, and submit → all 100 printed.

``python -m benchmarks.bench_links [--count N]`` prints one JSON line.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.bench_latency import TcpSink, stop_daemon
from labeld.cli.client import Client
from labeld.labelmaker import LabelSpec, Symbol, label_pdf
from labeld.testing.daemon import DaemonProcess
from labeld.testing.link_server import LinkServer, Serve

PRINTED = ("printed",)


def label(n: int) -> bytes:
    posting = f"{80000000 + n:08d}-0001-1"
    return label_pdf(LabelSpec(posting=posting, tracking=f"TRK{n:09d}", size_mm=(58.0, 40.0), symbols=(
        Symbol("code128", posting, 3.0, 3.0, 0.3, height_mm=10.0),)))


def daemon_for(root: Path, sink: TcpSink, links: LinkServer) -> DaemonProcess:
    printer = {"name": "ql", "driver": "brother_ql", "model": "QL-820NWB", "uri": sink.uri, "media": "62",
               "default": True, "status": "none"}
    return DaemonProcess(root, printers=[printer], sections={
        "daemon": {"log_level": "info"}, "preflight": {"dedupe": False},
        "links": {"ca_bundle": str(links.ca_bundle), "concurrency": 4}})


def one_batch(root: Path, count: int, mode: str) -> dict[str, Any]:
    sink = TcpSink()
    links = LinkServer(root / "tls")
    daemon = daemon_for(root / "labeld", sink, links)
    daemon.start()
    try:
        bodies = [label(n) for n in range(count)]
        urls = [links.serve(f"/labels/{n}.pdf", Serve(body)) for n, body in enumerate(bodies)]
        client = Client(daemon.socket)
        started = time.monotonic()
        if mode == "links":
            for url in urls:
                client.call("POST", "/v1/jobs", body={"label_url": url})
        else:
            daemon.inbox.mkdir(parents=True, exist_ok=True)
            for n, body in enumerate(bodies):
                temp = daemon.inbox / f".{n}.pdf.part"
                temp.write_bytes(body)
                os.replace(temp, daemon.inbox / f"{n}.pdf")
        submitted = time.monotonic()
        first = sink.first_after(started, timeout=120)
        daemon.wait_states(count, PRINTED, timeout=60 + 2 * count)
        done = time.monotonic()
        return {"mode": mode, "count": count, "submit_ms": round((submitted - started) * 1000, 1),
                "first_byte_ms": round((first - started) * 1000, 1), "all_printed_s": round(done - started, 2),
                **stop_daemon(daemon)}
    finally:
        if daemon.process is not None and daemon.process.poll() is None:
            daemon.kill()
        links.stop()
        sink.stop()


def run(count: int = 100) -> list[dict[str, Any]]:
    with tempfile.TemporaryDirectory(prefix="labeld-bench-links-") as scratch:
        return [one_batch(Path(scratch) / mode, count, mode) for mode in ("files", "links")]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=100)
    for row in run(parser.parse_args().count):
        print(json.dumps(row))


if __name__ == "__main__":
    main()
