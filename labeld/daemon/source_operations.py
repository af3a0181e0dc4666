"""What an operator can ask of the marketplace sources: list them, pause or resume one, fetch a
posting's label now. The HTTP routes and ``labelctl sources | fetch`` go through here."""

from __future__ import annotations

from typing import Any

from labeld.config import PRINTER_NAME
from labeld.daemon.operations import POSTING, BadRequest, DaemonView, NotFound, Refused
from labeld.reasons import Reason
from labeld.sources import UnknownSource
from labeld.sources.base import FetchRefused


class SourceOperations:
    def __init__(self, daemon: DaemonView) -> None:
        self.daemon = daemon

    def sources(self) -> list[dict[str, Any]]:
        return self.daemon.sources.snapshots()

    def pause(self, name: str) -> dict[str, Any]:
        return self._set_paused(name, True)

    def resume(self, name: str) -> dict[str, Any]:
        return self._set_paused(name, False)

    def _set_paused(self, name: str, paused: bool) -> dict[str, Any]:
        _check_name(name)
        try:
            return self.daemon.sources.set_paused(name, paused)
        except UnknownSource as error:
            raise NotFound(error.reason) from None

    def fetch(self, posting: str, source: str | None) -> dict[str, Any]:
        """Fetch ``posting``'s label now; the posting as its source sees it and its jobs."""
        if not POSTING.match(posting):
            raise BadRequest(Reason("op.bad_posting", posting=posting))
        if source is not None:
            _check_name(source)
        try:
            row = self.daemon.sources.fetch(posting, source)
        except UnknownSource as error:
            raise NotFound(error.reason) from None
        except FetchRefused as error:
            raise Refused(error.reason, "fetch_refused") from None
        jobs = self.daemon.spool.jobs(posting=posting, limit=100)
        return {"source": row.source, "posting": row.to_json(), "jobs": [job.to_json() for job in jobs]}


def _check_name(name: str) -> None:
    if not PRINTER_NAME.match(name):
        raise BadRequest(Reason("op.bad_source_name", source=name))
