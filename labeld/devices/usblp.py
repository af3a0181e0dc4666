"""``file:///dev/usb/lp0``: a printer through the kernel's usblp character device.

Writes go out with poll-based timeouts (a printer that stops taking data must not hang the
worker); reads return what the printer sent (Brother's 32-byte status) or nothing after the
timeout. A path that is not a character device (a plain file) is written to, append-only,
and never answers.
"""

from __future__ import annotations

import errno
import os
import select
import stat
from urllib.parse import SplitResult, unquote

from labeld.devices.base import register_scheme
from labeld.errors import DeviceError

CHUNK = 16 * 1024


class UsblpDevice:
    def __init__(self, path: str, uri: str, timeout: float = 10.0) -> None:
        self.path = path
        self.uri = uri
        self.timeout = timeout
        self.bidirectional = True
        self._fd: int | None = None

    def open(self) -> None:
        if self._fd is not None:
            return
        try:
            if os.path.exists(self.path) and not stat.S_ISCHR(os.stat(self.path).st_mode):
                self.bidirectional = False
                self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND)
            else:
                self._fd = os.open(self.path, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
        except OSError as error:
            raise DeviceError(f"cannot open {self.path}: {_explain(error)}") from error

    def write(self, data: bytes, name: str | None = None) -> None:
        fd = self._require()
        sent = 0
        try:
            while sent < len(data):
                if not self._wait(fd, select.POLLOUT, self.timeout):
                    raise DeviceError(f"{self.path}: the printer took no data for {self.timeout:g} s "
                                      f"({sent} of {len(data)} bytes sent)", bytes_sent=sent)
                sent += _write_some(fd, data[sent : sent + CHUNK])
        except OSError as error:
            self.close()
            raise DeviceError(f"{self.path}: write failed after {sent} of {len(data)} bytes: {_explain(error)}",
                              bytes_sent=sent) from error

    def read(self, size: int, timeout: float) -> bytes:
        fd = self._require()
        if not self.bidirectional:
            return b""
        try:
            if not self._wait(fd, select.POLLIN, timeout):
                return b""
            return os.read(fd, size)
        except BlockingIOError:
            return b""
        except OSError as error:
            self.close()
            raise DeviceError(f"{self.path}: read failed: {_explain(error)}") from error

    def finish(self, timeout: float) -> None:
        """This connection cannot tell when the printer took the label: nothing to wait for."""
        self.close()

    def close(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)

    def _require(self) -> int:
        self.open()
        assert self._fd is not None
        return self._fd

    def _wait(self, fd: int, event: int, timeout: float) -> bool:
        """True when ``fd`` is ready for ``event``; raises OSError(EIO) on hang-up (unplugged)."""
        poller = select.poll()
        poller.register(fd, event)
        ready = poller.poll(max(0, round(timeout * 1000)))
        if any(flags & (select.POLLHUP | select.POLLERR | select.POLLNVAL) for _, flags in ready):
            raise OSError(errno.EIO, "the device hung up")
        return bool(ready)


def _write_some(fd: int, chunk: bytes) -> int:
    try:
        return os.write(fd, chunk)
    except BlockingIOError:
        return 0


def _explain(error: OSError) -> str:
    if error.errno == errno.ENOENT:
        return "no such device: the printer is unplugged or switched off"
    if error.errno == errno.EACCES:
        return "permission denied: add the labeld user to the lp group"
    if error.errno in (errno.EIO, errno.ENODEV):
        return "the printer went away (unplugged or switched off)"
    return error.strerror or str(error)


def _from_uri(parsed: SplitResult, uri: str) -> UsblpDevice:
    path = unquote(parsed.path)
    if parsed.netloc not in ("", "localhost") or not path:
        raise DeviceError(f"{uri!r}: write file:///dev/usb/lp0 (an absolute path)")
    return UsblpDevice(path, uri)


register_scheme("file", _from_uri)
