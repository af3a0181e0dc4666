"""Following jobs to their outcome through the daemon's event stream (``GET /v1/events``).

Used by ``labelctl print --wait`` and by the CUPS backend. Take :func:`event_mark` *before* the
upload: every state change of the new jobs then comes after it, so none is missed between the
upload's answer and the first wait. For jobs made earlier (a CUPS job retried), start from
:func:`current_states`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable

from labeld.cli.client import Client

#: States a job does not leave by itself (held waits for a person).
FINISHED = frozenset({"printed", "rejected", "superseded", "duplicate", "cancelled", "failed", "held", "uncertain"})
EVENT_WAIT = 25.0

Tick = Callable[[dict[int, str]], None]


def event_mark(client: Client) -> int:
    """The sequence number of the newest event now."""
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
            if event["job"] in wanted:
                known[event["job"]] = event["to"]
        if on_tick is not None:
            on_tick(known)
    return known
