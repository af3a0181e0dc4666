"""chrony and systemd-timesyncd readings, from captured sample outputs and from real subprocesses."""

from __future__ import annotations

import shutil
import textwrap
from datetime import UTC, datetime
from pathlib import Path

import pytest

from labeld.clock.local_sources import (
    SourceReading,
    parse_chrony_tracking,
    parse_timesyncd_message,
    read_chrony,
    read_timesyncd,
)

# `chronyc -c tracking`: refid, name, stratum, ref time, system time (correction), last offset, RMS offset,
# frequency, residual freq, skew, root delay, root dispersion, update interval, leap status.
CHRONY_SLOW = "C0A80101,192.168.1.1,3,1795684443.123456789,7.000123456,6.998765432,0.512345678,-14.201,-0.002,0.158,0.012345678,0.001234567,64.7,Normal\n"  # noqa: E501
CHRONY_FAST = "A29FC87B,162.159.200.123,4,1795684443.123456789,-0.000021834,-0.000012213,0.000158421,-14.201,-0.001,0.045,0.024136541,0.001962745,1031.2,Normal\n"  # noqa: E501
CHRONY_UNSYNCED = "00000000,,0,0.000000000,0.000000000,0.000000000,0.000000000,0.000,0.000,0.000,1.000000000,1.000000000,0.0,Not synchronised\n"  # noqa: E501

# `timedatectl show-timesync -p NTPMessage` as systemd 252+ prints it (clock 7 s slow at the last poll).
TIMESYNCD_SLOW = (
    "NTPMessage={ Leap=0, Version=4, Mode=4, Stratum=2, Precision=-25, RootDelay=1.312ms, "
    "RootDispersion=26.565ms, Reference=C342F10A, OriginateTimestamp=Thu 2026-11-26 09:14:03 UTC, "
    "ReceiveTimestamp=Thu 2026-11-26 09:14:10 UTC, TransmitTimestamp=Thu 2026-11-26 09:14:10 UTC, "
    "DestinationTimestamp=Thu 2026-11-26 09:14:03 UTC, Ignored=no, PacketCount=1, Jitter=0 }\n"
)
# systemd 245 (Ubuntu 20.04): no comma after Ignored; local time zone; a healthy clock.
TIMESYNCD_OLD_LOCAL_TZ = (
    "NTPMessage={ Leap=0, Version=4, Mode=4, Stratum=2, Precision=-23, RootDelay=36.727ms, "
    "RootDispersion=27.404ms, Reference=11FD227B, OriginateTimestamp=Thu 2026-11-26 12:14:03 MSK, "
    "ReceiveTimestamp=Thu 2026-11-26 12:14:03 MSK, TransmitTimestamp=Thu 2026-11-26 12:14:03 MSK, "
    "DestinationTimestamp=Thu 2026-11-26 12:14:03 MSK, Ignored=no PacketCount=17, Jitter=2.915ms }\n"
)
DESTINATION = datetime(2026, 11, 26, 9, 14, 3, tzinfo=UTC).timestamp()


def test_chrony_positive_correction_means_local_clock_slow() -> None:
    """Field 5 is taken as is: +7 s means the clock is 7 s behind, the same sign as an SNTP offset."""
    reading = parse_chrony_tracking(CHRONY_SLOW)
    assert reading == SourceReading(
        name="chrony", kind="chrony", offset=7.000123456, delay=0.012345678,
        detail="via 192.168.1.1, stratum 3, Normal",
    )


def test_chrony_negative_correction_means_local_clock_fast() -> None:
    """A small negative correction is a clock a few microseconds fast."""
    reading = parse_chrony_tracking(CHRONY_FAST)
    assert reading.offset == pytest.approx(-0.000021834)
    assert reading.error is None


def test_chrony_not_synchronised_is_an_error_without_offset() -> None:
    """An unsynchronised chronyd has no opinion about the time: no offset, a sentence instead."""
    reading = parse_chrony_tracking(CHRONY_UNSYNCED)
    assert (reading.offset, reading.error) == (None, "chrony: chrony is not synchronised to any source")


@pytest.mark.parametrize("output", ["", "506 Cannot talk to daemon\n", "A,B,C\n"])
def test_chrony_unexpected_output_is_an_error(output: str) -> None:
    """Anything that is not a 14-field CSV line is reported, never read as an offset."""
    reading = parse_chrony_tracking(output)
    assert reading.offset is None
    assert reading.error is not None and reading.error.startswith("chrony: chronyc printed something unexpected")


def test_timesyncd_offset_from_the_four_timestamps() -> None:
    """T1..T4 from the NTP message give the offset timesyncd measured: +7 s, and its age."""
    reading = parse_timesyncd_message(TIMESYNCD_SLOW, now=DESTINATION + 40)
    assert (reading.name, reading.kind, reading.offset, reading.delay) == ("timesyncd", "timesyncd", 7.0, 0.0)
    assert reading.detail == "stratum 2, timestamps to the second, measured 40 s ago"


