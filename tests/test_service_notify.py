"""sd_notify against a real datagram socket standing in for systemd's NOTIFY_SOCKET."""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from labeld.service import notify


class Listener:
    """A bound datagram socket, as systemd holds it, that returns each message as a dict."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock

    def receive(self) -> dict[str, str]:
        data = self.sock.recv(4096).decode()
        assert data.endswith("\n")
        return dict(line.split("=", 1) for line in data.splitlines())

    def nothing_waiting(self) -> bool:
        self.sock.setblocking(False)
        try:
            self.sock.recv(4096)
        except BlockingIOError:
            return True
        finally:
            self.sock.setblocking(True)
        return False


@pytest.fixture
def path_listener(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Listener]:
    address = tmp_path / "notify"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(str(address))
        sock.settimeout(2.0)
        monkeypatch.setenv("NOTIFY_SOCKET", str(address))
        yield Listener(sock)


@pytest.fixture
def abstract_listener(monkeypatch: pytest.MonkeyPatch) -> Iterator[Listener]:
    name = f"labeld-test-{uuid.uuid4().hex}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind("\0" + name)
        sock.settimeout(2.0)
        monkeypatch.setenv("NOTIFY_SOCKET", "@" + name)
        yield Listener(sock)


def test_ready_with_status(path_listener: Listener) -> None:
    """READY=1 and the first STATUS line arrive together in one datagram."""
    assert notify.ready("1 printer, 0 queued, clock ok")
    assert path_listener.receive() == {"READY": "1", "STATUS": "1 printer, 0 queued, clock ok"}


def test_status_watchdog_stopping_in_order(path_listener: Listener) -> None:
    """Each call is one message, in the order the daemon sent them."""
    assert notify.status("3 printers, 12 queued, clock ok")
    assert notify.watchdog()
    assert notify.stopping()
    assert path_listener.receive() == {"STATUS": "3 printers, 12 queued, clock ok"}
    assert path_listener.receive() == {"WATCHDOG": "1"}
    assert path_listener.receive() == {"STOPPING": "1"}


def test_abstract_namespace_address(abstract_listener: Listener) -> None:
    """An '@' address (what systemd uses in containers) reaches the abstract socket."""
    assert notify.ready()
    assert notify.watchdog()
    assert abstract_listener.receive() == {"READY": "1"}
    assert abstract_listener.receive() == {"WATCHDOG": "1"}


def test_newlines_cannot_forge_fields(path_listener: Listener) -> None:
    """A status carrying a newline (e.g. from a printer name) cannot add a READY=1 of its own."""
    assert notify.status("printer ql\nREADY=1")
    assert path_listener.receive() == {"STATUS": "printer ql READY=1"}


def test_reloading(path_listener: Listener) -> None:
    """RELOADING=1 says a reload began; READY=1 ends it."""
    assert notify.reloading()
    assert path_listener.receive() == {"RELOADING": "1"}


def test_no_op_outside_systemd(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without NOTIFY_SOCKET nothing is sent and nothing fails."""
    monkeypatch.delenv("NOTIFY_SOCKET", raising=False)
    assert notify.ready() is False
    assert notify.watchdog() is False


def test_unreachable_socket_does_not_raise(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A socket path with nobody listening returns False instead of killing the daemon."""
    monkeypatch.setenv("NOTIFY_SOCKET", str(tmp_path / "gone"))
    assert notify.status("still here") is False


def test_watchdog_interval(monkeypatch: pytest.MonkeyPatch, path_listener: Listener) -> None:
    """WATCHDOG_USEC in seconds, only for the process WATCHDOG_PID names."""
    monkeypatch.setenv("WATCHDOG_USEC", "30000000")
    monkeypatch.delenv("WATCHDOG_PID", raising=False)
    assert notify.watchdog_interval() == 30.0
    monkeypatch.setenv("WATCHDOG_PID", str(os.getpid()))
    assert notify.watchdog_interval() == 30.0
    monkeypatch.setenv("WATCHDOG_PID", str(os.getpid() + 1))
    assert notify.watchdog_interval() is None
    monkeypatch.setenv("WATCHDOG_USEC", "0")
    monkeypatch.setenv("WATCHDOG_PID", str(os.getpid()))
    assert notify.watchdog_interval() is None
    monkeypatch.delenv("WATCHDOG_USEC")
    assert notify.watchdog_interval() is None
    assert path_listener.nothing_waiting()
