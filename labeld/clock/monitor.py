"""Watches the clock: measures it every ``interval`` and says ``ok``, ``drifting`` or ``unknown``.

A packing PC whose clock is seconds off breaks signed label links and computes wrong label
validity times. The monitor asks every configured SNTP server and the local time service, takes
the median of the answers (one false ticker cannot move it), and logs only when the state changes
(and tells ``on_change``, which the daemon turns into an event). While the clock is not ``ok`` it
measures again sooner (``RECHECK_SECONDS``), so a time source that comes back is seen in seconds.
"""

from __future__ import annotations

import statistics
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from typing import Any, Literal, Protocol

from labeld.clock.local_sources import LOCAL_READERS, SourceReading
from labeld.clock.sntp import SntpError, parse_server, query, server_name
from labeld.config import ClockConfig
from labeld.reasons import Reason

ClockState = Literal["ok", "drifting", "unknown"]
LocalReader = Callable[[float], SourceReading | None]
#: While the clock is drifting or unknown it is measured this often (or every ``interval``, if shorter).
RECHECK_SECONDS = 30.0


class EventLog(Protocol):
    """The part of a structlog logger the monitor uses."""

    def info(self, event: str, **kw: Any) -> Any: ...

    def warning(self, event: str, **kw: Any) -> Any: ...


@dataclass(frozen=True)
class ClockSnapshot:
    """The clock's state at ``checked_at`` (Unix time; None before the first measurement)."""

    state: ClockState
    offset: float | None
    threshold: float
    checked_at: float | None
    sources: tuple[SourceReading, ...]
    reason: Reason

    @property
    def correction(self) -> float:
        """Seconds to add to the local clock for true time: the offset while drifting, else 0.0."""
        return self.offset if self.state == "drifting" and self.offset is not None else 0.0

    def to_json(self) -> dict[str, Any]:
        return {
            "state": self.state, "offset": self.offset, "threshold": self.threshold,
            "checked_at": self.checked_at, "correction": self.correction, "reason": self.reason.text(),
            "reason_code": self.reason.code, "reason_params": dict(self.reason.params),
            "sources": [source.to_json() for source in self.sources],
        }

    @property
    def needs_attention(self) -> bool:
        """Drifting, or no source answers although there are sources to ask: a person should look."""
        return self.state == "drifting" or (self.state == "unknown" and bool(self.sources))


def assess(sources: Sequence[SourceReading], threshold: float, checked_at: float,
           looked_locally: bool = False) -> ClockSnapshot:
    """Combine the readings into one state: the median offset of the sources that answered.

    ``looked_locally``: chrony and timesyncd were asked (and are absent when ``sources`` is empty)."""
    answers = [source.offset for source in sources if source.offset is not None]
    if not answers:
        return ClockSnapshot("unknown", None, threshold, checked_at, tuple(sources),
                             _silence(sources, looked_locally))
    offset = statistics.median(answers)
    state: ClockState = "drifting" if abs(offset) > threshold else "ok"
    reason = _describe(offset, threshold, len(answers))
    outliers = [Reason("clock.says", name=s.name, offset=s.offset) for s in sources
                if s.offset is not None and abs(s.offset - offset) > threshold]
    if outliers:
        reason = Reason("clock.outvoted", assessment=reason, outliers=outliers)
    return ClockSnapshot(state, offset, threshold, checked_at, tuple(sources), reason)


def _describe(offset: float, threshold: float, answered: int) -> Reason:
    median = Reason("clock.median", n=answered) if answered > 1 else Reason("clock.one_source")
    if abs(offset) > threshold:
        code = "clock.behind" if offset > 0 else "clock.ahead"
        return Reason(code, offset=abs(offset), threshold=threshold, sources=median)
    return Reason("clock.within", offset=abs(offset), threshold=threshold, sources=median)


def _silence(sources: Sequence[SourceReading], looked_locally: bool) -> Reason:
    if not sources:
        return Reason("clock.no_source_here" if looked_locally else "clock.no_source")
    return Reason("clock.silent", errors=[Reason.plain(source.error or source.name) for source in sources])


