"""Marketplace emulators on loopback HTTPS, for tests, benchmarks and integrators.

A :class:`MarketplaceServer` serves one :class:`MarketplaceApp` (Ozon: ``ozon_emulator``,
Wildberries: ``wb_emulator``) over TLS with a certificate from a CA made for the run
(:func:`make_tls`, trustme), so labeld's real httpx client verifies a real chain against the
CA bundle it is configured with — never with verification off.

Faults are switched per test on the app (:meth:`MarketplaceApp.fault`):

``auth``        every request is refused (403; Ozon: "Api-key is deactivated")
``rate``        the next N requests answer 429 (a 429 storm)
``conflict``    the next N requests answer 409 (Wildberries counts each as ten)
``server``      the next N requests answer 500
``slow``        every answer waits ``seconds`` first
``truncated``   the next N label files are cut short (an honest Content-Length, half a PDF)
``off``         ``path`` answers 404 (an endpoint the marketplace switched off)
``redirect``    the next N label files answer 302 to another host (a CDN that moved them)

Label files also answer ``HEAD`` (headers only, no fault used up), as a CDN does.

Every request is recorded (:attr:`MarketplaceApp.requests`): time, method, path, status, and
whether it carried the account's key, so tests can check pacing and where the key went.
"""

from __future__ import annotations

import json
import ssl
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

FAULT_KINDS = ("auth", "rate", "conflict", "server", "slow", "truncated", "off", "redirect")


@dataclass(frozen=True)
class Answer:
    status: int
    body: bytes
    content_type: str = "application/json"
    headers: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def json(cls, value: Any, status: int = 200, headers: Mapping[str, str] | None = None) -> Answer:
        return cls(status, json.dumps(value, ensure_ascii=False).encode(), "application/json", headers or {})


@dataclass(frozen=True)
class Call:
    """What a handler sees of a request."""

    method: str
    path: str
    query: dict[str, str]
    headers: Mapping[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body or b"{}")


@dataclass(frozen=True)
class Seen:
    """One request as the emulator recorded it."""

    at: float
    method: str
    path: str
    status: int
    with_key: bool


@dataclass
class _Fault:
    count: int | None  # None: until cleared
    seconds: float = 0.0
    path: str = ""


