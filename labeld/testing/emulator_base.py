"""Printer emulators: a printer mechanism shared by every printer language, and its transports.

An emulator is one :class:`Emulator` (the mechanism: paper, cover, print speed, faults, the
output folder) driving one :class:`PrinterCore` (the language: Brother QL raster, ZPL). The
transports — a TCP server, a pty standing in for ``/dev/usb/lp0``, and the endpoint a virtual
pyusb backend talks to (``labeld.testing.virtual_usb``) — all feed the same emulator, so the
daemon's real TCP, usblp and pyusb code paths are tested against one printer model.

Plugging in a printer language (how the ZPL emulator joins)
------------------------------------------------------------
Subclass :class:`PrinterCore` and implement:

``feed(data)``
    Parse the bytes the host sent (they arrive in arbitrary chunks: keep partial commands
    between calls). For every label that is complete, call ``self.machine.print_label(bitmap,
    length_mm)``; it returns False when a fault stopped the label (nothing printed), in which
    case the core reports the error its own way. Call ``self.machine.label_started()`` when a
    label's data begins (a due ``disconnect`` fault strikes at the next chunk of bytes while
    that label is still open). Queue anything the printer says back with
    ``self.machine.respond(data)``; pass the "label printed" answer as ``print_label(...,
    reply=...)`` so that it goes out before the status of any fault the label triggers.
``abort()``
    The connection dropped: forget any partial label (a real printer discards it).
``fault_changed()``  (MAY)
    Called after a fault started or was cleared, to send an unsolicited status.
``held_reported()`` and ``restart()``  (MAY, for ``power-cycle``)
    Whether the core holds a whole label it has not printed and has said so in a status
    answer; and the restart itself: forget every label held unprinted and any partial one,
    returning how many whole labels were lost. A core that holds nothing needs neither.
    While :attr:`Emulator.holding` is True the core keeps whole labels in its buffer instead of
    printing them.

Class attributes: ``language`` (the CLI name, e.g. ``"zpl"``), ``replies_over_tcp``
(False for Brother QL: a QL on port 9100 never answers; True for ZPL, which answers ``~HS``)
and ``reads_during_fault`` (False by default: over TCP the printer stops reading while in a
fault; True for a core that keeps what arrives meanwhile in its own buffer, as ZPL does, so
that it can still answer status requests on that connection).
The core reads ``self.machine.error`` (``None``, ``"paper-out"``, ``"cover-open"``, ``"jam"`` or
``"offline"``) to build its status answers; ``loaded_media()`` and ``snmp_status()`` (MAY) feed
the emulated network card (:mod:`labeld.testing.snmp_agent`). ``labeld.testing.emulator_cli`` builds a core with
``make_core(model=..., media=..., dpi=...)`` from the module ``labeld.testing.<lang>_emulator``.

Faults (``KIND@N``: N labels print normally, the fault strikes after them)
---------------------------------------------------------------------------
``paper-out@N`` / ``cover-open@N`` / ``jam@N`` / ``offline@N``
    After label N the printer is in error and prints nothing. Over USB and usblp it keeps
    answering status requests (reporting the error) and refuses any page that arrives with an
    error status, discarding that job up to the next job start (``ESC @``), as a real printer
    discards the job it was on; the host knows from the status that it did not print. Over
    TCP, where a printer cannot tell the host anything, it stops reading instead (flow
    control), so that what was sent meanwhile is neither lost nor printed out of order —
    unless the core's ``reads_during_fault`` says it buffers such data itself (ZPL).
    :meth:`Emulator.clear_fault` (SIGUSR1 in the CLI) loads paper / closes the cover / clears the
    jam / puts it back online.
``disconnect@N``
    The connection drops in the middle of label N+1 (at the first chunk of bytes that arrives
    after the chunk in which its raster data began): that label is discarded, the transport
    closes (TCP socket closed, USB writes fail with ENODEV once, the pty is re-created behind
    the same path). It fires once; the printer then takes new connections.
``power-cycle@N``
    After label N the printer is switched off and on: the labels it receives next wait whole in
    its buffer, as a Zebra holds the next format while the head prints (the emulator's head is
    otherwise never busy when a format arrives), until it has answered a status request that
    shows them; at the next chunk of bytes after that it restarts — every label it held
    unprinted, and a partial one, is gone (``power-cycled`` event with ``lost``), the connection
    drops as for ``disconnect`` — and it then prints normally. It fires once. A blocking fault
    already on stays on (a restart does not load paper).
``slow`` (or ``slow@N``)
    Print speed divided by ten (from label N+1 on).

Output: ``OUT/NNNN.png`` per printed label (the label's true dot grid) and one JSON object
per line in ``OUT/events.jsonl`` (``{"t": ..., "event": "printed", "label": 1, ...}``).
"""

from __future__ import annotations

