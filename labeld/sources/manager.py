"""All configured marketplace sources: built from the config, started, stopped, asked.

The daemon owns one :class:`SourceManager`; the API's ``/v1/sources`` and ``labelctl sources |
fetch`` go through it. A source that cannot be set up (its key unreadable, an unknown path
name) still appears, in trouble, saying why; the rest of the daemon runs on.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any

from labeld.config import Config, SourceConfig
from labeld.credentials import Secret, SecretUnavailable, load_secret
from labeld.reasons import Reason
from labeld.sources.base import FetchRefused, SetupProblem, SourceBase
from labeld.sources.coordinator import Coordinator
from labeld.sources.handoff import LabelSink
from labeld.sources.http import ApiClient, ApiFailure, Pacer
from labeld.sources.ozon import OzonSource
from labeld.sources.ozon_api import DEFAULT_BASE_URL as OZON_URL
from labeld.sources.wb_api import DEFAULT_BASE_URL as WB_URL
from labeld.sources.wb_api import PENALTY as WB_PENALTY
from labeld.sources.wildberries import WildberriesSource
from labeld.spool.source_state import PostingRow, SourceState
from labeld.spool.spool import Spool

FETCH_WAIT = 120.0
MARKETPLACE = {"ozon": "Ozon", "wildberries": "Wildberries"}
KINDS: dict[str, type[SourceBase]] = {"ozon": OzonSource, "wildberries": WildberriesSource}


class UnknownSource(LookupError):
    """No configured source has this name (or none could be chosen for a posting)."""

    def __init__(self, reason: Reason) -> None:
        super().__init__(reason.text())
        self.reason = reason


def headers(source: SourceConfig, key: Secret) -> dict[str, str]:
    if source.type == "ozon":
        return {"Client-Id": source.client_id, "Api-Key": key.reveal()}
    return {"Authorization": key.reveal()}


def key_location(source: SourceConfig) -> str:
    """Where the key lives, for a sentence telling a person to replace it (never the key)."""
    if source.api_key_file is not None:
        return str(source.api_key_file)
    return f"the systemd credential {source.credential!r}"


def describe_failure(source: SourceConfig) -> Callable[[ApiFailure, float], Reason]:
    """Turns a failed poll into the sentence an operator reads, for ``source``'s marketplace."""
    market = MARKETPLACE[source.type]

    def describe(failure: ApiFailure, wait: float) -> Reason:
        status, message, endpoint = failure.status or 0, failure.message or "-", failure.endpoint
        if failure.kind == "auth":
            advice = Reason("source.advice_ozon_key" if source.type == "ozon" else "source.advice_wb_token",
                            where=key_location(source))
            return Reason("source.key_refused", marketplace=market, status=status, message=message, advice=advice)
        if failure.kind == "rate":
            return Reason("source.rate_limited", marketplace=market, status=status, tries=failure.tries, wait=wait)
        if failure.kind == "server":
            return Reason("source.server_error", marketplace=market, status=status, endpoint=endpoint,
                          message=message, wait=wait)
        if failure.kind == "network":
            host = (source.base_url or (OZON_URL if source.type == "ozon" else WB_URL)).split("://", 1)[-1]
            return Reason("source.unreachable", marketplace=market, host=host, error=message, wait=wait)
        if failure.kind == "gone":
            return Reason("source.endpoint_gone", marketplace=market, endpoint=endpoint)
        return Reason("source.refused", marketplace=market, endpoint=endpoint, status=status, message=message,
                      wait=wait)

    return describe


def build_source(config: Config, source: SourceConfig, state: SourceState, sink: LabelSink,
                 stop: threading.Event) -> SourceBase:
    """The source's client (its key read now) and logic; :class:`SetupProblem` if it cannot run."""
    try:
        key = load_secret(source.api_key_file, source.credential)
    except SecretUnavailable as error:
        raise SetupProblem(Reason("source.key_unusable", error=str(error)), "auth") from None
    base_url = source.base_url or (OZON_URL if source.type == "ozon" else WB_URL)
    client = ApiClient(base_url, headers(source, key), ca_bundle=source.ca_bundle, timeout=source.timeout,
                       pacer=Pacer(source.rate, burst=max(1, int(source.rate))), stop=stop,
                       penalty=WB_PENALTY if source.type == "wildberries" else None)
    try:
        return KINDS[source.type](config, source, state, sink, client)
    except SetupProblem:
        client.close()
        raise


class SourceManager:
    def __init__(self, config: Config, spool: Spool, sink: LabelSink, clock: Callable[[], float] = time.time) -> None:
        self.config = config
        self.coordinators: dict[str, Coordinator] = {}
        self.stop_event = threading.Event()
        for source in config.sources:
            if not source.enabled:
                continue
            state = SourceState(spool, source.name)
            built: SourceBase | None = None
            problem: SetupProblem | None = None
            try:
                built = build_source(config, source, state, sink, self.stop_event)
            except SetupProblem as error:
                problem = error
            self.coordinators[source.name] = Coordinator(source, state, built, problem,
                                                         describe=describe_failure(source), clock=clock)

    def start(self) -> None:
        for coordinator in self.coordinators.values():
            coordinator.start()

    def stop(self) -> None:
        self.stop_event.set()
        for coordinator in self.coordinators.values():
            coordinator.stop()

    # ----- views and operations ---------------------------------------------------------------

    def snapshots(self) -> list[dict[str, Any]]:
        return [c.snapshot() for c in self.coordinators.values()]

    def in_trouble(self) -> list[str]:
        return [name for name, c in self.coordinators.items() if c.state.row().trouble is not None]

    def coordinator(self, name: str) -> Coordinator:
        found = self.coordinators.get(name)
        if found is None:
            if not self.coordinators:
                raise UnknownSource(Reason("op.no_sources"))
            raise UnknownSource(Reason("op.no_source", source=name, sources=sorted(self.coordinators)))
        return found

    def set_paused(self, name: str, paused: bool) -> dict[str, Any]:
        coordinator = self.coordinator(name)
        coordinator.state.set_paused(paused)
        if not paused:
            coordinator.state.set_next_poll(0.0)
        coordinator.wake()
        return coordinator.snapshot()

    def choose(self, posting: str, name: str | None) -> Coordinator:
        """The source ``name``, else the one that has seen ``posting``, else the only one."""
        if name:
            return self.coordinator(name)
        if not self.coordinators:
            raise UnknownSource(Reason("op.no_sources"))
        knowing = [c for c in self.coordinators.values() if c.state.posting(posting) is not None]
        if len(knowing) == 1:
            return knowing[0]
        if len(self.coordinators) == 1:
            return next(iter(self.coordinators.values()))
        raise UnknownSource(Reason("op.posting_unknown", posting=posting, sources=sorted(self.coordinators)))

    def fetch(self, posting: str, name: str | None = None, wait: float = FETCH_WAIT) -> PostingRow:
        """Fetch ``posting``'s label now (on its source's thread); its row afterwards.

        :class:`FetchRefused` says why not (also when the source is busy for longer than ``wait``)."""
        coordinator = self.choose(posting, name)
        if coordinator.source is not None:
            problem = coordinator.source.posting_problem(posting)
            if problem is not None:
                raise FetchRefused(problem)
        try:
            return coordinator.fetch(posting).result(wait)
        except FutureTimeout:
            raise FetchRefused(Reason("op.fetch_timeout", source=coordinator.config.name, posting=posting,
                                      wait=wait)) from None

    def prune(self, older_than: float) -> int:
        return sum(c.state.prune(older_than) for c in self.coordinators.values())
