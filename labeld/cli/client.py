"""HTTP over the daemon's Unix socket with the standard library's ``http.client``.

Failures are sorted into the two kinds that ``labelctl`` reports with different exit codes:
the daemon cannot be reached (3), or it answered with a refusal (1).
"""

from __future__ import annotations

import http.client
import json
import os
import socket
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

from labeld.cli.formatting import _
from labeld.errors import LabeldError

DEFAULT_SOCKET = Path("/run/labeld/labeld.sock")
#: Where ``labeld run`` on built-in defaults puts its socket, relative to the folder it runs in.
BUILTIN_SOCKET = Path("labeld-data/labeld.sock")
UPLOAD_CHUNK = 1 << 20

Progress = Callable[[int, int], None]


class DaemonUnreachable(LabeldError):
    """Nothing answers on the socket: labeld is not running, or this is the wrong path."""


class RequestRefused(LabeldError):
    """The daemon answered with an error (``status``, ``code``, and its sentence; ``error`` is the whole
    error object, with ``reason_code`` and ``reason_params`` where the daemon gave them)."""

    def __init__(self, status: int, code: str, message: str, error: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.error = error or {"code": code, "message": message}


def socket_path(option: str | None, cwd: Path | None = None) -> Path:
    """``--socket``, else ``LABELD_SOCKET``, else the system path if it exists, else the socket of a
    labeld running on built-in defaults in this folder (``./labeld-data/labeld.sock``) if that exists,
    else the system path (whose absence the error then names)."""
    chosen = option or os.environ.get("LABELD_SOCKET")
    if chosen:
        return Path(chosen)
    builtin = (cwd or Path.cwd()) / BUILTIN_SOCKET
    if not DEFAULT_SOCKET.exists() and builtin.exists():
        return builtin
    return DEFAULT_SOCKET


class UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, path: Path, timeout: float) -> None:
        super().__init__("labeld", timeout=timeout)
        self.socket_path = path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        try:
            sock.connect(str(self.socket_path))
        except BaseException:
            sock.close()
            raise
        self.sock = sock


def path_part(value: str | int) -> str:
    """One path segment, with ``/`` and everything unusual escaped."""
    return quote(str(value), safe="")


class Client:
    def __init__(self, path: Path, timeout: float = 30.0) -> None:
        self.path = path
        self.timeout = timeout

    def call(self, method: str, target: str, *, body: dict[str, Any] | None = None,
             query: Mapping[str, Any] | None = None, timeout: float | None = None) -> Any:
        """One request with a JSON answer; :class:`RequestRefused` for an error answer."""
        data = json.dumps(body).encode() if body is not None else None
        status, content_type, raw = self._exchange(method, _with_query(target, query), data,
                                                   "application/json", timeout)
        return _decode(status, content_type, raw)

    def fetch(self, target: str) -> bytes:
        """A binary resource (a preview PNG)."""
        status, content_type, raw = self._exchange("GET", target, None, "", None)
        if status >= 400:
            _decode(status, content_type, raw)
        return raw

    def upload(self, data: bytes, query: Mapping[str, Any], progress: Progress | None = None) -> Any:
        status, content_type, raw = self._exchange("POST", _with_query("/v1/documents", query), data,
                                                   "application/pdf", None, progress)
        return _decode(status, content_type, raw)

    def _exchange(self, method: str, target: str, data: bytes | None, content_type: str, timeout: float | None,
                  progress: Progress | None = None) -> tuple[int, str, bytes]:
        connection = UnixHTTPConnection(self.path, timeout or self.timeout)
        try:
            connection.connect()
        except FileNotFoundError:
            raise DaemonUnreachable(_(
                "labeld's control socket {path} does not exist: is labeld running (systemctl status labeld)? A "
                "labeld on built-in defaults is found from the folder it runs in ({builtin}); --socket or "
                "LABELD_SOCKET choose another socket").format(path=self.path, builtin=BUILTIN_SOCKET)) from None
        except ConnectionRefusedError:
            raise DaemonUnreachable(_("nothing answers on {path}: labeld is not running or has crashed (systemctl "
                                      "status labeld; journalctl -u labeld)").format(path=self.path)) from None
        except PermissionError:
            raise RequestRefused(0, "forbidden", _(
                "you may not use {path}: ask an administrator to add you to the socket's group (usermod -aG "
                "labeld $USER), then log in again").format(path=self.path)) from None
        except OSError as error:
            raise DaemonUnreachable(_("cannot connect to {path}: {error}").format(
                path=self.path, error=error.strerror or error)) from None
        try:
            return self._send(connection, method, target, data, content_type, progress)
        except TimeoutError:
            raise DaemonUnreachable(_("labeld did not answer on {path} in time; it may be stuck (journalctl -u "
                                      "labeld)").format(path=self.path)) from None
        except (ConnectionError, http.client.HTTPException) as error:
            raise DaemonUnreachable(_("the connection to labeld on {path} broke: {error}").format(
                path=self.path, error=error)) from None
        finally:
            connection.close()

    @staticmethod
    def _send(connection: UnixHTTPConnection, method: str, target: str, data: bytes | None, content_type: str,
              progress: Progress | None) -> tuple[int, str, bytes]:
        connection.putrequest(method, target)
        connection.putheader("Accept", "application/json")
        if data is not None:
            connection.putheader("Content-Type", content_type)
        connection.putheader("Content-Length", str(len(data or b"")))
        connection.endheaders()
        for start in range(0, len(data or b""), UPLOAD_CHUNK):
            assert data is not None
            connection.send(data[start:start + UPLOAD_CHUNK])
            if progress is not None:
                progress(min(start + UPLOAD_CHUNK, len(data)), len(data))
        response = connection.getresponse()
        return response.status, response.getheader("Content-Type", ""), response.read()


def _with_query(target: str, query: Mapping[str, Any] | None) -> str:
    values = {k: v for k, v in (query or {}).items() if v is not None}
    return f"{target}?{urlencode(values)}" if values else target


def _decode(status: int, content_type: str, raw: bytes) -> Any:
    try:
        body = json.loads(raw) if raw else {}
    except (UnicodeDecodeError, json.JSONDecodeError):
        body = None
    if status >= 400:
        error = body.get("error", {}) if isinstance(body, dict) else {}
        message = error.get("message") or _("labeld answered HTTP {status}: {raw!r}").format(status=status,
                                                                                              raw=raw[:200])
        raise RequestRefused(status, error.get("code", "error"), message, {**error, "message": message})
    if body is None:
        raise RequestRefused(status, "bad_answer", _("labeld answered something that is not JSON ({type})").format(
            type=content_type))
    return body
