"""The Ozon source: postings awaiting delivery, each one's label fetched once.

A poll lists the postings in ``awaiting_deliver`` (all pages), records them, and fetches the
labels of those due: by default through Ozon's task flow (create a task per posting, ask for
its state until ``completed``, hand its ``file_url`` to the link intake); with ``label_flow = "sync"``, or once
the task endpoint answers 404, through the synchronous ``package-label`` call. A posting whose
label is not made yet ("The next postings aren't ready") waits ``not_ready_retry``.

One posting per label request: Ozon's batch calls are all-or-nothing and its batch PDFs do not
say which page is which posting, while one label per request carries its posting number into
the spool, where a re-generated label voids the old one exactly as a dropped file would.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from labeld.config import Config, SourceConfig
from labeld.reasons import Reason
from labeld.sources.base import BIG_MM, SMALL_MM, SetupProblem, SourceBase, target_for
from labeld.sources.handoff import FetchedLabel, LabelSink
from labeld.sources.http import ApiClient, ApiFailure
from labeld.sources.ozon_api import PATHS, TASK_TYPES, LabelAnswer, OzonApi, is_not_ready, merged_paths
from labeld.spool.source_state import PostingRow, Seen, SourceState

#: How far ahead of now a posting's shipping cut-off may be and still be listed.
LOOKAHEAD = 30 * 86400.0
#: Label tasks created and then waited for together.
TASK_GROUP = 20
#: How long one poll waits for its label tasks before it leaves the rest for the next.
TASK_WAIT = 60.0


class OzonSource(SourceBase):
    marketplace = "Ozon"

    def __init__(self, config: Config, source: SourceConfig, state: SourceState, sink: LabelSink,
                 client: ApiClient, clock: Callable[[], float] = time.time) -> None:
        super().__init__(config, source, state, sink, client, clock)
        paths, unknown = merged_paths(source.paths)
        if unknown:
            raise SetupProblem(Reason("source.unknown_paths", names=unknown, known=sorted(PATHS)))
        self.api = OzonApi(client, paths)
        self.flow = source.label_flow
        if source.label_size == "auto":
            self.target = target_for(config, source, (BIG_MM, SMALL_MM))
        else:
            self.target = target_for(config, source, (BIG_MM if source.label_size == "big" else SMALL_MM,))
        self.task_type = TASK_TYPES["big" if self.target.big else "small"]

    def poll(self) -> None:
        now = self.clock()
        seen: list[Seen] = []
        offset = 0
        while True:
            page = self.api.postings(cutoff_from=now - self.source.lookback, cutoff_to=now + LOOKAHEAD,
                                     warehouse_ids=self.source.warehouse_ids, offset=offset)
            seen.extend(page.postings)
            if not page.more:
                break
            offset += len(page.postings)
        new = self.state.saw(seen, now)
        if new:
            self.log.info("postings_listed", listed=len(seen), waiting_now=len(new))
        self.fetch_rows(self.state.due(self.clock(), self.source.per_poll))

    def fetch_rows(self, rows: list[PostingRow]) -> None:
        rows = self.skip_known(rows, lambda r: self.key(r.posting, r.tracking))
        for start in range(0, len(rows), TASK_GROUP):
            group = rows[start:start + TASK_GROUP]
            if self.flow == "task":
                group = self._by_tasks(group)
            for row in group:
                self._now(row)

    # ----- the task flow --------------------------------------------------------------------

    def _by_tasks(self, rows: list[PostingRow]) -> list[PostingRow]:
        """Fetch ``rows`` through label tasks; returns the rows left for the synchronous call
        (all of them from the moment the task endpoint is gone)."""
        tasks: dict[int, tuple[PostingRow, int]] = {}
        for index, row in enumerate(rows):
            try:
                created = self.api.create_task(row.posting)
            except ApiFailure as failure:
                if failure.kind == "gone":
                    self._switch_to_sync(failure)
                    return rows[index:]
                if not self._not_ready(row, failure):
                    raise
                continue
            tasks[index] = (row, created.get(self.task_type) or next(iter(created.values())))
        self._await(tasks)
        return []

    def _await(self, tasks: dict[int, tuple[PostingRow, int]]) -> None:
        deadline = time.monotonic() + TASK_WAIT
        pause = 0.25
        while tasks:
            for index, (row, task_id) in list(tasks.items()):
                state = self.api.task(task_id)
                if not state.finished:
                    continue
                del tasks[index]
                problem = state.unprinted.get(row.posting) if state.unprinted else None
                if state.status == "error" or problem is not None:
                    self._failed_task(row, problem or state.error or "error")
                elif state.file_url:
                    self._deliver(row, LabelAnswer(url=state.file_url))
            if not tasks:
                return
            if time.monotonic() > deadline:
                break
            self.client.pause(pause)
            pause = min(pause * 2, 3.0)
        for row, _ in tasks.values():
            self.later(row.posting, "posting.task_failed", message=f"the label task did not finish in {TASK_WAIT:g} s")

    def _failed_task(self, row: PostingRow, message: str) -> None:
        if is_not_ready(message):
            self.later(row.posting, "posting.not_ready", message=message)
        else:
            self.later(row.posting, "posting.task_failed", message=message)
        self.log.info("label_not_made", posting=row.posting, message=message)

    def _switch_to_sync(self, failure: ApiFailure) -> None:
        self.flow = "sync"
        self.log.warning("label_flow_fallback", endpoint=failure.endpoint, status=failure.status,
                         fallback=self.api.paths["label_sync"],
                         reason="the label task endpoint is switched off; using the synchronous call")

    # ----- the synchronous call --------------------------------------------------------------

    def _now(self, row: PostingRow) -> None:
        try:
            answer = self.api.label_now(row.posting)
        except ApiFailure as failure:
            if not self._not_ready(row, failure):
                raise
            return
        self._deliver(row, answer)

    def _not_ready(self, row: PostingRow, failure: ApiFailure) -> bool:
        """Handle Ozon's "not ready yet" (a 400 saying so) for ``row``; False for any other failure."""
        if failure.kind != "refused" or not is_not_ready(failure.message):
            return False
        self.later(row.posting, "posting.not_ready", message=failure.message)
        return True

    def _deliver(self, row: PostingRow, answer: LabelAnswer) -> None:
        """The PDF (a body or ``file_content``) as a label_code, a ``file_url`` as a label_url."""
        self.deliver(FetchedLabel(
            posting=row.posting, tracking=row.tracking, printer=self.target.printer.name, name=f"{row.posting}.pdf",
            source=self.document_source, key=self.key(row.posting, row.tracking), issued_at=self.clock(),
            data=answer.pdf, url=answer.url if answer.pdf is None else None))
