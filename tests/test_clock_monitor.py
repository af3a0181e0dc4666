"""ClockMonitor against real loopback SNTP responders: combined offsets, states, log lines, the thread."""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Iterator

import pytest
import structlog
from structlog.testing import capture_logs

from labeld.clock import ClockMonitor, ClockSnapshot, SourceReading, assess, parse_chrony_tracking
from labeld.clock.monitor import RECHECK_SECONDS
from labeld.config import ClockConfig
from labeld.testing.sntp_server import Mode, SntpResponder

TOLERANCE = 0.05
#: Servers that answer are given ANSWER_WAIT (a loopback answer takes under a millisecond; only a hang
#: may fail a test). A check that must also wait out a silent server uses MIXED_WAIT: the answering
#: servers must beat it and the silent one must run it out, so it is short, but 2 s is still
#: thousands of loopback answers.
ANSWER_WAIT = 10.0
MIXED_WAIT = 2.0


class Responders:
    """Starts responders for one test and stops them all afterwards."""

    def __init__(self) -> None:
        self.running: list[SntpResponder] = []

    def __call__(self, skew: float = 0.0, mode: Mode = "honest", gate: threading.Barrier | None = None
                 ) -> SntpResponder:
        server = SntpResponder(skew=skew, mode=mode, gate=gate).start()
        self.running.append(server)
        return server


@pytest.fixture
def responders() -> Iterator[Responders]:
    pool = Responders()
    yield pool
    for server in pool.running:
        server.stop()


def monitor_for(*servers: SntpResponder, max_offset: float = 5.0, interval: float = 300.0,
                timeout: float = ANSWER_WAIT) -> ClockMonitor:
    config = ClockConfig(
        servers=tuple(s.server for s in servers), interval=interval, max_offset=max_offset,
        timeout=timeout, local_sources=False,
    )
    return ClockMonitor(config, structlog.get_logger())


def state_changes(logs: list[dict[str, object]]) -> list[tuple[object, object]]:
    return [(entry["from"], entry["to"]) for entry in logs if entry["event"] == "clock_state_changed"]


def test_before_the_first_measurement_the_state_is_unknown(responders: Responders) -> None:
    """A fresh monitor claims nothing and corrects nothing."""
    monitor = monitor_for(responders())
    snapshot = monitor.snapshot()
    assert (snapshot.state, snapshot.offset, snapshot.checked_at) == ("unknown", None, None)
    assert snapshot.reason.text() == "the clock has not been measured yet"
    assert monitor.correction() == 0.0


def test_clock_seven_seconds_behind_is_drifting(responders: Responders) -> None:
    """+7 s against a 5 s limit: drifting, with the offset as the correction and a sentence saying why."""
    monitor = monitor_for(responders(skew=7.0))
    snapshot = monitor.check_now()
    assert snapshot.state == "drifting"
    assert snapshot.offset == pytest.approx(7.0, abs=TOLERANCE)
    assert monitor.correction() == pytest.approx(7.0, abs=TOLERANCE)
    assert snapshot.reason.text() == "clock is 7.0 s behind; signed label links break beyond 5 s (1 source)"
    assert snapshot.threshold == 5.0


def test_clock_three_seconds_ahead_is_ok(responders: Responders) -> None:
    """−3 s is inside the 5 s limit: ok, measured −3 s, but no correction applied to labels."""
    snapshot = monitor_for(responders(skew=-3.0)).check_now()
    assert snapshot.state == "ok"
    assert snapshot.offset == pytest.approx(-3.0, abs=TOLERANCE)
    assert snapshot.correction == 0.0
    said = re.match(r"clock is within (\d+(?:\.\d+)?) s of true time", snapshot.reason.text())
    assert said is not None and float(said.group(1)) == pytest.approx(3.0, abs=TOLERANCE), snapshot.reason.text()


def test_clock_ahead_beyond_the_limit_says_ahead(responders: Responders) -> None:
    """A clock that runs ahead drifts too, and the sentence says which way."""
    snapshot = monitor_for(responders(skew=-3.0), max_offset=2.0).check_now()
    assert snapshot.state == "drifting"
    assert snapshot.reason.text() == "clock is 3.0 s ahead; signed label links break beyond 2 s (1 source)"
    assert snapshot.correction == pytest.approx(-3.0, abs=TOLERANCE)


