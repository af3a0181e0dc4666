"""Following the daemon's event stream (``GET /v1/events``): jobs to their outcome, and everything
else as it happens, through daemon restarts.

Take :func:`event_mark` *before* an upload: every state change of the new jobs then comes after it,
so none is missed between the upload's answer and the first wait. For jobs made earlier (a CUPS job
retried), start from :func:`current_states`. :func:`follow` waits for jobs (``labelctl print`` and
the CUPS backend, which wants a daemon that went away to be an error); :func:`stream` yields every
batch of events forever and, as ``labelctl watch`` needs, rides out a daemon restart: the sequence
is kept in the spool, so it picks up where it left off once the daemon answers again, telling
``note`` in words when the daemon goes away and when it is back.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from labeld.cli.client import Client, DaemonUnreachable
from labeld.cli.formatting import _

#: States a job does not leave by itself (held waits for a person).
FINISHED = frozenset({"printed", "rejected", "superseded", "duplicate", "cancelled", "failed", "held", "uncertain"})
#: How long each long-poll waits in the daemon.
POLL_SECONDS = 25.0
EVENT_WAIT = POLL_SECONDS
#: Retrying a daemon that does not answer: first after this long, doubling up to RETRY_MAX.
RETRY_START, RETRY_MAX = 0.5, 5.0

Note = Callable[[str], None]
Sleep = Callable[[float], None]
Tick = Callable[[dict[int, str]], None]


def event_mark(client: Client) -> int:
    """The sequence number of the newest event now (follow from here to see only what happens next)."""
    return int(client.call("GET", "/v1/events", query={"timeout": 0})["last"])


def current_states(client: Client, ids: Iterable[int]) -> dict[int, str]:
    """Each job's state now, one request per job."""
    return {job_id: str(client.call("GET", f"/v1/jobs/{job_id}")["state"]) for job_id in ids}


def follow(client: Client, ids: list[int], after: int, *, states: dict[int, str] | None = None,
           deadline: float | None = None, poll: float = EVENT_WAIT, on_tick: Tick | None = None) -> dict[int, str]:
    """States of ``ids`` once each is in :data:`FINISHED`, or as they are at ``deadline``
    (``time.monotonic()``). ``on_tick`` sees the states after each wait of at most ``poll`` s."""
    known = dict(states or {})
    wanted = set(ids)
    last = after
    while not all(known.get(job_id) in FINISHED for job_id in ids):
        wait = poll if deadline is None else min(poll, deadline - time.monotonic())
        if wait <= 0:
            break
        answer = client.call("GET", "/v1/events", query={"after": last, "timeout": f"{wait:.1f}"},
                             timeout=wait + 15)
        last = answer["last"]
        for event in answer["events"]:
            if event.get("kind", "job") == "job" and event["job"] in wanted:
                known[event["job"]] = event["to"]
        if on_tick is not None:
            on_tick(known)
    return known


def stream(client: Client, after: int, note: Note, poll: float = POLL_SECONDS,
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
            newest = event_mark(client)
        except DaemonUnreachable:
            delay = min(RETRY_MAX, delay * 2)
            continue
        if newest < after:
            note(_("labeld is back with a different spool (its events end at {newest}, before {after}); "
                   "following it from now").format(newest=newest, after=after))
            return newest
        note(_("labeld is back; following from event {after}, nothing missed").format(after=after))
        return after