class MarketplaceApp:
    """Request routing, faults and the request log shared by the marketplace emulators.

    Subclasses set :attr:`name`, implement :meth:`authorised`, :meth:`route` and the error
    bodies their marketplace sends (:meth:`error`)."""

    name = "marketplace"

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.requests: list[Seen] = []
        self.faults: dict[str, _Fault] = {}
        self.base_url = ""

    # ----- faults ------------------------------------------------------------------------------

    def fault(self, kind: str, count: int | None = None, *, seconds: float = 0.0, path: str = "") -> None:
        """Switch a fault on (see the module docstring); ``count`` None keeps it until cleared."""
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault {kind!r}; faults are {', '.join(FAULT_KINDS)}")
        with self.lock:
            self.faults[kind if kind != "off" else f"off:{path}"] = _Fault(count, seconds, path)

    def clear(self, kind: str | None = None) -> None:
        with self.lock:
            if kind is None:
                self.faults.clear()
            else:
                for name in [k for k in self.faults if k == kind or k.startswith(f"{kind}:")]:
                    del self.faults[name]

    def _take(self, kind: str) -> _Fault | None:
        """The fault ``kind`` if it strikes now (using up one of its count)."""
        with self.lock:
            fault = self.faults.get(kind)
            if fault is None:
                return None
            if fault.count is not None:
                fault.count -= 1
                if fault.count <= 0:
                    del self.faults[kind]
            return fault

    def truncate_next(self) -> bool:
        """For a subclass serving a label file: cut this one short?"""
        return self._take("truncated") is not None

    def redirect_next(self) -> bool:
        """For a subclass serving a label file: answer a redirect instead?"""
        return self._take("redirect") is not None

    # ----- the subclass's half ---------------------------------------------------------------------

    def authorised(self, call: Call) -> bool:
        raise NotImplementedError

    def carries_key(self, call: Call) -> bool:
        raise NotImplementedError

    def error(self, status: int, message: str) -> Answer:
        return Answer.json({"code": status, "message": message}, status)

    def public(self, call: Call) -> bool:
        """Requests that need no key (a signed file link)."""
        return False

    def route(self, call: Call) -> Answer:
        raise NotImplementedError

    # ----- one request -------------------------------------------------------------------------------

    def handle(self, call: Call) -> Answer:
        answer = self._answer(call)
        with self.lock:
            self.requests.append(Seen(time.monotonic(), call.method, call.path, answer.status, self.carries_key(call)))
        return answer

    def _answer(self, call: Call) -> Answer:
        slow = self.faults.get("slow")
        if slow is not None:
            time.sleep(slow.seconds)
        if self._take(f"off:{call.path}") is not None or any(
                f.path == call.path and f.count is None for k, f in self.faults.items() if k.startswith("off:")):
            return self.error(404, "Not Found")
        if not self.public(call):
            if self._take("auth") is not None:
                return self.error(403, "Api-key is deactivated, use another one or generate a new one")
            if not self.authorised(call):
                return self.error(401 if self.name == "wildberries" else 403,
                                  "Invalid Api-Key, please check the key and try again")
        if self._take("rate") is not None:
            return self.error(429, "You have reached request rate limit per second")
        if self._take("conflict") is not None:
            return self.error(409, "Conflict")
        if self._take("server") is not None:
            return self.error(500, "Internal error")
        return self.route(call)

    # ----- views for tests ---------------------------------------------------------------------------

    def busiest_second(self, path_prefix: str = "/") -> int:
        """The most requests (to paths starting ``path_prefix``) in any one-second window."""
        with self.lock:
            times = sorted(r.at for r in self.requests if r.path.startswith(path_prefix))
        best, start = 0, 0
        for end, moment in enumerate(times):
            while moment - times[start] >= 1.0:
                start += 1
            best = max(best, end - start + 1)
        return best

    def count(self, path: str, status: int | None = None) -> int:
        with self.lock:
            return sum(r.path == path and (status is None or r.status == status) for r in self.requests)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def do_GET(self) -> None:
        self._serve()

    do_POST = do_GET

    def do_HEAD(self) -> None:
        self._serve(head=True)

    def _serve(self, head: bool = False) -> None:
        parts = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        call = Call(self.command, parts.path, dict(parse_qsl(parts.query)), dict(self.headers.items()), body)
        try:
            answer = self.server.app.handle(call)
        except Exception as error:  # an emulator bug shows as a 500 with the words, not a hang
            answer = Answer.json({"code": 500, "message": f"emulator error: {error}"}, 500)
        self.send_response(answer.status)
        self.send_header("Content-Type", answer.content_type)
        self.send_header("Content-Length", str(len(answer.body)))
        for name, value in answer.headers.items():
            self.send_header(name, value)
        self.end_headers()
        if not head:
            self.wfile.write(answer.body)

    def log_message(self, format: str, *args: Any) -> None:
        return


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], app: MarketplaceApp) -> None:
        self.app = app
        super().__init__(address, _Handler)


@dataclass(frozen=True)
class Tls:
    """A CA made for this run: the server's context and the CA bundle a client must trust."""

    context: ssl.SSLContext
    ca_bundle: Path


def make_tls(folder: Path) -> Tls:
    """A fresh CA (trustme) and a certificate for 127.0.0.1 and localhost; the CA's PEM goes to
    ``folder/ca.pem``."""
    import trustme

    folder.mkdir(parents=True, exist_ok=True)
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1", "localhost")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    cert.configure_cert(context)
    bundle = folder / "ca.pem"
    ca.cert_pem.write_to_path(str(bundle))
    return Tls(context, bundle)


class MarketplaceServer:
    """``app`` on ``https://127.0.0.1:PORT`` (port 0 picks one) in a background thread."""

    def __init__(self, app: MarketplaceApp, tls: Tls, host: str = "127.0.0.1", port: int = 0) -> None:
        self.app = app
        self.tls = tls
        self.server = _Server((host, port), app)
        self.server.socket = tls.context.wrap_socket(self.server.socket, server_side=True)
        self.url = f"https://{host}:{self.server.server_address[1]}"
        app.base_url = self.url
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.1},
                                       name=f"{app.name}-emulator", daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)
