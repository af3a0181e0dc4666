"""A small SNTP client (RFC 4330 / RFC 5905 client mode): one request, one answer, offset and delay.

One exchange per server is enough for labeld: it does not steer the clock, it only has to notice a
clock that is seconds off, and the monitor combines several servers with a median.
"""

from __future__ import annotations

import secrets
import socket
import struct
import time
from dataclasses import dataclass

NTP_PORT = 123
NTP_EPOCH_OFFSET = 2208988800
"""Seconds from 1900-01-01 (the NTP epoch) to 1970-01-01 (the Unix epoch)."""
PACKET = struct.Struct("!BBbb4s4s4sQQQQ")
"""li_vn_mode, stratum, poll, precision, root delay, root dispersion, reference id, ref/orig/recv/xmit."""
CLIENT_FIRST_BYTE = 0x23  # LI 0, version 4, mode 3 (client)
MODE_SERVER = 4
LEAP_ALARM = 3
_ERA = 1 << 32


class SntpError(Exception):
    """One server gave no usable answer; the message is a sentence that names the server."""


@dataclass(frozen=True)
class SntpReply:
    """What one server said. ``offset`` is seconds to add to the local clock to get the server's time."""

    server: str
    address: str
    offset: float
    delay: float
    stratum: int


def parse_server(spec: str) -> tuple[str, int]:
    """``"host"``, ``"host:port"``, ``"[v6]:port"``, ``"[v6]"`` or a bare IPv6 address → (host, port)."""
    text = spec.strip()
    if not text:
        raise ValueError("empty server name")
    if text.startswith("["):
        host, sep, rest = text[1:].partition("]")
        if not sep or not host or (rest and not rest.startswith(":")):
            raise ValueError(f"{spec!r}: write an IPv6 server as [ADDRESS] or [ADDRESS]:PORT")
        return host, _port(rest[1:], spec) if rest else NTP_PORT
    if text.count(":") > 1:
        return text, NTP_PORT
    host, sep, port = text.partition(":")
    if not host:
        raise ValueError(f"{spec!r}: the host name is missing")
    return host, _port(port, spec) if sep else NTP_PORT


def _port(text: str, spec: str) -> int:
    if not text.isdigit() or not 0 < int(text) < 65536:
        raise ValueError(f"{spec!r}: {text!r} is not a port number (1-65535)")
    return int(text)


def server_name(host: str, port: int) -> str:
    """How a server is shown to people: ``127.0.0.1:123``, ``[::1]:123``."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def to_ntp(unix_time: float) -> int:
    """A Unix time as a 64-bit NTP timestamp (32 bits seconds, 32 bits fraction)."""
    return round((unix_time + NTP_EPOCH_OFFSET) * _ERA) % (1 << 64)


def from_ntp(timestamp: int, pivot: float) -> float:
    """A 64-bit NTP timestamp as Unix time, in the NTP era nearest ``pivot`` (so 2036 is no cliff)."""
    seconds = timestamp / _ERA - NTP_EPOCH_OFFSET
    eras = round((pivot - seconds) / _ERA)
    return seconds + eras * _ERA


def query(spec: str, timeout: float = 2.0) -> SntpReply:
    """One SNTP exchange with ``spec``; raises :class:`SntpError` saying what went wrong."""
    host, port = parse_server(spec)
    name = server_name(host, port)
    try:
        infos = socket.getaddrinfo(host, port, 0, socket.SOCK_DGRAM, socket.IPPROTO_UDP)
    except (socket.gaierror, UnicodeError) as error:
        why = getattr(error, "strerror", None) or str(error)
        raise SntpError(f"{name}: cannot resolve the host name ({why})") from error
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as sock:
        try:
            sock.connect(address)
            return _exchange(sock, name, str(address[0]), timeout)
        except ConnectionRefusedError as error:
            raise SntpError(f"{name}: port unreachable, no NTP server listens there") from error
        except OSError as error:
            raise SntpError(f"{name}: {error.strerror or error}") from error


def _exchange(sock: socket.socket, name: str, address: str, timeout: float) -> SntpReply:
    """Send one request on a connected socket and wait for the answer that matches it.

    T4 is taken as T1 plus the monotonic time elapsed, so a clock step during the exchange
    cannot corrupt the measurement. The transmit timestamp carries random low bits: an answer
    must echo it exactly, which keeps stale or forged packets from counting.
    """
    t1 = time.time()
    start = time.perf_counter()
    sent_stamp = (to_ntp(t1) & ~0xFFFF) | secrets.randbits(16)
    sock.send(PACKET.pack(CLIENT_FIRST_BYTE, 0, 0, 0, b"", b"", b"", 0, 0, 0, sent_stamp))
    deadline = start + timeout
    rejected = ""
    while (remaining := deadline - time.perf_counter()) > 0:
        sock.settimeout(remaining)
        try:
            data = sock.recv(1024)
        except TimeoutError:
            break
        t4 = t1 + (time.perf_counter() - start)
        problem, reply = _read_reply(data, sent_stamp, t1, t4, name, address)
        if reply is not None:
            return reply
        rejected = problem
    if rejected:
        raise SntpError(f"{name}: {rejected}")
    raise SntpError(f"{name}: no answer within {timeout:g} s")


def _read_reply(
    data: bytes, sent_stamp: int, t1: float, t4: float, name: str, address: str
) -> tuple[str, SntpReply | None]:
    """(why the packet was ignored, None) or ("", the reply); raises for answers that end the exchange."""
    if len(data) < PACKET.size:
        return f"answered with {len(data)} bytes, not an NTP packet", None
    first, stratum, _, _, _, _, refid, _, origin, receive, transmit = PACKET.unpack_from(data)
    if first & 0x07 != MODE_SERVER:
        return f"answered in NTP mode {first & 0x07}, not as a server", None
    if origin != sent_stamp:
        return "answered, but not to our request (origin timestamp differs)", None
    if stratum == 0:
        code = refid.decode("ascii", "replace").strip("\x00")
        raise SntpError(f"{name}: refused with kiss code {code or '?'}")
    if first >> 6 == LEAP_ALARM or stratum > 15 or transmit == 0:
        raise SntpError(f"{name}: answered but is not synchronised itself")
    t2 = from_ntp(receive, t1)
    t3 = from_ntp(transmit, t1)
    offset = ((t2 - t1) + (t3 - t4)) / 2
    delay = max((t4 - t1) - (t3 - t2), 0.0)
    return "", SntpReply(server=name, address=address, offset=offset, delay=delay, stratum=stratum)