class ClockMonitor:
    """Measures in a daemon thread; :meth:`snapshot` and :meth:`correction` are cheap and thread-safe."""

    def __init__(
        self,
        config: ClockConfig,
        log: EventLog,
        *,
        local_readers: Sequence[LocalReader] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.config = config
        self.log = log
        self.local_readers = tuple(LOCAL_READERS if local_readers is None else local_readers)
        self.clock = clock
        #: Told (previous state, new snapshot) at the first measurement and at each change of state.
        self.on_change: Callable[[ClockState | None, ClockSnapshot], None] | None = None
        self._snapshot = ClockSnapshot("unknown", None, config.max_offset, None, (), Reason("clock.not_measured"))
        self._measured = False
        self._check_lock = threading.Lock()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Measure now and then every ``interval`` in a daemon thread."""
        if self._thread is not None:
            return
        self._stopping.clear()
        self._thread = threading.Thread(target=self._run, name="clock-monitor", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout=self.config.timeout * 2 + 5.0)
            self._thread = None

    def snapshot(self) -> ClockSnapshot:
        return self._snapshot

    def correction(self) -> float:
        return self._snapshot.correction

    def check_now(self) -> ClockSnapshot:
        """Measure every source now, record the result and log if the state changed."""
        with self._check_lock:
            snapshot = assess(self._measure(), self.config.max_offset, self.clock(),
                              looked_locally=self.config.local_sources and bool(self.local_readers))
            previous, first = self._snapshot, not self._measured
            self._snapshot, self._measured = snapshot, True
        if first or previous.state != snapshot.state:
            before = None if first else previous.state
            self._log_change(before, snapshot)
            if self.on_change is not None:
                self.on_change(before, snapshot)
        return snapshot

    def next_check_in(self) -> float:
        """Seconds until the next measurement: ``interval``, or sooner while the clock is not ok."""
        interval = self.config.interval
        return interval if self._snapshot.state == "ok" else min(interval, RECHECK_SECONDS)

    def _run(self) -> None:
        while not self._stopping.is_set():
            try:
                self.check_now()
            except Exception as error:  # the monitor must outlive any one bad measurement
                self.log.warning("clock_check_failed", error=repr(error))
            self._stopping.wait(self.next_check_in())

    def _measure(self) -> list[SourceReading]:
        """Ask all sources at once, so a check takes one ``timeout`` however many servers are silent."""
        timeout = self.config.timeout
        tasks: list[Callable[[], SourceReading | None]] = [
            partial(_ask_server, spec, timeout) for spec in self.config.servers
        ]
        if self.config.local_sources:
            tasks += [partial(reader, timeout) for reader in self.local_readers]
        if not tasks:
            return []
        with ThreadPoolExecutor(max_workers=len(tasks), thread_name_prefix="clock-source") as pool:
            results = list(pool.map(lambda task: task(), tasks))
        return [reading for reading in results if reading is not None]

    def _log_change(self, before: ClockState | None, snapshot: ClockSnapshot) -> None:
        emit = self.log.info if snapshot.state == "ok" else self.log.warning
        emit(
            "clock_state_changed",
            **{"from": before, "to": snapshot.state, "offset": snapshot.offset, "reason": snapshot.reason.text()},
        )


def _ask_server(spec: str, timeout: float) -> SourceReading:
    try:
        reply = query(spec, timeout)
    except SntpError as error:
        return SourceReading(name=_display_name(spec), kind="sntp", error=str(error))
    except ValueError as error:
        return SourceReading(name=spec, kind="sntp", error=f"{spec}: {error}")
    return SourceReading(
        name=reply.server, kind="sntp", offset=reply.offset, delay=reply.delay,
        detail=f"stratum {reply.stratum} at {reply.address}",
    )


def _display_name(spec: str) -> str:
    try:
        return server_name(*parse_server(spec))
    except ValueError:
        return spec
