"""``GET /metrics``: Prometheus text, read from the spool and printers at scrape time.

Counts come from the spool (the source of truth that survives restarts) rather than from
counters kept in memory; only render times, which exist nowhere else, are a live Histogram.
Each daemon gets its own registry so that tests and reloads never collide on metric names.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from labeld import __version__
from labeld.api.source_metrics import SourceCollector
from labeld.daemon.operations import DaemonView
from labeld.daemon.printer_worker import PrinterCondition
from labeld.spool.states import JobState

RENDER_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class SpoolCollector(Collector):
    """Jobs by state, labels printed per printer, printer up, clock offset."""

    def __init__(self, daemon: DaemonView) -> None:
        self.daemon = daemon

    def collect(self) -> Iterator[Metric]:
        yield self._info()
        yield self._jobs()
        yield from self._printers()
        clock = self._clock()
        if clock is not None:
            yield clock

    def _info(self) -> Metric:
        info = GaugeMetricFamily("labeld_info", "labeld version (always 1)", labels=["version"])
        info.add_metric([__version__], 1.0)
        return info

    def _jobs(self) -> Metric:
        jobs = GaugeMetricFamily("labeld_jobs", "Jobs in the spool by state", labels=["state"])
        for state, count in sorted(self.daemon.spool.counts().items()):
            jobs.add_metric([state.value], float(count))
        return jobs

    def _printers(self) -> Iterator[Metric]:
        printed = CounterMetricFamily("labeld_labels_printed", "Labels printed per printer (jobs in state printed)",
                                      labels=["printer"])
        up = GaugeMetricFamily("labeld_printer_up", "1 when the printer is idle or printing, 0 when stopped",
                               labels=["printer"])
        reasons = GaugeMetricFamily("labeld_printer_reason", "1 for each reason a printer shows now (media-empty, "
                                    "offline, status-unknown …)", labels=["printer", "reason"])
        for state in self.daemon.printer_states():
            printed.add_metric([state.name], float(self.daemon.spool.counts(state.name)[JobState.PRINTED]))
            up.add_metric([state.name], 0.0 if state.state == PrinterCondition.STOPPED else 1.0)
            for reason in state.reasons:
                reasons.add_metric([state.name, reason], 1.0)
        yield printed
        yield up
        yield reasons

    def _clock(self) -> Metric | None:
        if self.daemon.clock is None:
            return None
        snapshot: Any = self.daemon.clock.snapshot()
        if snapshot.offset is None:
            return None
        offset = GaugeMetricFamily("labeld_clock_offset_seconds",
                                   "Measured offset of true time from the local clock (positive: local is slow)")
        offset.add_metric([], float(snapshot.offset))
        return offset


class Metrics:
    """The daemon's registry; ``observe_render`` is the pipeline's ``render_seconds`` hook."""

    def __init__(self, daemon: DaemonView) -> None:
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(SpoolCollector(daemon))
        self.registry.register(SourceCollector(daemon))
        self.render_seconds = Histogram("labeld_render_seconds", "Time to render and check one label",
                                        registry=self.registry, buckets=RENDER_BUCKETS)

    def observe_render(self, seconds: float) -> None:
        self.render_seconds.observe(seconds)

    def exposition(self) -> tuple[bytes, str]:
        return generate_latest(self.registry), CONTENT_TYPE_LATEST
