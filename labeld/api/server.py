"""The control socket: Python's threading HTTP/1.1 server bound to a Unix socket.

The socket file is the first fence (mode 0660, group ``daemon.socket_group``); the second is
``SO_PEERCRED``, checked on every connection, so a careless ``chmod 666`` does not let anyone
in. A socket file left by a crash is replaced; one that still answers belongs to a running
labeld, and start-up stops with a sentence instead of stealing it.
"""

from __future__ import annotations

import contextlib
import grp
import os
import socket
import socketserver
import stat
import threading
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import structlog

from labeld import __version__
from labeld.api.metrics import Metrics
from labeld.api.routes import JSON_BODY_LIMIT, ApiError, Request, Response, Router, error_response, parse_query
from labeld.api.source_routes import register_source_routes
from labeld.daemon.operations import DaemonView, Operations
from labeld.errors import LabeldError
from labeld.service.peercred import Authorizer, Decision, peer_credentials
from labeld.service.socket_acl import grant_submit_users

log = structlog.get_logger("labeld.api")

SOCKET_MODE = 0o660
#: A body smaller than this that a handler did not need is read and dropped to keep the
#: connection usable; a larger one closes the connection instead.
DRAIN_LIMIT = 1 << 20
IDLE_CONNECTION_SECONDS = 120.0


class SocketInUse(LabeldError):
    """The control socket path is taken by a running labeld or by something that is not a socket."""


class UnixHTTPServer(ThreadingHTTPServer):
    address_family = socket.AF_UNIX
    daemon_threads = True
    allow_reuse_address = False
    #: Listen backlog: an ERP that posts a batch at once must queue. Unix-socket clients with a
    #: timeout get EAGAIN, not a wait, when the backlog is full (socketserver's default is 5).
    request_queue_size = socket.SOMAXCONN

    def __init__(self, path: Path, router: Router, authorizer: Authorizer, max_upload: int) -> None:
        self.router = router
        self.authorizer = authorizer
        self.max_upload = max_upload
        super().__init__(str(path), ApiHandler, bind_and_activate=False)  # type: ignore[arg-type]  # typeshed knows only TCP addresses

    def server_bind(self) -> None:
        socketserver.TCPServer.server_bind(self)
        self.server_name = "labeld"
        self.server_port = 0


class ApiHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = f"labeld/{__version__}"
    timeout = IDLE_CONNECTION_SECONDS
    server: UnixHTTPServer

    def setup(self) -> None:
        super().setup()
        self.peer = peer_credentials(self.connection)
        self.decision: Decision = self.server.authorizer.check(self.peer)
        if not self.decision:
            log.warning("api_peer_refused", reason=self.decision.reason)

    def do_GET(self) -> None:
        self._dispatch()

    do_POST = do_PUT = do_PATCH = do_DELETE = do_GET

    def _dispatch(self) -> None:
        self._body_read = False
        if not self.decision:
            response = error_response(ApiError(403, "forbidden", self.decision.reason))
        else:
            response = self._route()
        self._send(response)
        self._finish_body()

    def _route(self) -> Response:
        target = urlsplit(self.path)
        try:
            request = Request(self.command, target.path, parse_query(target.query),
                              self.headers.get("Content-Type", ""), self._read_body, scope=self.decision.scope,
                              peer=self.peer)
            response = self.server.router.dispatch(request)
        except ApiError as error:
            response = error_response(error)
        except Exception as error:  # a bug must answer 500 and leave the daemon serving
            log.exception("api_error", method=self.command, path=target.path, error=str(error))
            response = error_response(ApiError(500, "internal", f"labeld failed to answer: {error}"))
        log.debug("api_request", method=self.command, path=target.path, status=response.status)
        return response

    def _content_length(self) -> int:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            self.close_connection = True
            raise ApiError(411, "length_required", "send the body with a Content-Length, not chunked")
        raw = self.headers.get("Content-Length", "0").strip() or "0"
        if not raw.isdigit():
            self.close_connection = True
            raise ApiError(400, "bad_length", f"Content-Length {raw!r} is not a number of bytes")
        return int(raw)

    def _read_body(self, limit: int) -> bytes:
        length = self._content_length()
        if length > limit:
            self.close_connection = True
            raise ApiError(413, "too_large", f"the body is {length} bytes; this endpoint takes at most {limit}")
        data = self.rfile.read(length) if length else b""
        self._body_read = True
        if len(data) != length:
            self.close_connection = True
            raise ApiError(400, "incomplete_body", f"the body ended after {len(data)} of {length} bytes")
        return data

    def _finish_body(self) -> None:
        """Keep the connection in step: drop a small unread body, close after a large one."""
        if self._body_read or self.close_connection:
            return
        try:
            length = self._content_length()
        except ApiError:
            return
        if length > DRAIN_LIMIT:
            self.close_connection = True
        elif length:
            self.rfile.read(length)

    def _send(self, response: Response, headers: dict[str, str] | None = None) -> None:
        self.send_response(response.status)
        self.send_header("Content-Type", response.content_type)
        self.send_header("Content-Length", str(len(response.body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(response.body)

    def handle_expect_100(self) -> bool:
        """Refuse an oversized upload before the client sends it (curl asks first for large bodies)."""
        with contextlib.suppress(ApiError):
            if self._content_length() > max(self.server.max_upload, JSON_BODY_LIMIT):
                self.close_connection = True
                self._send(error_response(ApiError(413, "too_large", "the body is larger than labeld accepts "
                                                   f"({self.server.max_upload} bytes, intake.max_file_size)")))
                return False
        return super().handle_expect_100()

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """Errors found by the HTTP parser itself, as JSON like every other error."""
        self.close_connection = True
        try:
            phrase = HTTPStatus(code).phrase
        except ValueError:
            phrase = "error"
        text = message or explain or phrase
        self._send(error_response(ApiError(code, phrase.lower().replace(" ", "_"), text)))

    def address_string(self) -> str:
        return "local"

    def log_message(self, format: str, *args: Any) -> None:
        """Requests are logged once, as ``api_request`` with the route's outcome."""


class ApiServer:
    """Serves the daemon's control socket in a background thread."""

    def __init__(self, daemon: DaemonView) -> None:
        self.daemon = daemon
        self.path = Path(daemon.config.daemon.socket)
        self.metrics = Metrics(daemon)
        daemon.render_observers.append(self.metrics.observe_render)
        self.operations = Operations(daemon)
        self._server: UnixHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._inode: int | None = None

    def start(self) -> None:
        config = self.daemon.config.daemon
        router = Router(self.operations, self.metrics.exposition)
        register_source_routes(router)
        server = UnixHTTPServer(self.path, router, Authorizer(config.socket_group, submit_users=config.submit_users),
                                self.daemon.config.intake.max_file_size)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            clear_stale_socket(self.path)
            server.server_bind()
            self._inode = self.path.stat().st_ino
            set_socket_access(self.path, config.socket_group)
            grant_submit_users(self.path, config.submit_users)
            server.server_activate()
        except BaseException:
            server.server_close()
            raise
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.2},
                                        name="api", daemon=True)
        self._thread.start()
        log.info("api_listening", socket=str(self.path))

    def stop(self) -> None:
        if self._server is None:
            return
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(5.0)
        with contextlib.suppress(OSError):
            if self.path.stat().st_ino == self._inode:
                self.path.unlink()
        self._server = None


def clear_stale_socket(path: Path) -> None:
    """Remove a socket file nobody answers on; refuse to touch a live one or a non-socket."""
    try:
        mode = path.lstat().st_mode
    except FileNotFoundError:
        return
    if not stat.S_ISSOCK(mode):
        raise SocketInUse(f"{path} exists and is not a socket; labeld will not replace it (daemon.socket)")
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
        probe.settimeout(2.0)
        try:
            probe.connect(str(path))
        except (ConnectionRefusedError, FileNotFoundError):
            path.unlink(missing_ok=True)
            log.info("api_stale_socket_removed", socket=str(path))
            return
        except OSError as error:
            raise SocketInUse(f"cannot tell whether {path} is in use ({error.strerror})") from error
    raise SocketInUse(f"another labeld is already serving on {path}; stop it first "
                      "(systemctl stop labeld) or give this one a different daemon.socket")


def set_socket_access(path: Path, group: str) -> None:
    """Mode 0660 and the socket group, so that members of the group may connect."""
    os.chmod(path, SOCKET_MODE)
    if not group:
        return
    try:
        gid = grp.getgrnam(group).gr_gid
    except KeyError:
        log.warning("api_socket_group_missing", group=group,
                    reason=f"group {group!r} does not exist; only root and labeld's own user can use the socket")
        return
    if os.stat(path).st_gid != gid:  # under systemd it already has the group: no chown needed
        os.chown(path, -1, gid)
