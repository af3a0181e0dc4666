"""Following the daemon's event stream, through daemon restarts.

``GET /v1/events`` is a long-poll over one numbered sequence kept in the spool, so a client that
lost the daemon (stopped, restarted, upgraded) picks up where it left off once it answers again.
:func:`follow` yields each batch of events (also empty ones, so a caller can refresh a display) and
tells ``note`` in words when the daemon goes away and when it is back.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

from labeld.cli.client import Client, DaemonUnreachable
from labeld.cli.formatting import _

#: How long each long-poll waits in the daemon.
POLL_SECONDS = 25.0
#: Retrying a daemon that does not answer: first after this long, doubling up to RETRY_MAX.
RETRY_START, RETRY_MAX = 0.5, 5.0

Note = Callable[[str], None]
Sleep = Callable[[float], None]


def current(client: Client) -> int:
    """The number of the newest event now (follow from here to see only what happens next)."""
    return int(client.call("GET", "/v1/events", query={"timeout": 0})["last"])


def follow(client: Client, after: int, note: Note, poll: float = POLL_SECONDS,
           sleep: Sleep = time.sleep) -> Iterator[list[dict[str, Any]]]:
    """Events after ``after``, batch by batch, forever; reconnects (saying so) when the daemon goes away."""
    while True:
        try:
            answer = client.call("GET", "/v1/events", query={"after": after, "timeout": poll}, timeout=poll + 15)
        except DaemonUnreachable as error:
            note(_("labeld stopped answering ({error}); waiting for it to come back — Ctrl-C stops").format(
                error=error))
            after = _reconnect(client, after, note, sleep)
            continue
        after = max(after, int(answer["last"]))
        yield list(answer["events"])


def _reconnect(client: Client, after: int, note: Note, sleep: Sleep) -> int:
    delay = RETRY_START
    while True:
        sleep(delay)
        try:
            newest = current(client)
        except DaemonUnreachable:
            delay = min(RETRY_MAX, delay * 2)
            continue
        if newest < after:
            note(_("labeld is back with a different spool (its events end at {newest}, before {after}); "
                   "following it from now").format(newest=newest, after=after))
            return newest
        note(_("labeld is back; following from event {after}, nothing missed").format(after=after))
        return after
