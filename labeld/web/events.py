"""``GET /events``: the page's live updates as Server-Sent Events.

Each open page gets a stream that follows the spool's event sequence (the same one ``/v1/events``
and ``labelctl watch`` read) and looks at printers and clock once a second. It sends

``panel``  alarms and printers as HTML (made by the same templates as the page), when they change;
``lists``  queue, history and batches as HTML, when a job changed.

The browser's ``EventSource`` reconnects by itself after a restart of labeld; the first message
of every stream is a full ``panel`` and ``lists``, so nothing is missed across a reconnect.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import anyio
from starlette.requests import Request
from starlette.responses import StreamingResponse

from labeld.daemon.operations import Operations
from labeld.web.views import Filters, Views

#: How long one look for spool changes waits in a worker thread; also the printer/clock poll period.
LOOK_SECONDS = 1.0
KEEPALIVE_SECONDS = 15.0

Render = Callable[[str, str, dict[str, Any]], str]


def sse(event: str, data: Any) -> bytes:
    return f"event: {event}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n".encode()


class EventStream:
    def __init__(self, ops: Operations, render: Render) -> None:
        self.ops = ops
        self.render = render
        self.stopping = threading.Event()

    def response(self, request: Request, lang: str, filters: Filters, csrf: str) -> StreamingResponse:
        return StreamingResponse(self._stream(request, lang, filters, csrf), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})

    async def _stream(self, request: Request, lang: str, filters: Filters, csrf: str) -> AsyncIterator[bytes]:
        views = Views(self.ops, lang)
        last_seq = await anyio.to_thread.run_sync(self.ops.spool.last_event_id)
        last_panel = ""
        lists_due = True
        quiet_since = time.monotonic()
        while not self.stopping.is_set() and not await request.is_disconnected():
            panel = await anyio.to_thread.run_sync(self._panel, views, lang, csrf)
            if panel["alarms_html"] + panel["printers_html"] != last_panel:
                last_panel = panel["alarms_html"] + panel["printers_html"]
                quiet_since = time.monotonic()
                yield sse("panel", panel)
            if lists_due:
                quiet_since = time.monotonic()
                yield sse("lists", {"html": await anyio.to_thread.run_sync(self._lists, views, lang, filters, csrf)})
            if time.monotonic() - quiet_since > KEEPALIVE_SECONDS:
                quiet_since = time.monotonic()
                yield b": keepalive\n\n"
            changes = await anyio.to_thread.run_sync(self.ops.events, last_seq, LOOK_SECONDS)
            last_seq = changes["last"]
            lists_due = bool(changes["events"])

    def _panel(self, views: Views, lang: str, csrf: str) -> dict[str, Any]:
        panel = views.panel()
        context = {"panel": panel, "csrf": csrf}
        return {"alarms_html": self.render("_alarms.html", lang, context),
                "printers_html": self.render("_printers.html", lang, context),
                "alarms": [alarm["key"] for alarm in panel["alarms"]]}

    def _lists(self, views: Views, lang: str, filters: Filters, csrf: str) -> str:
        return self.render("_lists.html", lang, {"lists": views.lists(filters), "csrf": csrf})