import contextlib
import json
import os
import pty
import select
import socket
import termios
import threading
import time
import tty
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from labeld.bitmap import Bitmap, to_png

DEFAULT_SPEED_MM_S = 176.0
FAULT_KINDS = ("paper-out", "cover-open", "jam", "offline", "disconnect", "power-cycle", "slow")
#: Faults that wait for a moment of their own rather than a printed label; kept by ``clear_fault``.
_LATER_FAULTS = ("disconnect", "power-cycle")
BLOCKING_FAULTS = ("paper-out", "cover-open", "jam", "offline")
READ_CHUNK = 4096


class Disconnected(Exception):
    """The ``disconnect`` or ``power-cycle`` fault struck: the transport must drop the connection now."""


class PrinterCore(ABC):
    """A printer language inside an emulator. See the module docstring for the contract."""

    language: ClassVar[str]
    replies_over_tcp: ClassVar[bool] = False
    reads_during_fault: ClassVar[bool] = False
    machine: Emulator

    def attach(self, machine: Emulator) -> None:
        self.machine = machine

    @abstractmethod
    def feed(self, data: bytes) -> None:
        """Parse ``data``; print labels and queue replies through ``self.machine``."""

    @abstractmethod
    def abort(self) -> None:
        """The connection dropped: discard any partial label."""

    def fault_changed(self) -> None:
        """MAY: a fault started or cleared; send an unsolicited status if the language does."""
        return None

    def loaded_media(self) -> tuple[float, float | None] | None:
        """MAY: the loaded media's width and length in mm (None for endless), or None if unknown."""
        return None

    def snmp_status(self) -> bytes | None:
        """MAY: the value of the printer maker's own status object over SNMP (Brother's 32 bytes)."""
        return None

    def held_reported(self) -> bool:
        """MAY: a whole label waits unprinted and a status answer has shown it (``power-cycle`` strikes)."""
        return True

    def restart(self) -> int:
        """MAY: switched off and on: forget every label held unprinted and any partial one; how many
        whole labels were lost."""
        self.abort()
        return 0


@dataclass(frozen=True)
class Fault:
    kind: str
    after: int = 0

    @classmethod
    def parse(cls, text: str) -> Fault:
        """``"paper-out@4"`` → Fault("paper-out", 4); ``"slow"`` → Fault("slow", 0)."""
        kind, _, count = text.strip().partition("@")
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault {kind!r}: use one of {', '.join(FAULT_KINDS)}")
        if count and not count.isdigit():
            raise ValueError(f"fault {text!r}: after '@' comes a label count, like {kind}@4")
        return cls(kind, int(count or 0))


