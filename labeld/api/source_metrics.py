"""Prometheus metrics per marketplace source, read from the spool at scrape time like the rest."""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from labeld.daemon.operations import DaemonView


class SourceCollector(Collector):
    """Polls, errors by kind, labels fetched, postings by state, and whether each source is up."""

    def __init__(self, daemon: DaemonView) -> None:
        self.daemon = daemon

    def collect(self) -> Iterator[Metric]:
        polls = CounterMetricFamily("labeld_source_polls", "Polls of the marketplace per source", labels=["source"])
        errors = CounterMetricFamily("labeld_source_errors", "Failed polls per source by kind (auth, rate, server, "
                                     "network, gone, answer, refused, spool, config, internal)",
                                     labels=["source", "kind"])
        fetched = CounterMetricFamily("labeld_source_labels_fetched", "Labels fetched and handed to intake per source",
                                      labels=["source"])
        postings = GaugeMetricFamily("labeld_source_postings", "Postings a source knows, by state",
                                     labels=["source", "state"])
        up = GaugeMetricFamily("labeld_source_up", "1 when the source's last poll worked (or it is paused), "
                               "0 while it is in trouble", labels=["source"])
        for source in self.daemon.sources.snapshots():
            name = source["name"]
            polls.add_metric([name], float(source["polls"]))
            for kind, count in sorted(source["errors"].items()):
                errors.add_metric([name, kind], float(count))
            fetched.add_metric([name], float(source["labels_fetched"]))
            for state, count in source["postings"].items():
                postings.add_metric([name, state], float(count))
            up.add_metric([name], 0.0 if source["trouble"] else 1.0)
        yield from (polls, errors, fetched, postings, up)
