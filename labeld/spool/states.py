"""Job states and the moves between them (docs/reference/states.md)."""

from __future__ import annotations

from enum import StrEnum


class JobState(StrEnum):
    QUEUED = "queued"
    READY = "ready"
    PRINTING = "printing"
    PRINTED = "printed"
    HELD = "held"
    REJECTED = "rejected"
    SUPERSEDED = "superseded"
    DUPLICATE = "duplicate"
    CANCELLED = "cancelled"
    UNCERTAIN = "uncertain"
    FAILED = "failed"


S = JobState
#: Where each state may go next. Terminal states go nowhere; reprints are new jobs.
TRANSITIONS: dict[JobState, frozenset[JobState]] = {
    S.QUEUED: frozenset({S.READY, S.HELD, S.REJECTED, S.SUPERSEDED, S.DUPLICATE, S.CANCELLED, S.FAILED}),
    S.READY: frozenset({S.PRINTING, S.HELD, S.REJECTED, S.SUPERSEDED, S.CANCELLED, S.QUEUED}),
    S.PRINTING: frozenset({S.PRINTED, S.READY, S.FAILED, S.UNCERTAIN}),
    S.HELD: frozenset({S.QUEUED, S.CANCELLED, S.SUPERSEDED}),
    S.PRINTED: frozenset(),
    S.REJECTED: frozenset({S.QUEUED}),  # only by an operator's audited override
    S.SUPERSEDED: frozenset(),
    S.DUPLICATE: frozenset({S.CANCELLED}),
    S.CANCELLED: frozenset(),
    S.UNCERTAIN: frozenset({S.CANCELLED, S.PRINTED, S.READY}),  # READY/PRINTED: settled by a page counter
    S.FAILED: frozenset({S.CANCELLED}),
}

#: States in which a job still waits to be printed.
PENDING = frozenset({S.QUEUED, S.READY, S.PRINTING, S.HELD})
#: States of a job whose label still counts as "here": a second copy of its content is a repeat.
LIVE = frozenset({S.QUEUED, S.READY, S.PRINTING, S.PRINTED, S.HELD, S.UNCERTAIN})
#: States an operator may cancel from.
CANCELLABLE = frozenset(s for s, nxt in TRANSITIONS.items() if S.CANCELLED in nxt)


class InvalidTransition(ValueError):
    """A job cannot move from its state to the one asked for."""


def check_transition(current: JobState, target: JobState) -> None:
    if target not in TRANSITIONS[current]:
        raise InvalidTransition(f"a {current.value} job cannot become {target.value}")
