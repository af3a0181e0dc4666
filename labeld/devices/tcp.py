"""``tcp://host:port``: a raw socket to the printer (JetDirect / port 9100)."""

from __future__ import annotations

import select
import socket
import time
from urllib.parse import SplitResult

from labeld.devices.base import register_scheme
from labeld.errors import DeviceError

CHUNK = 16 * 1024
SEND_BUFFER = 16 * 1024


class TcpDevice:
    bidirectional = True

    def __init__(self, host: str, port: int, uri: str, connect_timeout: float = 5.0) -> None:
        self.host = host
        self.port = port
        self.uri = uri
        self.connect_timeout = connect_timeout
        self._sock: socket.socket | None = None

    def open(self) -> None:
        if self._sock is not None:
            return
        try:
            sock = socket.create_connection((self.host, self.port), timeout=self.connect_timeout)
        except OSError as error:
            raise DeviceError(f"cannot connect to {self.host}:{self.port}: {error.strerror or error}") from error
        # A small send buffer, so that a connection cut mid-label shows in bytes_sent
        # instead of vanishing into the kernel's buffers.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, SEND_BUFFER)
        sock.settimeout(30.0)
        self._sock = sock

    def write(self, data: bytes, name: str | None = None) -> None:
        sock = self._require()
        sent = 0
        view = memoryview(data)
        try:
            while sent < len(data):
                sent += sock.send(view[sent : sent + CHUNK])
        except OSError as error:
            self.close()
            raise DeviceError(
                f"connection to {self.host}:{self.port} lost after {sent} of {len(data)} bytes: "
                f"{error.strerror or error}",
                bytes_sent=sent,
            ) from error

    def read(self, size: int, timeout: float) -> bytes:
        sock = self._require()
        try:
            ready, _, _ = select.select([sock], [], [], timeout)
            if not ready:
                return b""
            data = sock.recv(size)
        except OSError as error:
            self.close()
            raise DeviceError(f"connection to {self.host}:{self.port} lost: {error}") from error
        if not data:
            self.close()
            raise DeviceError(f"{self.host}:{self.port} closed the connection")
        return data

    def finish(self, timeout: float) -> None:
        """End a job on a connection that cannot report status, the way CUPS's socket backend does:
        half-close, then wait for the printer to close its side. A printer that took the whole job
        closes cleanly; a reset, or no close within ``timeout``, means the label may not have
        arrived whole, and :class:`DeviceError` says so (the engine sends it again, flagged)."""
        sock = self._sock
        if sock is None:
            return
        try:
            sock.shutdown(socket.SHUT_WR)
            deadline = time.monotonic() + timeout
            while True:
                left = deadline - time.monotonic()
                ready, _, _ = select.select([sock], [], [], max(0.0, left))
                if not ready:
                    raise DeviceError(f"{self.host}:{self.port} did not finish taking the label within {timeout:g} s",
                                      bytes_sent=0)
                if not sock.recv(4096):
                    return
        except OSError as error:
            raise DeviceError(f"{self.host}:{self.port} dropped the connection before taking the whole label: "
                              f"{error.strerror or error}", bytes_sent=0) from error
        finally:
            self.close()

    def close(self) -> None:
        if self._sock is not None:
            try:
                self._sock.close()
            finally:
                self._sock = None

    def _require(self) -> socket.socket:
        if self._sock is None:
            self.open()
        assert self._sock is not None
        return self._sock


def _from_uri(parsed: SplitResult, uri: str) -> TcpDevice:
    if not parsed.hostname:
        raise DeviceError(f"{uri!r}: no host; write tcp://HOST:9100")
    return TcpDevice(parsed.hostname, parsed.port or 9100, uri)


register_scheme("tcp", _from_uri)
register_scheme("socket", _from_uri)
