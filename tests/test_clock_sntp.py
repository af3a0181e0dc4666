"""The SNTP client against real loopback responders: offsets, delays, refusals and the wire format."""

from __future__ import annotations

import socket
import struct
import time
from collections.abc import Iterator

import pytest

from labeld.clock.sntp import (
    NTP_EPOCH_OFFSET,
    SntpError,
    SntpReply,
    from_ntp,
    parse_server,
    query,
    server_name,
    to_ntp,
)
from labeld.testing.sntp_server import SntpResponder

#: A server that answers is given this long: it answers in well under a millisecond on loopback, and
#: only a hang may fail a test (10 s). A server that must stay silent is waited for SILENCE. Where one
#: wait must do both (a stray answer must arrive, then the wait must run out), MIXED_WAIT: 2 s is
#: thousands of loopback answers, and each such test waits it out.
ANSWER_WAIT = 10.0
SILENCE = 0.3
MIXED_WAIT = 2.0
#: NTP timestamps are rounded to 2^-32 s, and the client's T4 is T1 plus a monotonic interval.
ROUNDING = 0.001


def within_half_the_delay(reply: SntpReply, expected: float) -> bool:
    """An SNTP offset is off by at most half the round trip (however slow the machine), never more."""
    return abs(reply.offset - expected) <= reply.delay / 2 + ROUNDING


@pytest.fixture
def responder(request: pytest.FixtureRequest) -> Iterator[SntpResponder]:
    server = SntpResponder(**getattr(request, "param", {})).start()
    yield server
    server.stop()


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("127.0.0.1", ("127.0.0.1", 123)),
        ("127.0.0.1:4123", ("127.0.0.1", 4123)),
        ("ntp.example", ("ntp.example", 123)),
        ("ntp.example:123", ("ntp.example", 123)),
        ("::1", ("::1", 123)),
        ("[::1]", ("::1", 123)),
        ("[2001:db8::1]:1123", ("2001:db8::1", 1123)),
    ],
)
def test_parse_server_accepts_host_and_port_forms(spec: str, expected: tuple[str, int]) -> None:
    """Host, host:port and bracketed or bare IPv6 addresses are all understood."""
    assert parse_server(spec) == expected


@pytest.mark.parametrize("spec", ["", "host:", "host:0", "host:70000", "host:ntp", ":123", "[::1", "[::1]123"])
def test_parse_server_rejects_malformed_specs(spec: str) -> None:
    """A malformed server is a ValueError, not a silently wrong port."""
    with pytest.raises(ValueError):
        parse_server(spec)


def test_server_name_brackets_ipv6() -> None:
    """IPv6 addresses are shown bracketed so the port stays readable."""
    assert (server_name("::1", 123), server_name("10.0.0.1", 123)) == ("[::1]:123", "10.0.0.1:123")


def test_ntp_timestamps_round_trip_across_the_2036_era() -> None:
    """Timestamps convert both ways, also after the 32-bit NTP seconds wrap in February 2036."""
    now = time.time()
    after_wrap = 2**32 - NTP_EPOCH_OFFSET + 1000.25
    assert abs(from_ntp(to_ntp(now), now) - now) < 1e-6
    assert abs(from_ntp(to_ntp(after_wrap), after_wrap) - after_wrap) < 1e-6


@pytest.mark.parametrize("responder", [{"skew": 7.0}], indirect=True)
def test_clock_seven_seconds_behind_measures_plus_seven(responder: SntpResponder) -> None:
    """A server 7 s ahead of us gives an offset of +7 s (to within half the round trip)."""
    started = time.perf_counter()
    reply = query(responder.server, ANSWER_WAIT)
    assert 0.0 <= reply.delay <= time.perf_counter() - started
    assert within_half_the_delay(reply, 7.0)
    assert (reply.server, reply.address, reply.stratum) == (responder.server, "127.0.0.1", 2)


@pytest.mark.parametrize("responder", [{"skew": -3.0}], indirect=True)
def test_clock_three_seconds_ahead_measures_minus_three(responder: SntpResponder) -> None:
    """A server 3 s behind us gives an offset of −3 s."""
    assert within_half_the_delay(query(responder.server, ANSWER_WAIT), -3.0)