class Emulator:
    """The printer mechanism: prints labels a core decoded, models speed and faults, logs."""

    def __init__(self, core: PrinterCore, out_dir: Path, *, speed_mm_s: float = DEFAULT_SPEED_MM_S,
                 faults: tuple[Fault, ...] = (), name: str = "emulator") -> None:
        self.core = core
        self.out_dir = Path(out_dir)
        self.out_dir.mkdir(parents=True, exist_ok=True)
        self.speed_mm_s = speed_mm_s
        self.name = name
        self.labels: list[Bitmap] = []
        self.red_planes: list[Bitmap | None] = []
        self.events: list[dict[str, Any]] = []
        self.error: str | None = None
        self._pending = list(faults)
        self._slow = False
        self._lock = threading.RLock()
        self._changed = threading.Condition(self._lock)
        #: Guards what the network card reports (fault, count, printing); never held while the head
        #: moves, so SNMP answers while a label prints (``_lock`` is held for a whole feed).
        self._state = threading.RLock()
        self._replies = bytearray()
        self._ready_at = 0.0
        self._in_label = False
        #: A power-cycle fault is due: whole labels wait in the buffer until the printer restarts.
        self.holding = False
        self._events_file = open(self.out_dir / "events.jsonl", "a", encoding="utf-8")  # noqa: SIM115
        core.attach(self)
        self.event("started", language=core.language, speed_mm_s=speed_mm_s,
                   faults=[f"{f.kind}@{f.after}" for f in faults])
        self._apply_due_faults()

    # --- what cores call -------------------------------------------------------------------

    def label_started(self) -> None:
        """A label's data began: from the next chunk on, a due disconnect fault strikes."""
        self._in_label = True

    def print_label(self, bitmap: Bitmap, length_mm: float, reply: bytes = b"", red: Bitmap | None = None,
                    **detail: Any) -> bool:
        """Print one decoded label; False (nothing printed) while the printer is in error.
        ``reply`` is queued once the label is out, before any fault it sets off. A ``red`` plane
        (two-colour media) is kept in :attr:`red_planes` and written as ``NNNN-red.png``."""
        self._in_label = False
        if self.error is not None:
            self.event("not-printed", label=len(self.labels) + 1, reason=self.error)
            return False
        self._wait_for_head()
        # The head starts now; writing the PNG below is the emulator's bookkeeping, not print time.
        started, started_wall = time.monotonic(), time.time()
        with self._changed, self._state:
            self.labels.append(bitmap.copy())
            self.red_planes.append(None if red is None else red.copy())
            number = len(self.labels)
            name = f"{number:04d}.png"
            _write_whole(self.out_dir / name, to_png(bitmap))
            if red is not None:
                _write_whole(self.out_dir / f"{number:04d}-red.png", to_png(red))
            self.event("printed", at=started_wall, label=number, file=name, rows=int(bitmap.shape[0]),
                       dots=int(bitmap.shape[1]), **detail)
            self._ready_at = started + length_mm / self.current_speed
            self._replies += reply
            self._apply_due_faults()
            self._changed.notify_all()
        return True

    def respond(self, data: bytes) -> None:
        with self._changed:
            self._replies += data
            self._changed.notify_all()

    def event(self, kind: str, at: float | None = None, **fields: Any) -> None:
        """Log ``kind`` with the wall-clock time ``at`` (now unless given)."""
        record = {"t": round(time.time() if at is None else at, 6), "event": kind, **fields}
        with self._lock:
            self.events.append(record)
            self._events_file.write(json.dumps(record) + "\n")
            self._events_file.flush()

    # --- what transports and tests call ---------------------------------------------------

    def feed(self, data: bytes) -> None:
        """Bytes from a host; raises :class:`Disconnected` when the connection must drop."""
        with self._lock:
            if self.holding and self.core.held_reported():
                self.holding = False
                self._in_label = False
                lost = self.core.restart()
                self.event("power-cycled", label=len(self.labels) + 1, lost=lost)
                raise Disconnected(f"power cycle after {len(self.labels)} labels, {lost} held label(s) lost")
            fault = self._due("disconnect") if self._in_label else None
            if fault is not None:
                self._pending.remove(fault)
                self._in_label = False
                self.core.abort()
                self.event("disconnected", label=len(self.labels) + 1)
                raise Disconnected(f"disconnect fault after {fault.after} labels")
            self.core.feed(data)

    def take_replies(self, size: int, timeout: float) -> bytes:
        """Up to ``size`` bytes the printer said, waiting up to ``timeout`` seconds for any."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while not self._replies:
                left = deadline - time.monotonic()
                if left <= 0:
                    return b""
                self._changed.wait(left)
            out = bytes(self._replies[:size])
            del self._replies[:size]
            return out

    def wait_accepting(self, timeout: float) -> bool:
        """Block while the printer is in error (it takes no data then); True once it takes data."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while self.error is not None:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._changed.wait(left)
        return True

    def wait_labels(self, count: int, timeout: float = 30.0) -> bool:
        deadline = time.monotonic() + timeout
        with self._changed:
            while len(self.labels) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._changed.wait(left)
        return True

    def clear_fault(self) -> None:
        """A person loaded paper / closed the cover (SIGUSR1 in the CLI)."""
        with self._changed:
            with self._state:
                cleared = self.error
                self.error = None
                self._slow = False
                self._pending = [f for f in self._pending if f.kind in _LATER_FAULTS]
            self.event("fault-cleared", fault=cleared)
            self.core.fault_changed()
            self._changed.notify_all()

    def connection_lost(self) -> None:
        with self._lock:
            self._in_label = False
            self.core.abort()

    def snapshot(self) -> tuple[str | None, int, bool]:
        """(fault, labels printed, printing right now), read together: what the network card reports."""
        with self._state:
            return self.error, len(self.labels), time.monotonic() < self._ready_at

    @property
    def current_speed(self) -> float:
        return self.speed_mm_s / 10 if self._slow else self.speed_mm_s

    def close(self) -> None:
        with self._lock:
            if not self._events_file.closed:
                self.event("stopped", printed=len(self.labels))
                self._events_file.close()

    # --- internals -------------------------------------------------------------------------

    def _due(self, kind: str) -> Fault | None:
        return next((f for f in self._pending if f.kind == kind and f.after <= len(self.labels)), None)

    def _apply_due_faults(self) -> None:
        for kind in (*BLOCKING_FAULTS, "slow", "power-cycle"):
            fault = self._due(kind)
            if fault is None:
                continue
            self._pending.remove(fault)
            if kind == "power-cycle":
                self.holding = True
                self.event("fault", fault=kind, after=fault.after)
            elif kind == "slow":
                self._slow = True
                self.event("fault", fault="slow", after=fault.after)
            elif self.error is None:
                self.error = kind
                self.event("fault", fault=kind, after=fault.after)
                self.core.fault_changed()

    def _wait_for_head(self) -> None:
        delay = self._ready_at - time.monotonic()
        if delay > 0:
            time.sleep(delay)


