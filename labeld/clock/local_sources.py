"""What the machine's own time service says: chrony or systemd-timesyncd, where one runs.

Parsers take the command's output as text, so they are tested from captured samples; runners
execute the command and answer None when the tool (or, for timesyncd, its service) is absent,
because a packing PC without that service has nothing to report, not an error.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

SourceKind = Literal["sntp", "chrony", "timesyncd"]
CHRONY_COMMAND = ("chronyc", "-c", "tracking")
TIMESYNCD_COMMAND = ("timedatectl", "show-timesync", "-p", "NTPMessage")
_QUIET_ENV = {"LC_ALL": "C", "TZ": "UTC", "SYSTEMD_COLORS": "0", "SYSTEMD_PAGER": "", "SYSTEMD_URLIFY": "0"}


@dataclass(frozen=True)
class SourceReading:
    """One time source's answer: ``offset`` (seconds to add to the local clock) or an ``error`` sentence."""

    name: str
    kind: SourceKind
    offset: float | None = None
    delay: float | None = None
    error: str | None = None
    detail: str | None = None

    @property
    def answered(self) -> bool:
        return self.offset is not None

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name, "kind": self.kind, "offset": self.offset, "delay": self.delay,
            "error": self.error, "detail": self.detail,
        }


def parse_chrony_tracking(text: str) -> SourceReading:
    """``chronyc -c tracking`` output → the correction chrony still has to apply.

    Field 5 is chrony's current correction, positive when the local clock is slow: the same sign
    as an SNTP offset. Field 11 is the root delay and field 14 the leap status.
    """
    line = next((row for row in text.splitlines() if row.strip()), "")
    fields = line.strip().split(",")
    if len(fields) < 14:
        return _failed("chrony", f"chronyc printed something unexpected: {line.strip()[:80]!r}")
    refid, via, stratum, correction, root_delay, leap = (fields[i] for i in (0, 1, 2, 4, 10, 13))
    if leap == "Not synchronised" or refid.strip("0") == "":
        return _failed("chrony", "chrony is not synchronised to any source")
    try:
        offset, delay = float(correction), float(root_delay)
    except ValueError:
        return _failed("chrony", f"chronyc printed a correction that is not a number: {correction!r}")
    return SourceReading(
        name="chrony", kind="chrony", offset=offset, delay=delay, detail=f"via {via}, stratum {stratum}, {leap}",
    )


_NTP_FIELD = re.compile(r"(\w+)=(.*?)(?=,?\s+\w+=|\s*\}?\s*$)")
_STAMP = re.compile(r"(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(?:\.\d+)?)")
_STAMPS = ("OriginateTimestamp", "ReceiveTimestamp", "TransmitTimestamp", "DestinationTimestamp")


def parse_timesyncd_message(text: str, now: float | None = None) -> SourceReading:
    """``timedatectl show-timesync -p NTPMessage`` output → the offset of timesyncd's last exchange.

    timedatectl prints the four timestamps to the second only, so this offset is good to about
    one second: enough to see a clock that is several seconds off. It is the offset timesyncd
    measured before it corrected the clock, so ``detail`` says how old it is when ``now`` is given.
    """
    body = text.strip().removeprefix("NTPMessage=").strip().removeprefix("{").strip()
    if not body:
        return _failed("timesyncd", "timesyncd has not had an answer from its server yet")
    values = {m.group(1): m.group(2).strip() for m in _NTP_FIELD.finditer(body)}
    stamps = [_seconds(values.get(key, "")) for key in _STAMPS]
    if any(stamp is None for stamp in stamps):
        return _failed("timesyncd", f"timedatectl printed an NTP message without timestamps: {body[:80]!r}")
    t1, t2, t3, t4 = (stamp for stamp in stamps if stamp is not None)
    if values.get("Leap") == "3":
        return _failed("timesyncd", "timesyncd's server says it is not synchronised itself")
    notes = [f"stratum {values.get('Stratum', '?')}", "timestamps to the second"]
    if values.get("Ignored") == "yes":
        notes.append("timesyncd ignored this answer as a spike")
    if now is not None and 0.0 <= now - t4 < 86400.0:
        notes.append(f"measured {now - t4:.0f} s ago")
    return SourceReading(
        name="timesyncd", kind="timesyncd", offset=((t2 - t1) + (t3 - t4)) / 2,
        delay=max((t4 - t1) - (t3 - t2), 0.0), detail=", ".join(notes),
    )


def _seconds(value: str) -> float | None:
    """A timedatectl timestamp as Unix seconds, read as UTC: the runner sets TZ=UTC for timedatectl."""
    match = _STAMP.search(value)
    if not match:
        return None
    return (datetime.fromisoformat(match.group(1)) - datetime(1970, 1, 1)).total_seconds()


def read_chrony(timeout: float = 2.0) -> SourceReading | None:
    """Ask chronyd through chronyc; None when chronyc is not installed."""
    output = _run(CHRONY_COMMAND, timeout)
    if output is None:
        return None
    code, stdout, stderr = output
    if code != 0:
        return _failed("chrony", f"chronyc failed: {_first_line(stderr or stdout) or f'exit code {code}'}")
    return parse_chrony_tracking(stdout)


def read_timesyncd(timeout: float = 2.0, clock: Callable[[], float] = time.time) -> SourceReading | None:
    """Ask systemd-timesyncd through timedatectl; None when timedatectl is absent or timesyncd is not running.

    timedatectl ships with every systemd, also where chrony does the time keeping, so a failing
    query means "timesyncd is not in use here" far more often than a fault worth reporting.
    """
    output = _run(TIMESYNCD_COMMAND, timeout)
    if output is None or output[0] != 0:
        return None
    return parse_timesyncd_message(output[1], now=clock())


LOCAL_READERS: tuple[Callable[[float], SourceReading | None], ...] = (read_chrony, read_timesyncd)


def _run(command: tuple[str, ...], timeout: float) -> tuple[int, str, str] | None:
    executable = shutil.which(command[0])
    if executable is None:
        return None
    try:
        done = subprocess.run(
            [executable, *command[1:]], capture_output=True, text=True, timeout=timeout,
            env={**os.environ, **_QUIET_ENV}, check=False,
        )
    except subprocess.TimeoutExpired:
        return 1, "", f"{command[0]} did not answer within {timeout:g} s"
    except OSError as error:
        return 1, "", f"{command[0]} could not run: {error.strerror or error}"
    return done.returncode, done.stdout, done.stderr


def _first_line(text: str) -> str:
    return next((line.strip() for line in text.splitlines() if line.strip()), "")


def _failed(kind: Literal["chrony", "timesyncd"], sentence: str) -> SourceReading:
    return SourceReading(name=kind, kind=kind, error=f"{kind}: {sentence}")
