"""What every marketplace source shares: its printer, its keys, and handing a label over once.

A source (Ozon, Wildberries) knows its marketplace's calls; this base knows labeld's side:
which printer its labels go to (and so which label size or sticker type to ask for), the
idempotency key of each posting's label, and what happens to a posting whose label could not
be had (try again later, or give up with a reason an operator reads).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar

import structlog

from labeld.config import Config, PrinterConfig, SourceConfig
from labeld.errors import RejectedInput
from labeld.intake.remote import IncompleteLabel
from labeld.intake.routing import route_label
from labeld.media import parse_media
from labeld.reasons import Reason
from labeld.sources.handoff import FetchedLabel, LabelSink, base_key
from labeld.sources.http import ApiClient
from labeld.spool.source_state import FETCHED, PostingRow, Seen, SourceState

log = structlog.get_logger("labeld.sources")

#: How many links the marketplace may hand out for one posting's label that then give no label
#: (refused, expired, cut short, failed) before the posting is given up until an operator's fetch.
LINK_TRIES = 3
BIG_MM = (75.0, 120.0)
SMALL_MM = (58.0, 40.0)


class SetupProblem(Exception):
    """The source cannot run as configured; ``reason`` says why (shown as its trouble)."""

    def __init__(self, reason: Reason, kind: str = "config") -> None:
        super().__init__(reason.text())
        self.reason = reason
        self.kind = kind


class FetchRefused(Exception):
    """An operator's fetch that cannot be done; ``reason`` says why."""

    def __init__(self, reason: Reason) -> None:
        super().__init__(reason.text())
        self.reason = reason


@dataclass(frozen=True)
class Target:
    """Where a source's labels go and the size it asks the marketplace for."""

    printer: PrinterConfig
    size_mm: tuple[float, float]

    @property
    def big(self) -> bool:
        return self.size_mm == BIG_MM


def takes_big_labels(printer: PrinterConfig) -> bool:
    """A 75×120 mm label prints true to size only on a medium at least 75 mm wide."""
    return parse_media(printer.media).width_mm >= BIG_MM[0] - 0.5


def target_for(config: Config, source: SourceConfig, sizes: tuple[tuple[float, float], ...]) -> Target:
    """The printer for ``source``'s labels (its ``printer``, else by [[route]] size, else the default)
    and the first of ``sizes`` that printer takes true to size (else the last)."""
    requested = source.printer or None
    chosen: Target | None = None
    for size in sizes:
        name = route_label(config, width_mm=size[0], height_mm=size[1], folder=None, requested=requested)
        printer = config.printer(name)
        assert printer is not None
        chosen = Target(printer, size)
        if size != BIG_MM or takes_big_labels(printer):
            return chosen
    assert chosen is not None
    return chosen


class SourceBase:
    """A source's shared half; subclasses implement :meth:`poll` and :meth:`fetch_rows`."""

    marketplace: ClassVar[str] = ""
    target: Target

    def __init__(self, config: Config, source: SourceConfig, state: SourceState, sink: LabelSink,
                 client: ApiClient, clock: Callable[[], float] = time.time) -> None:
        self.config = config
        self.source = source
        self.state = state
        self.sink = sink
        self.client = client
        self.clock = clock
        self.name = source.name
        #: The ``documents.source`` of its labels, as jobs show it ("ozon:shop").
        self.document_source = f"{source.type}:{source.name}"
        self.log = log.bind(source=source.name)

    # ----- the subclass's half ---------------------------------------------------------------

    def poll(self) -> None:
        """List what waits for a label, then fetch the due labels; :class:`ApiFailure` ends the poll."""
        raise NotImplementedError

    def fetch_rows(self, rows: list[PostingRow]) -> None:
        """Fetch the labels of ``rows`` (waiting postings)."""
        raise NotImplementedError

    def posting_problem(self, posting: str) -> Reason | None:
        """Why ``posting`` cannot be one of this marketplace's (None: it can)."""
        return None

    # ----- shared -------------------------------------------------------------------------

    def key(self, posting: str, tracking: str = "") -> str:
        """The idempotency key of a posting's label: a new tracking number is a new label."""
        return f"{self.document_source}/{posting}/{tracking or '-'}"

    def fetch_now(self, posting: str) -> PostingRow:
        """An operator's ``labelctl fetch``: this posting's label, now (once: a label already in
        the spool is not fetched again)."""
        row = self.state.posting(posting)
        if row is not None and row.state == FETCHED and row.intake_key and self.sink.known(row.intake_key):
            return row
        self.state.wait_again(posting, Seen(posting, row.tracking if row else "", row.status if row else ""),
                              self.clock())
        fresh = self.state.posting(posting)
        assert fresh is not None
        self.fetch_rows([fresh])
        after = self.state.posting(posting)
        assert after is not None
        return after

    def skip_known(self, rows: list[PostingRow], key: Callable[[PostingRow], str]) -> list[PostingRow]:
        """Rows whose label is not in the spool yet; the others are noted as fetched (a crash came
        between handing the label over and noting it)."""
        left = []
        for row in rows:
            if self.sink.known(key(row)):
                self.state.fetched(row.posting, key(row), self.clock(), counted=False)
            else:
                left.append(row)
        return left

    def later(self, posting: str, reason_code: str, **params: object) -> None:
        """Try ``posting`` again after ``not_ready_retry``."""
        wait = self.source.not_ready_retry
        self.state.retry_later(posting, self.clock() + wait, Reason(reason_code, wait=wait, **params))

    def deliver(self, label: FetchedLabel) -> bool:
        """Hand one label over (bytes as a label_code, a link as a label_url); True when it is in
        the spool (now or before). A link is fetched afterwards by the link intake."""
        try:
            key, jobs = self.sink.submit(label)
        except IncompleteLabel as error:
            size = len(label.data or b"")
            self.log.warning("label_incomplete", posting=label.posting, error=error.reason.text(), size=size)
            self.later(label.posting, "posting.incomplete", error=error.reason.params.get("error", ""))
            return False
        except RejectedInput as error:
            self.log.error("label_rejected", posting=label.posting, reason=error.reason.text())
            self.state.failed(label.posting, Reason("posting.rejected", why=error.reason, posting=label.posting))
            return False
        self.state.fetched(label.posting, key, self.clock(), tracking=label.tracking)
        self.log.info("label_fetched", posting=label.posting, tracking=label.tracking, jobs=list(jobs),
                      printer=label.printer, link=label.url is not None)
        return True

    def requeue_failed_links(self) -> None:
        """Postings whose label link gave no label wait again, to ask the marketplace for a fresh
        one, up to :data:`LINK_TRIES` links; then they are failed until an operator's fetch."""
        wait = self.source.not_ready_retry
        for posting, key, why in self.state.failed_links():
            # documents handed over for the posting, and how many were links that gave no label
            documents, failed = self.state.spool.keyed_documents(base_key(key))
            why = why or Reason.plain("no label")
            if failed >= LINK_TRIES:
                self.log.error("label_link_gave_up", posting=posting, tries=failed, reason=why.text())
                self.state.failed(posting, Reason("posting.link_gave_up", tries=failed, why=why, posting=posting))
                continue
            self.log.warning("label_link_failed", posting=posting, reason=why.text(), documents=documents)
            self.state.requeue(posting, self.clock() + wait, Reason("posting.link_failed", why=why, wait=wait))