class TcpServer:
    """The emulator on a TCP port (raw 9100-style). One connection is served at a time, like
    a printer; ``port=0`` picks a free port (read ``.port``)."""

    def __init__(self, emulator: Emulator, host: str = "127.0.0.1", port: int = 0, recv_buffer: int = 8192) -> None:
        self.emulator = emulator
        self._listener = socket.create_server((host, port), backlog=8)
        # A printer's input buffer is small: a cut connection should be seen by the sender.
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, recv_buffer)
        self.host = host
        self.port: int = self._listener.getsockname()[1]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, name=f"{emulator.name}-tcp", daemon=True)
        self._thread.start()

    @property
    def labels(self) -> list[Bitmap]:
        return self.emulator.labels

    @property
    def events(self) -> list[dict[str, Any]]:
        return self.emulator.events

    @property
    def uri(self) -> str:
        return f"tcp://{self.host}:{self.port}"

    def stop(self) -> None:
        stop_listener(self._listener, self._stop, self._thread)

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, peer = self._listener.accept()
            except OSError:
                return
            with conn:
                self.emulator.event("connected", transport="tcp", peer=f"{peer[0]}:{peer[1]}")
                self._handle(conn)

    def _handle(self, conn: socket.socket) -> None:
        reads_during_fault = self.emulator.core.reads_during_fault
        while not self._stop.is_set():
            if not reads_during_fault and not self.emulator.wait_accepting(0.2):
                continue
            ready, _, _ = select.select([conn], [], [], 0.2)
            if not ready:
                self._send_replies(conn)
                continue
            try:
                data = conn.recv(READ_CHUNK)
            except OSError:
                data = b""
            if not data:
                self.emulator.connection_lost()
                self.emulator.event("connection-closed", transport="tcp")
                return
            try:
                self.emulator.feed(data)
            except Disconnected:
                conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
                return
            self._send_replies(conn)

    def _send_replies(self, conn: socket.socket) -> None:
        replies = self.emulator.take_replies(1 << 16, 0)
        if replies and self.emulator.core.replies_over_tcp:
            with contextlib.suppress(OSError):
                conn.sendall(replies)


class PtyServer:
    """The emulator behind a pty, standing in for ``/dev/usb/lp0``.

    The emulator owns the master side; hosts open :attr:`path` (a stable symlink to the slave,
    re-pointed when a ``disconnect`` fault re-creates the pty) with ``file://``.
    """

    def __init__(self, emulator: Emulator, link: Path) -> None:
        self.emulator = emulator
        self.path = Path(link)
        self._stop = threading.Event()
        self._master, self._slave = self._open_pty()
        self._thread = threading.Thread(target=self._serve, name=f"{emulator.name}-pty", daemon=True)
        self._thread.start()

    @property
    def uri(self) -> str:
        return f"file://{self.path}"

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self._close_pty()
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()

    def _open_pty(self) -> tuple[int, int]:
        master, slave = pty.openpty()
        tty.setraw(slave)
        attrs = termios.tcgetattr(slave)
        attrs[3] &= ~termios.ECHO
        termios.tcsetattr(slave, termios.TCSANOW, attrs)
        temp = self.path.with_name(f".{self.path.name}.new")
        with contextlib.suppress(FileNotFoundError):
            temp.unlink()
        temp.symlink_to(os.ttyname(slave))
        os.replace(temp, self.path)
        return master, slave

    def _close_pty(self) -> None:
        for fd in (self._master, self._slave):
            with contextlib.suppress(OSError):
                os.close(fd)

    def _serve(self) -> None:
        while not self._stop.is_set():
            self._write_replies()
            ready, _, _ = select.select([self._master], [], [], 0.05)
            if not ready:
                continue
            try:
                data = os.read(self._master, READ_CHUNK)
            except OSError:
                continue
            try:
                self.emulator.feed(data)
            except Disconnected:
                self._close_pty()
                self._master, self._slave = self._open_pty()

    def _write_replies(self) -> None:
        replies = self.emulator.take_replies(1 << 16, 0)
        if replies:
            with contextlib.suppress(OSError):
                os.write(self._master, replies)


def _write_whole(path: Path, data: bytes) -> None:
    """Write ``path`` so that a reader (a test in another process) never sees it half written."""
    temp = path.with_name(f".{path.name}.part")
    temp.write_bytes(data)
    os.replace(temp, path)


def stop_listener(listener: socket.socket, stop: threading.Event, thread: threading.Thread) -> None:
    """Stop a server thread blocked in ``accept()`` (closing alone does not wake it on Linux)."""
    stop.set()
    with contextlib.suppress(OSError):
        listener.shutdown(socket.SHUT_RDWR)
    listener.close()
    thread.join(timeout=5)