def test_a_liar_and_a_silent_server_do_not_move_the_median(responders: Responders) -> None:
    """Three good servers (+7 s), one lying by an hour and one silent: the answer is still +7 s."""
    good = [responders(skew=7.0) for _ in range(3)]
    liar = responders(skew=7.0, mode="liar")
    silent = responders(mode="silent")
    snapshot = monitor_for(*good, liar, silent, timeout=MIXED_WAIT).check_now()
    by_name = {source.name: source for source in snapshot.sources}

    assert snapshot.state == "drifting"
    assert snapshot.offset == pytest.approx(7.0, abs=TOLERANCE)
    for server in good:
        assert by_name[server.server].offset == pytest.approx(7.0, abs=TOLERANCE)
    assert by_name[liar.server].offset == pytest.approx(3607.0, abs=TOLERANCE)
    assert by_name[silent.server].offset is None
    assert by_name[silent.server].error == f"{silent.server}: no answer within 2 s"
    assert f"outvoted: {liar.server} says +3607.0 s" in snapshot.reason.text()
    assert "median of 4 sources" in snapshot.reason.text()


def test_good_servers_outvote_a_liar_when_the_clock_is_right(responders: Responders) -> None:
    """A correct clock stays ok although one server claims it is an hour off."""
    snapshot = monitor_for(*(responders() for _ in range(3)), responders(mode="liar")).check_now()
    assert snapshot.state == "ok"
    assert abs(snapshot.offset or 0.0) < TOLERANCE
    assert snapshot.correction == 0.0


def test_no_answer_is_unknown_and_names_every_server(responders: Responders) -> None:
    """When nobody answers, the state is unknown and the reason says which server failed and how."""
    silent, kiss = responders(mode="silent"), responders(mode="kiss")
    snapshot = monitor_for(silent, kiss, timeout=MIXED_WAIT).check_now()
    assert (snapshot.state, snapshot.offset, snapshot.correction) == ("unknown", None, 0.0)
    assert snapshot.reason.text() == (
        f"no time source answered: {silent.server}: no answer within 2 s; "
        f"{kiss.server}: refused with kiss code RATE"
    )


def test_servers_are_asked_at_the_same_time(responders: Responders) -> None:
    """Three servers that answer only once all three hold a request: asked one after the other, the
    first would time out unanswered; asked together, all three answer."""
    gate = threading.Barrier(3)
    servers = [responders(skew=7.0, gate=gate) for _ in range(3)]
    snapshot = monitor_for(*servers).check_now()
    assert [source.error for source in snapshot.sources] == [None, None, None]
    assert snapshot.state == "drifting"


def test_no_source_at_all_is_unknown_with_a_hint() -> None:
    """With no servers and no local time service, the reason says what to configure."""
    monitor = ClockMonitor(ClockConfig(servers=(), local_sources=False), structlog.get_logger())
    snapshot = monitor.check_now()
    assert snapshot.state == "unknown"
    assert snapshot.reason.text() == "no time source is configured: add SNTP servers under [clock] servers"


def test_no_source_where_local_services_were_looked_for_says_so() -> None:
    """On built-in defaults chrony and timesyncd are asked; when neither answers the reason says that,
    not merely "no time source is configured"."""
    config = ClockConfig(servers=(), local_sources=True)
    monitor = ClockMonitor(config, structlog.get_logger(), local_readers=[lambda timeout: None])
    snapshot = monitor.check_now()
    assert snapshot.state == "unknown" and not snapshot.needs_attention
    assert "neither chrony nor systemd-timesyncd answers on this machine" in snapshot.reason.text()


def test_a_clock_that_is_not_ok_is_measured_again_sooner(responders: Responders) -> None:
    """Drifting or unknown: the next check comes within RECHECK_SECONDS, not a whole interval; ok: the interval."""
    server = responders(skew=7.0)
    monitor = monitor_for(server, interval=300.0)
    monitor.check_now()
    assert monitor.next_check_in() == RECHECK_SECONDS
    server.skew = 0.0
    monitor.check_now()
    assert monitor.next_check_in() == 300.0
    server.mode = "silent"
    monitor.check_now()
    assert monitor.next_check_in() == RECHECK_SECONDS and monitor.snapshot().needs_attention


def test_each_change_of_state_is_told_to_on_change(responders: Responders) -> None:
    """The daemon hears of the first measurement and of every change, and of nothing else."""
    server = responders(skew=0.0)
    monitor = monitor_for(server)
    heard: list[tuple[str | None, str]] = []
    monitor.on_change = lambda before, snapshot: heard.append((before, snapshot.state))
    monitor.check_now()
    monitor.check_now()
    server.skew = 7.0
    monitor.check_now()
    assert heard == [(None, "ok"), ("ok", "drifting")]