@pytest.mark.parametrize("responder", [{"skew": 2.0, "hold": 0.2}], indirect=True)
def test_server_processing_time_is_not_network_delay(responder: SntpResponder) -> None:
    """Time the server spends between receive and transmit leaves offset and delay untouched:
    the delay is the exchange's time minus the server's 0.2 s hold, whatever the machine's load."""
    started = time.perf_counter()
    reply = query(responder.server, ANSWER_WAIT)
    elapsed = time.perf_counter() - started
    assert elapsed >= 0.2
    assert reply.delay <= elapsed - 0.2 + ROUNDING
    assert within_half_the_delay(reply, 2.0)


def test_ipv6_loopback_server() -> None:
    """An IPv6 server written as [::1]:PORT is reached over IPv6."""
    try:
        server = SntpResponder(skew=4.0, host="::1").start()
    except OSError:
        pytest.skip("no IPv6 loopback here")
    try:
        reply = query(f"[::1]:{server.port}", ANSWER_WAIT)
    finally:
        server.stop()
    assert reply.address == "::1"
    assert within_half_the_delay(reply, 4.0)


@pytest.mark.parametrize("responder", [{"mode": "silent"}], indirect=True)
def test_silent_server_is_a_timeout_that_names_it(responder: SntpResponder) -> None:
    """A server that never answers is reported by name once the timeout has passed, not before."""
    started = time.perf_counter()
    with pytest.raises(SntpError) as raised:
        query(responder.server, SILENCE)
    assert str(raised.value) == f"{responder.server}: no answer within 0.3 s"
    assert time.perf_counter() - started >= SILENCE
    assert responder.requests == 1


@pytest.mark.parametrize(
    ("responder", "message", "wait"),
    [
        ({"mode": "kiss"}, "refused with kiss code RATE", ANSWER_WAIT),
        ({"mode": "unsynchronised"}, "answered but is not synchronised itself", ANSWER_WAIT),
        ({"mode": "stray"}, "answered, but not to our request (origin timestamp differs)", MIXED_WAIT),
    ],
    indirect=["responder"],
)
def test_unusable_answers_are_errors(responder: SntpResponder, message: str, wait: float) -> None:
    """Kiss-o'-death, unsynchronised servers and packets that do not echo our request never count
    (a stray packet is ignored, so that exchange ends only when the wait runs out)."""
    with pytest.raises(SntpError) as raised:
        query(responder.server, wait)
    assert str(raised.value) == f"{responder.server}: {message}"


def test_closed_port_is_reported_as_unreachable() -> None:
    """ICMP port-unreachable on loopback ends the exchange at once with a clear sentence."""
    probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    with pytest.raises(SntpError) as raised:
        query(f"127.0.0.1:{port}", ANSWER_WAIT)
    assert str(raised.value) == f"127.0.0.1:{port}: port unreachable, no NTP server listens there"


def test_request_is_a_48_byte_version_4_client_packet() -> None:
    """On the wire: 48 bytes, first byte 0x23 (LI 0, VN 4, mode 3), our send time in the transmit field."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as catcher:
        catcher.bind(("127.0.0.1", 0))
        catcher.settimeout(ANSWER_WAIT)
        before = time.time()
        with pytest.raises(SntpError):
            query(f"127.0.0.1:{catcher.getsockname()[1]}", 0.1)  # the catcher never answers
        after = time.time()
        packet, _ = catcher.recvfrom(1024)
    assert len(packet) == 48
    assert packet[0] == 0x23
    assert packet[1:40] == bytes(39)
    sent = from_ntp(struct.unpack("!Q", packet[40:48])[0], before)
    assert before - ROUNDING <= sent <= after


@pytest.mark.parametrize("responder", [{"skew": 7.0}], indirect=True)
def test_agrees_with_ntplib(responder: SntpResponder) -> None:
    """An independent implementation (ntplib) measures the same offset from the same responder
    (each to within half its own round trip)."""
    ntplib = pytest.importorskip("ntplib")
    theirs = ntplib.NTPClient().request("127.0.0.1", port=responder.port, version=4, timeout=ANSWER_WAIT)
    ours = query(responder.server, ANSWER_WAIT)
    assert abs(theirs.offset - 7.0) <= theirs.delay / 2 + ROUNDING
    assert within_half_the_delay(ours, 7.0)
