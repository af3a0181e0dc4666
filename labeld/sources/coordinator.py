"""One thread per source that polls on an interval, backs off, and says when it is in trouble.

Modelled on Home Assistant's ``DataUpdateCoordinator``: the coordinator owns the schedule and
the error handling, the source only knows its marketplace. A failed poll never raises into the
daemon: it becomes the source's *trouble* (a reason an operator reads in ``labelctl sources``
and ``labelctl status``), counted by kind for the metrics, and the next poll waits longer —
the interval doubled per failure up to ``max_backoff``, and ``max_backoff`` at once when the
marketplace refused the key (a new key is a person's job; polling fast will not help). The
trouble is logged once when it starts or changes, and once when it ends.

Operators' requests (``labelctl fetch``) run on the same thread, between polls, so a posting is
never fetched by two threads at once.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

import structlog

from labeld.config import SourceConfig
from labeld.errors import SpoolFull
from labeld.reasons import Reason
from labeld.sources.base import FetchRefused, SetupProblem, SourceBase
from labeld.sources.http import ApiFailure, Stopped
from labeld.sources.ozon_api import AnswerError as OzonAnswerError
from labeld.sources.wb_api import AnswerError as WbAnswerError
from labeld.spool.source_state import PostingRow, SourceState

log = structlog.get_logger("labeld.sources")

Request = tuple[str, "Future[PostingRow]"]


class Coordinator:
    """Polls ``source`` (or, when it could not be set up, shows ``problem`` as its trouble)."""

    def __init__(self, config: SourceConfig, state: SourceState, source: SourceBase | None,
                 problem: SetupProblem | None = None, *, describe: Callable[[ApiFailure, float], Reason],
                 clock: Callable[[], float] = time.time) -> None:
        self.config = config
        self.state = state
        self.source = source
        self.problem = problem
        self.describe = describe
        self.clock = clock
        self.failures = 0
        self.stop_event = threading.Event()
        self.wakeup = threading.Event()
        self.requests: queue.Queue[Request] = queue.Queue()
        self.thread = threading.Thread(target=self._run, name=f"source-{config.name}", daemon=True)
        self._trouble_code: str | None = None

    # ----- life --------------------------------------------------------------------------------

    def start(self) -> None:
        if self.source is None and self.problem is not None:
            self._trouble(self.problem.kind, self.problem.reason, self.clock() + self.config.max_backoff)
        self.thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        self.stop_event.set()
        self.wakeup.set()
        self.thread.join(timeout)
        if self.source is not None:
            self.source.client.close()
        while not self.requests.empty():
            _, future = self.requests.get_nowait()
            future.cancel()

    def wake(self) -> None:
        self.wakeup.set()

    def fetch(self, posting: str) -> Future[PostingRow]:
        """Queue an operator's request for ``posting``'s label; the future holds its row after."""
        future: Future[PostingRow] = Future()
        self.requests.put((posting, future))
        self.wakeup.set()
        return future

    # ----- the loop ----------------------------------------------------------------------------

    def _run(self) -> None:
        while not self.stop_event.is_set():
            self._serve_requests()
            row = self.state.row()
            now = self.clock()
            due = row.next_poll is None or row.next_poll <= now
            if self.source is not None and not row.paused and due:
                self.poll_once()
                continue
            wait = 5.0 if row.paused or self.source is None else max(0.05, (row.next_poll or now) - now)
            self.wakeup.wait(min(wait, 5.0))
            self.wakeup.clear()

    def _serve_requests(self) -> None:
        while not self.requests.empty() and not self.stop_event.is_set():
            posting, future = self.requests.get_nowait()
            if not future.set_running_or_notify_cancel():
                continue
            try:
                if self.source is None:
                    raise FetchRefused(self.problem.reason if self.problem else Reason.plain("no source"))
                future.set_result(self.source.fetch_now(posting))
            except ApiFailure as failure:
                future.set_exception(FetchRefused(self.describe(failure, 0.0)))
            except BaseException as error:  # handed to the waiting operator, not raised here
                future.set_exception(error)

    def poll_once(self) -> None:
        """One poll, its outcome recorded (and the next one scheduled) in the spool."""
        assert self.source is not None
        started = self.clock()
        try:
            self.source.requeue_failed_links()
            self.source.poll()
        except Stopped:
            return
        except ApiFailure as failure:
            self.failures += 1
            wait = self.backoff(failure)
            self._trouble(failure.kind, self.describe(failure, wait), self.clock() + wait)
            return
        except (OzonAnswerError, WbAnswerError) as error:
            self.failures += 1
            wait = self.backoff(None)
            reason = Reason("source.bad_answer", marketplace=self.source.marketplace, endpoint="?", error=str(error),
                            wait=wait)
            self._trouble("answer", reason, self.clock() + wait)
            return
        except SpoolFull as error:
            self.failures += 1
            wait = self.backoff(None)
            self._trouble("spool", error.reason, self.clock() + wait)
            return
        except Exception as error:  # a source must never take the daemon down
            log.exception("source_poll_crashed", source=self.config.name, error=str(error))
            self.failures += 1
            wait = self.backoff(None)
            self._trouble("internal", Reason.plain(f"internal error: {error}"), self.clock() + wait)
            return
        self.failures = 0
        self.state.polled(self.clock(), started + self.config.interval)
        if self._trouble_code is not None:
            log.warning("source_recovered", source=self.config.name, was=self._trouble_code)
            self._trouble_code = None

    def backoff(self, failure: ApiFailure | None) -> float:
        """Seconds until the next poll after ``self.failures`` failures in a row."""
        limit = max(self.config.max_backoff, self.config.interval)
        if failure is not None and failure.kind == "auth":
            return limit
        wait = min(limit, self.config.interval * 2.0 ** max(0, self.failures - 1))
        if failure is not None and failure.retry_after:
            wait = max(wait, float(failure.retry_after))
        return wait

    def _trouble(self, kind: str, reason: Reason, next_poll: float) -> None:
        self.state.polled(self.clock(), next_poll, error_kind=kind, trouble=reason)
        if reason.code != self._trouble_code:
            level = log.error if kind in ("auth", "config", "gone") else log.warning
            level("source_in_trouble", source=self.config.name, kind=kind, reason=reason.text())
            self._trouble_code = reason.code

    # ----- views -------------------------------------------------------------------------------

    def snapshot(self) -> dict[str, Any]:
        row = self.state.row()
        document_source = f"{self.config.type}:{self.config.name}"
        counts = self.state.counts(document_source)
        trouble = row.trouble
        return {
            "name": self.config.name, "type": self.config.type, "paused": row.paused,
            "state": "paused" if row.paused else ("trouble" if trouble is not None else "ok"),
            "last_poll": row.last_poll, "last_ok": row.last_ok,
            "next_poll": None if row.paused else row.next_poll, "interval": self.config.interval,
            "postings": {"seen": counts["seen"], "waiting": counts["waiting"], "fetched": counts["fetched"],
                         "failed": counts["failed"], "printed": counts["printed"]},
            "polls": row.polls, "errors": row.errors, "labels_fetched": row.fetched,
            "trouble": _reason_json(trouble), "trouble_since": row.trouble_since,
            "last_error": _reason_json(row.last_error), "last_error_at": row.last_error_at,
            "printer": self.source.target.printer.name if self.source is not None else None,
        }


def _reason_json(reason: Reason | None) -> dict[str, Any] | None:
    if reason is None:
        return None
    return {"reason": reason.text(), "reason_code": reason.code, "reason_params": dict(reason.params)}
