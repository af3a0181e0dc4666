"""The station page as a daemon frontend: uvicorn serving the Starlette app in a thread of its own.

The listening sockets are bound in :meth:`WebServer.start`, so a taken port is known at once and
``127.0.0.1:0`` (tests) gets its real port before anyone asks for a login link. A port that cannot
be bound is logged loudly and leaves the page off: labels keep printing, the control socket keeps
answering (the page is a window on the daemon, not part of its work).
"""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Callable
from pathlib import Path

import structlog
import uvicorn

from labeld.api.metrics import Metrics
from labeld.config import WebConfig, split_address
from labeld.daemon.operations import DaemonView, Operations, Refused
from labeld.reasons import Reason
from labeld.web.app import Site, build_app
from labeld.web.events import EventStream
from labeld.web.security import BadSecretFile, Tickets, read_password_hash, session_secret

log = structlog.get_logger("labeld.web")

STOP_SECONDS = 10.0
WILDCARDS = ("0.0.0.0", "::")


class WebServer:
    """Serves the station page on ``[web] listen``; nothing when that is empty."""

    def __init__(self, daemon: DaemonView) -> None:
        self.daemon = daemon
        self.config: WebConfig = daemon.config.web
        self.tickets = Tickets()
        self.metrics = Metrics(daemon)
        daemon.render_observers.append(self.metrics.observe_render)
        self.addresses: list[tuple[str, int]] = []
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._stream: EventStream | None = None

    @property
    def url(self) -> str:
        """The page's address, on loopback where it listens there."""
        if not self.addresses:
            raise Refused(Reason("op.web_off"), "web_off")
        host, port = sorted(self.addresses, key=lambda a: a[0] not in ("127.0.0.1", "::1", *WILDCARDS))[0]
        host = {"0.0.0.0": "127.0.0.1", "::": "[::1]"}.get(host, f"[{host}]" if ":" in host else host)
        return f"http://{host}:{port}"

    def login_link(self) -> tuple[str, float]:
        return f"{self.url}/login?ticket={self.tickets.issue()}", self.tickets.lifetime

    def start(self) -> None:
        if not self.config.listen:
            return
        site = Site(Operations(self.daemon), self.config, self.tickets, self.metrics,
                    password_hash=_read(self.config.password_file, read_password_hash),
                    metrics_token=_read(self.config.metrics_token_file, read_token))
        sockets: list[socket.socket] = []
        try:
            for address in self.config.listen:
                sockets.append(bind(address))
        except OSError as error:
            for sock in sockets:
                sock.close()
            log.error("web_unavailable", listen=list(self.config.listen),
                      reason=f"the station page cannot listen: {error.strerror}; labels keep printing")
            return
        self.addresses = [s.getsockname()[:2] for s in sockets]
        self._stream = EventStream(site.ops, site.fragment)
        app = build_app(site, self._stream, self.allowed_hosts(),
                        session_secret(self.daemon.config.daemon.state_dir))
        config = uvicorn.Config(app, log_config=None, access_log=False, proxy_headers=False, server_header=False,
                                lifespan="off", http="h11", ws="none", loop="asyncio", timeout_graceful_shutdown=2)
        self._server = uvicorn.Server(config)
        server = self._server
        self._thread = threading.Thread(target=lambda: asyncio.run(server.serve(sockets=sockets)), name="web",
                                        daemon=True)
        self._thread.start()
        log.info("web_listening", url=self.url, listen=[f"{h}:{p}" for h, p in self.addresses])

    def allowed_hosts(self) -> list[str]:
        """Host names the page answers to (anything else is DNS rebinding or a mistake)."""
        hosts = {"localhost", "127.0.0.1", "[::1]", socket.gethostname().lower(), *self.config.hosts}
        for host, _ in self.addresses:
            if host not in WILDCARDS:
                hosts.add(f"[{host}]" if ":" in host else host)
        return sorted(hosts)

    def stop(self) -> None:
        if self._server is None:
            return
        if self._stream is not None:
            self._stream.stopping.set()
        self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(STOP_SECONDS)
            if self._thread.is_alive():
                self._server.force_exit = True
                self._thread.join(STOP_SECONDS)
        self._server = None
        self.addresses = []


def bind(address: str) -> socket.socket:
    host, port = split_address(address)
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if family == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        sock.bind((host, port))
        sock.listen(socket.SOMAXCONN)
    except OSError:
        sock.close()
        raise
    return sock


def read_token(path: Path) -> str:
    try:
        token = path.read_text(encoding="utf-8").strip()
    except OSError as error:
        raise BadSecretFile(f"cannot read [web] metrics_token_file {path}: {error.strerror}") from None
    if len(token) < 16:
        raise BadSecretFile(f"{path}: the metrics token is shorter than 16 characters; make a long random one")
    return token


def _read(path: Path | None, reader: Callable[[Path], str]) -> str | None:
    return None if path is None else reader(path)
