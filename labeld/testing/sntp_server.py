"""A loopback SNTP server whose clock is wrong on purpose, for tests and demos.

``SntpResponder(skew=7.0).start()`` answers as if true time were the local clock plus 7 s, so a
client on the same machine measures an offset of +7 s (its own clock is 7 s behind). Modes make
the server misbehave the way real ones do:

- ``honest``: answers correctly for its skew;
- ``silent``: reads requests and never answers (a firewalled or dead server);
- ``liar``: answers with its skew plus ``lie`` seconds (a false ticker, an hour off by default);
- ``kiss``: answers with a kiss-o'-death (stratum 0, code ``RATE``);
- ``unsynchronised``: answers with leap indicator 3 (the server has no time itself);
- ``stray``: answers with an origin timestamp that is not the client's (a stale or forged packet).

``gate``: responders sharing one :class:`threading.Barrier` answer only once each of them holds a
request, which a client that asks its servers one after the other never achieves before its
first request times out: proof, without a stopwatch, that a client asks them at the same time.
"""

from __future__ import annotations

import argparse
import contextlib
import socket
import struct
import threading
import time
from types import TracebackType
from typing import Literal

from labeld.clock.sntp import PACKET, server_name, to_ntp

Mode = Literal["honest", "silent", "liar", "kiss", "unsynchronised", "stray"]
MODES: tuple[Mode, ...] = ("honest", "silent", "liar", "kiss", "unsynchronised", "stray")
GATE_WAIT = 60.0


class SntpResponder:
    """One UDP socket and one thread; ``port`` is known once :meth:`start` returns."""

    def __init__(
        self,
        skew: float = 0.0,
        mode: Mode = "honest",
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        lie: float = 3600.0,
        hold: float = 0.0,
        stratum: int = 2,
        gate: threading.Barrier | None = None,
    ) -> None:
        if mode not in MODES:
            raise ValueError(f"mode {mode!r} is not one of {', '.join(MODES)}")
        self.skew = skew
        self.mode = mode
        self.host = host
        self.lie = lie
        self.hold = hold
        self.stratum = stratum
        self.gate = gate
        self.requests = 0
        self._requested_port = port
        self._sock: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()

    @property
    def port(self) -> int:
        if self._sock is None:
            raise RuntimeError("the responder is not started")
        return int(self._sock.getsockname()[1])

    @property
    def server(self) -> str:
        """The ``host:port`` text a client configuration would name this server by."""
        return server_name(self.host, self.port)

    @property
    def true_offset(self) -> float:
        """The offset a correct client must measure against this server."""
        return self.skew + (self.lie if self.mode == "liar" else 0.0)

    def start(self) -> SntpResponder:
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_DGRAM)
        sock.bind((self.host, self._requested_port))
        sock.settimeout(0.05)
        self._sock = sock
        self._thread = threading.Thread(target=self._serve, name=f"sntp-responder-{self.port}", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout=2.0)
            self._thread = None
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    def __enter__(self) -> SntpResponder:
        return self.start() if self._sock is None else self

    def __exit__(
        self, kind: type[BaseException] | None, value: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.stop()

    def _serve(self) -> None:
        assert self._sock is not None
        sock = self._sock
        while not self._stopping.is_set():
            try:
                request, client = sock.recvfrom(1024)
            except TimeoutError:
                continue
            except OSError:
                return
            received = time.time()
            self.requests += 1
            if self.mode == "silent" or len(request) < PACKET.size:
                continue
            if self.hold:
                time.sleep(self.hold)
            if self.gate is not None and not self._pass_gate(self.gate):
                continue
            try:
                sock.sendto(self.answer(request, received), client)
            except OSError:
                continue

    def _pass_gate(self, gate: threading.Barrier) -> bool:
        """Wait (a hang bound, 60 s) until every responder sharing ``gate`` holds a request."""
        try:
            gate.wait(GATE_WAIT)
        except threading.BrokenBarrierError:
            return False
        return True

    def answer(self, request: bytes, received: float) -> bytes:
        """The reply to ``request`` that arrived at local time ``received``."""
        first, _, poll, _, _, _, _, _, _, _, client_transmit = PACKET.unpack_from(request)
        version = (first >> 3) & 0x07
        shift = self.true_offset
        leap = 3 if self.mode == "unsynchronised" else 0
        stratum = 0 if self.mode == "kiss" else self.stratum
        refid = b"RATE" if self.mode == "kiss" else socket.inet_aton("127.0.0.1")
        origin = client_transmit ^ 0xFFFF_FFFF if self.mode == "stray" else client_transmit
        return PACKET.pack(
            (leap << 6) | (version << 3) | 4,
            stratum,
            poll,
            -20,
            struct.pack("!I", 0x0000_0100),
            struct.pack("!I", 0x0000_0200),
            refid,
            to_ntp(received + shift - 16.0),
            origin,
            to_ntp(received + shift),
            to_ntp(time.time() + shift),
        )


def main(argv: list[str] | None = None) -> None:
    """``python -m labeld.testing.sntp_server --skew 7 --port 12300``: a wrong clock for demos."""
    parser = argparse.ArgumentParser(prog="python -m labeld.testing.sntp_server", description=__doc__.splitlines()[0])
    parser.add_argument("--skew", type=float, default=0.0, help="seconds the served time is ahead (negative: behind)")
    parser.add_argument("--mode", choices=MODES, default="honest")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args(argv)
    with SntpResponder(args.skew, args.mode, host=args.host, port=args.port) as server:
        print(f"SNTP responder on {server.server}: skew {args.skew:+g} s, mode {args.mode}", flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            threading.Event().wait()


if __name__ == "__main__":
    main()


__all__ = ["MODES", "Mode", "SntpResponder", "main"]