def test_state_changes_are_logged_once_each(responders: Responders) -> None:
    """Five checks through ok → drifting → ok → unknown log four lines: the first state and each change."""
    server = responders(skew=0.0)
    with capture_logs() as logs:
        monitor = monitor_for(server, timeout=MIXED_WAIT)
        monitor.check_now()
        monitor.check_now()
        server.skew = 7.0
        monitor.check_now()
        monitor.check_now()
        server.skew = -3.0
        monitor.check_now()
        server.mode = "silent"
        monitor.check_now()
        monitor.check_now()

    assert state_changes(logs) == [(None, "ok"), ("ok", "drifting"), ("drifting", "ok"), ("ok", "unknown")]
    drifting = next(entry for entry in logs if entry.get("to") == "drifting")
    assert drifting["log_level"] == "warning"
    assert drifting["offset"] == pytest.approx(7.0, abs=TOLERANCE)
    assert drifting["reason"] == "clock is 7.0 s behind; signed label links break beyond 5 s (1 source)"
    unknown = logs[-1]
    assert unknown["reason"] == f"no time source answered: {server.server}: no answer within 2 s"
    assert next(entry for entry in logs if entry.get("to") == "ok")["log_level"] == "info"


def test_thread_measures_at_once_and_then_every_interval_logging_once(responders: Responders) -> None:
    """start() measures immediately and keeps measuring; a steady clock is logged once, not every interval."""
    server = responders(skew=7.0)
    with capture_logs() as logs:
        monitor = monitor_for(server, interval=0.05)
        monitor.start()
        deadline = time.monotonic() + 30.0
        while server.requests < 4 and time.monotonic() < deadline:
            time.sleep(0.02)
        monitor.stop()
    assert server.requests >= 4
    assert monitor.snapshot().state == "drifting"
    assert state_changes(logs) == [(None, "drifting")]


def test_stop_ends_the_thread_promptly(responders: Responders) -> None:
    """A long interval does not delay shutdown: stop() wakes the sleeping thread."""
    monitor = monitor_for(responders(), interval=3600.0)
    monitor.start()
    started = time.perf_counter()
    monitor.stop()
    assert time.perf_counter() - started < 30.0  # a hang bound: not stopping would take the hour
    assert "clock-monitor" not in [thread.name for thread in threading.enumerate()]


def test_local_time_service_joins_the_median(responders: Responders) -> None:
    """chrony's reading counts like a server: with one server at +7 s and chrony at +7 s the clock drifts."""
    server = responders(skew=7.0)
    chrony_says = parse_chrony_tracking(
        "C0A80101,192.168.1.1,3,1795684443.123456789,7.000123456,6.99,0.5,-14.2,-0.002,0.158,0.012,0.001,64.7,Normal"
    )
    config = ClockConfig(servers=(server.server,), timeout=ANSWER_WAIT, local_sources=True)
    monitor = ClockMonitor(config, structlog.get_logger(), local_readers=[lambda timeout: chrony_says])
    snapshot = monitor.check_now()
    assert [source.kind for source in snapshot.sources] == ["sntp", "chrony"]
    assert snapshot.state == "drifting"
    assert snapshot.offset == pytest.approx(7.0, abs=TOLERANCE)


def test_absent_local_services_are_left_out(responders: Responders) -> None:
    """A reader answering None (tool not installed) adds no source and no error."""
    config = ClockConfig(servers=(responders().server,), timeout=ANSWER_WAIT, local_sources=True)
    monitor = ClockMonitor(config, structlog.get_logger(), local_readers=[lambda timeout: None])
    assert [source.kind for source in monitor.check_now().sources] == ["sntp"]


def test_snapshot_json_is_serialisable_and_complete(responders: Responders) -> None:
    """to_json() is what GET /v1/clock answers: plain JSON with every source."""
    good, silent = responders(skew=7.0), responders(mode="silent")
    before = time.time()
    data = json.loads(json.dumps(monitor_for(good, silent, timeout=MIXED_WAIT).check_now().to_json()))
    assert set(data) == {"state", "offset", "threshold", "checked_at", "correction", "reason", "reason_code",
                         "reason_params", "sources"}
    assert data["state"] == "drifting"
    assert before <= data["checked_at"] <= time.time()
    assert [(s["name"], s["kind"], s["error"] is None) for s in data["sources"]] == [
        (good.server, "sntp", True), (silent.server, "sntp", False),
    ]


def test_even_number_of_sources_takes_the_middle_two() -> None:
    """assess() is the pure combination: the median of the answering sources, errors ignored."""
    sources = [
        SourceReading("a", "sntp", offset=6.0),
        SourceReading("b", "sntp", offset=8.0),
        SourceReading("c", "sntp", error="c: no answer within 2 s"),
    ]
    snapshot = assess(sources, threshold=5.0, checked_at=1000.0)
    assert snapshot == ClockSnapshot("drifting", 7.0, 5.0, 1000.0, tuple(sources), snapshot.reason)
    assert snapshot.reason.text() == "clock is 7.0 s behind; signed label links break beyond 5 s (median of 2 sources)"
