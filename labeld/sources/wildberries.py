"""The Wildberries source: assembly orders on assembly (``confirm``), each one's sticker once.

A poll finds candidate orders — those of the configured ``supplies``, else every order of the
last ``lookback`` — asks the status of those it has not seen, records the ones in ``confirm``
(with ``supplies``: ``confirm`` or ``complete``), and fetches the stickers of those due, up to
100 per request, in the type the printer wants: ``zplh``/``zplv`` for a ZPL printer (sent to it
as they are), ``svg`` for a printer labeld renders for. The order id is the sticker's identity:
it stands where Ozon's posting number stands.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from labeld.config import Config, SourceConfig
from labeld.media import parse_media
from labeld.reasons import Reason
from labeld.sources.base import SourceBase, target_for
from labeld.sources.handoff import FetchedLabel, LabelSink
from labeld.sources.http import ApiClient
from labeld.sources.wb_api import (
    SIZES,
    STICKER_CHUNK,
    STICKER_STATUSES,
    WAITING_STATUS,
    WildberriesApi,
    sticker_type,
)
from labeld.spool.source_state import PostingRow, Seen, SourceState


class WildberriesSource(SourceBase):
    marketplace = "Wildberries"

    def __init__(self, config: Config, source: SourceConfig, state: SourceState, sink: LabelSink,
                 client: ApiClient, clock: Callable[[], float] = time.time) -> None:
        super().__init__(config, source, state, sink, client, clock)
        self.api = WildberriesApi(client)
        width, height = SIZES[source.sticker_size]
        self.target = target_for(config, source, ((float(width), float(height)),))
        printer = self.target.printer
        self.kind = sticker_type(printer.driver, parse_media(printer.media).width_mm, printer.format)
        self.statuses = STICKER_STATUSES if source.supplies else frozenset({WAITING_STATUS})

    def posting_problem(self, posting: str) -> Reason | None:
        if posting.isdigit():
            return None
        return Reason("op.bad_posting", posting=posting)

    def poll(self) -> None:
        candidates = self._candidates()
        known = self.state.known([str(i) for i in candidates])
        unseen = [i for i in candidates if str(i) not in known]
        if unseen:
            statuses = self.api.statuses(unseen)
            seen = [Seen(str(i), "", status) for i, status in statuses.items() if status in self.statuses]
            if self.state.saw(seen, self.clock()):
                self.log.info("orders_listed", candidates=len(candidates), waiting_now=len(seen))
        self.fetch_rows(self.state.due(self.clock(), self.source.per_poll))

    def _candidates(self) -> list[int]:
        if self.source.supplies:
            ids: list[int] = []
            for supply in self.source.supplies:
                ids.extend(self.api.supply_orders(supply))
            return ids
        found, cursor = [], 0
        since = self.clock() - self.source.lookback
        while True:
            page, cursor = self.api.orders(since=since, cursor=cursor)
            found.extend(page)
            if not page or not cursor:
                return found

    def fetch_rows(self, rows: list[PostingRow]) -> None:
        rows = self.skip_known(rows, lambda r: self.key(r.posting))
        for start in range(0, len(rows), STICKER_CHUNK):
            chunk = rows[start:start + STICKER_CHUNK]
            stickers = self.api.stickers([int(r.posting) for r in chunk], self.kind, self.source.sticker_size)
            got = {str(s.order_id): s for s in stickers}
            for row in chunk:
                sticker = got.get(row.posting)
                if sticker is None:
                    self.later(row.posting, "posting.not_ready", message="no sticker in the answer")
                    continue
                kind = "svg" if self.kind == "svg" else "zpl"
                self.deliver(FetchedLabel(
                    posting=row.posting, tracking=sticker.sticker_id, printer=self.target.printer.name,
                    name=f"{row.posting}.{kind}", source=self.document_source, key=self.key(row.posting),
                    issued_at=self.clock(), data=sticker.file))
