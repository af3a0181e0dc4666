"""A loopback HTTPS server handing out label links, for tests, benchmarks and trying ``labelctl print --url``.

It serves over TLS with a certificate from a CA made for the run (:func:`labeld.testing.marketplace.make_tls`,
trustme): labeld verifies the real chain against the CA bundle it is configured with. Each path is
told how to behave (:class:`Serve`): a label with 200, a redirect, a refusal, a slow answer, a body
cut short, or a body that stalls half-way until the test lets it go (to kill labeld mid-download).
Every request is counted per path and method (:meth:`LinkServer.count`).

``python -m labeld.testing.link_server FILE...`` serves files by hand and prints their signed-looking links.
"""

from __future__ import annotations

import argparse
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from labeld.testing.marketplace import Tls, make_tls


@dataclass
class Serve:
    """How one path answers. ``delay``: seconds before the GET's answer; ``cut_at``: bytes sent before
    the connection is dropped (the Content-Length promised all); ``stall_at``: bytes sent before it
    waits for :meth:`LinkServer.release`; ``head_status``: what HEAD answers (default: ``status``)."""

    body: bytes = b""
    status: int = 200
    content_type: str = "application/pdf"
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    cut_at: int | None = None
    stall_at: int | None = None
    head_status: int | None = None


class LinkServer:
    """``https://127.0.0.1:PORT`` in background threads; ``serve(path, Serve(...))`` sets a path up."""

    def __init__(self, folder: Path, tls: Tls | None = None, host: str = "127.0.0.1", port: int = 0) -> None:
        self.tls = tls or make_tls(folder)
        self.paths: dict[str, Serve] = {}
        self.counts: Counter[tuple[str, str]] = Counter()
        self.lock = threading.Lock()
        self.stalled = threading.Event()
        self._release = threading.Event()
        self._stopping = threading.Event()
        self.server = _Server((host, port), self)
        self.server.socket = self.tls.context.wrap_socket(self.server.socket, server_side=True)
        self.url = f"https://{host}:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.1},
                                       name="link-server", daemon=True)
        self.thread.start()

    @property
    def ca_bundle(self) -> Path:
        return self.tls.ca_bundle

    def serve(self, path: str, how: Serve) -> str:
        """Answer ``path`` as ``how`` says; the link to it, with a signature-like query."""
        with self.lock:
            self.paths[path] = how
        return f"{self.url}{path}?X-Amz-Signature=secret{abs(hash(path)) % 10**8}&X-Amz-Expires=14400"

    def count(self, path: str, method: str = "GET") -> int:
        with self.lock:
            return self.counts[(method, path)]

    def release(self) -> None:
        """Let stalled answers finish."""
        self._release.set()

    def stop(self) -> None:
        self._stopping.set()
        self._release.set()
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)

    def __enter__(self) -> LinkServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def do_HEAD(self) -> None:
        self._answer(head=True)

    def do_GET(self) -> None:
        self._answer(head=False)

    def _answer(self, head: bool) -> None:
        links = self.server.links
        path = urlsplit(self.path).path
        with links.lock:
            links.counts[(self.command, path)] += 1
            how = links.paths.get(path)
        if how is None:
            how = Serve(b"not found", 404, "text/plain")
        status = how.head_status if head and how.head_status is not None else how.status
        if not head and how.delay and links._stopping.wait(how.delay):
            return
        self.send_response(status)
        self.send_header("Content-Type", how.content_type)
        self.send_header("Content-Length", str(len(how.body)))
        for name, value in how.headers.items():
            self.send_header(name, value)
        self.end_headers()
        if head:
            return
        body = how.body
        if how.stall_at is not None:
            self.wfile.write(body[:how.stall_at])
            self.wfile.flush()
            links.stalled.set()
            links._release.wait(120)
            body = body[how.stall_at:]
        if how.cut_at is not None:
            self.wfile.write(body[:how.cut_at])
            self.wfile.flush()
            self.close_connection = True
            return
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        return


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False

    def __init__(self, address: tuple[str, int], links: LinkServer) -> None:
        self.links = links
        super().__init__(address, _Handler)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m labeld.testing.link_server",
                                     description="Serve label files over HTTPS with a CA made for the run.")
    parser.add_argument("files", nargs="+", type=Path)
    parser.add_argument("--folder", type=Path, default=Path("link-server"), help="where ca.pem is written")
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args(argv)
    server = LinkServer(args.folder, port=args.port)
    print(f"CA bundle (set [links] ca_bundle to it): {server.ca_bundle.absolute()}")
    for file in args.files:
        kind = "image/png" if file.suffix.lower() == ".png" else "application/pdf"
        print(server.serve(f"/labels/{file.name}", Serve(file.read_bytes(), content_type=kind)))
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        server.stop()


if __name__ == "__main__":
    main()