def test_timesyncd_older_format_and_local_time_zone() -> None:
    """systemd 245's layout (no comma after Ignored) and a non-UTC zone still parse; differences are zone-free."""
    reading = parse_timesyncd_message(TIMESYNCD_OLD_LOCAL_TZ)
    assert (reading.offset, reading.error) == (0.0, None)


def test_timesyncd_value_only_output() -> None:
    """`--value` output (no ``NTPMessage=`` prefix) reads the same."""
    value_only = TIMESYNCD_SLOW.removeprefix("NTPMessage=")
    assert parse_timesyncd_message(value_only).offset == 7.0


@pytest.mark.parametrize(
    ("output", "error"),
    [
        ("", "timesyncd: timesyncd has not had an answer from its server yet"),
        ("NTPMessage=\n", "timesyncd: timesyncd has not had an answer from its server yet"),
        (
            TIMESYNCD_SLOW.replace("Leap=0", "Leap=3"),
            "timesyncd: timesyncd's server says it is not synchronised itself",
        ),
    ],
)
def test_timesyncd_without_a_usable_answer(output: str, error: str) -> None:
    """No packet yet, or a server that is unsynchronised itself, gives an error sentence and no offset."""
    reading = parse_timesyncd_message(output)
    assert (reading.offset, reading.error) == (None, error)


def test_timesyncd_unset_timestamps_are_an_error() -> None:
    """``n/a`` timestamps (zero in the D-Bus message) are refused rather than read as 1970."""
    reading = parse_timesyncd_message(TIMESYNCD_SLOW.replace("Thu 2026-11-26 09:14:10 UTC", "n/a"))
    assert reading.offset is None
    assert reading.error is not None and "without timestamps" in reading.error


def _tool(directory: Path, name: str, script: str) -> None:
    path = directory / name
    path.write_text("#!/bin/sh\n" + textwrap.dedent(script))
    path.chmod(0o755)


def test_runners_answer_none_when_the_tools_are_absent(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No chronyc and no timedatectl on PATH: nothing to report, not an error."""
    monkeypatch.setenv("PATH", str(tmp_path))
    assert (read_chrony(1.0), read_timesyncd(1.0)) == (None, None)


def test_read_chrony_runs_chronyc(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The runner executes ``chronyc -c tracking`` and parses what it prints."""
    _tool(tmp_path, "chronyc", f'[ "$*" = "-c tracking" ] || exit 9\nprintf "%s" "{CHRONY_SLOW.strip()}"\n')
    monkeypatch.setenv("PATH", str(tmp_path))
    reading = read_chrony(2.0)
    assert reading is not None and reading.offset == pytest.approx(7.000123456)


def test_read_chrony_reports_a_dead_chronyd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """chronyc installed but chronyd not running is worth saying: chrony was meant to keep time here."""
    _tool(tmp_path, "chronyc", "echo '506 Cannot talk to daemon' >&2\nexit 1\n")
    monkeypatch.setenv("PATH", str(tmp_path))
    reading = read_chrony(2.0)
    assert reading is not None
    assert reading.error == "chrony: chronyc failed: 506 Cannot talk to daemon"


def test_read_chrony_gives_up_after_the_timeout(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A hung chronyc does not hang the monitor."""
    _tool(tmp_path, "chronyc", f"exec {shutil.which('sleep')} 5\n")
    monkeypatch.setenv("PATH", str(tmp_path))
    reading = read_chrony(0.3)
    assert reading is not None and reading.error == "chrony: chronyc failed: chronyc did not answer within 0.3 s"


def test_read_timesyncd_runs_timedatectl_in_utc(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The runner asks for NTPMessage with TZ=UTC, so the destination timestamp gives the reading's age."""
    _tool(
        tmp_path, "timedatectl",
        '[ "$*" = "show-timesync -p NTPMessage" ] && [ "$TZ" = UTC ] || exit 9\n'
        f'printf "%s" "{TIMESYNCD_SLOW.strip()}"\n',
    )
    monkeypatch.setenv("PATH", str(tmp_path))
    reading = read_timesyncd(2.0, clock=lambda: DESTINATION + 5)
    assert reading is not None and reading.offset == 7.0
    assert reading.detail is not None and reading.detail.endswith("measured 5 s ago")


def test_read_timesyncd_is_none_where_timesyncd_does_not_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """timedatectl failing (no systemd, or chrony keeps time instead) means timesyncd is simply not in use."""
    _tool(tmp_path, "timedatectl", "echo 'System has not been booted with systemd as init system.' >&2\nexit 1\n")
    monkeypatch.setenv("PATH", str(tmp_path))
    assert read_timesyncd(2.0) is None
