"""Rules about a label's life: validity time, newer labels for the same posting, repeats.

These run when a label has been rendered and identified, before it is ready to print, and
again (validity only) just before it prints.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import structlog

from labeld.config import PreflightConfig
from labeld.durations import format_duration
from labeld.spool.spool import Job, Spool
from labeld.spool.states import PENDING, InvalidTransition, JobState

log = structlog.get_logger("labeld.rules")

#: States of an older label's job that a newer label voids before they print.
VOIDABLE = frozenset({JobState.QUEUED, JobState.READY, JobState.HELD})


@dataclass(frozen=True)
class Verdict:
    """What a rule decided: move the job to ``state`` (None = carry on) for ``reason``."""

    state: JobState | None
    reason: str
    duplicate_of: int | None = None


CARRY_ON = Verdict(None, "")


class LabelRules:
    """``clock`` is the drift monitor (or None); ``wall`` reads the local clock (tests pass a fake one)."""

    def __init__(self, config: PreflightConfig, spool: Spool, clock: Any = None, *,
                 wall: Callable[[], float] = time.time) -> None:
        self.config = config
        self.spool = spool
        self.clock = clock
        self.wall = wall

    def now(self) -> float:
        """True time: the local clock corrected by the measured drift while it drifts."""
        return self.wall() + (self.clock.correction() if self.clock is not None else 0.0)

    def clock_note(self) -> str | None:
        """While the clock drifts, the sentence that goes into each label's pre-flight record."""
        if self.clock is None:
            return None
        snapshot = self.clock.snapshot()
        if snapshot.state != "drifting":
            return None
        return f"{snapshot.reason}; validity computed with the measured offset corrected"

    # ----- validity ---------------------------------------------------------------------

    def validity(self, job: Job) -> Verdict:
        if job.forced or job.document_kind == "zpl":
            return CARRY_ON
        left = job.expires_at - self.now()
        if left <= 0:
            age = format_duration(self.now() - job.issued_at)
            reason = (f"label expired {format_duration(-left)} ago (issued {age}"
                      f" ago, valid {format_duration(self.config.label_ttl)}); get a fresh label from the marketplace,"
                      " or `labelctl release` to print it anyway")
            policy = self.config.on_expired
            if policy == "hold":
                return Verdict(JobState.HELD, reason)
            if policy == "reject":
                return Verdict(JobState.REJECTED, reason)
            log.warning("label_expired_printing_anyway", job=job.id, reason=reason)
            return CARRY_ON
        if left <= self.config.warn_before:
            warning = f"label expires in {format_duration(left)}"
            log.warning("label_expiring", job=job.id, posting=job.posting, reason=warning)
            return Verdict(None, warning)
        return CARRY_ON

    def hold_before_print(self, job: Job) -> str | None:
        """For the printer worker: a label that expired while it waited is held, not printed."""
        verdict = self.validity(job)
        return verdict.reason if verdict.state is JobState.HELD else None

    # ----- newer labels for the same posting --------------------------------------------

    def supersede(self, job: Job) -> Verdict:
        """Void older labels of the job's posting; or this one, if a newer label is already here."""
        if not job.posting or job.reprint_of is not None:
            return CARRY_ON
        others = self.spool.labels_for_posting(job.posting, exclude_label=job.label_id)
        mine = (job.issued_at, job.label_id)
        newer = [o for o in others if (o.issued_at, o.label_id) > mine and o.content_hash != job.content_hash]
        if newer:
            latest = newer[-1]
            return Verdict(JobState.SUPERSEDED, f"a newer label for posting {job.posting} arrived (label "
                           f"{latest.label_id}, tracking {latest.tracking or '?'}) before this one printed; "
                           f"`labelctl reprint {job.posting}` prints the newest")
        for older in others:
            if older.content_hash is not None and older.content_hash == job.content_hash:
                continue  # the same label again is a duplicate, not a re-generation
            self._void(older, job)
        return CARRY_ON

    def _void(self, older: Job, newer: Job) -> None:
        replaced = f"tracking {older.tracking or '?'} replaced by {newer.tracking or '?'}"
        reason = (f"voided by a newer label for posting {newer.posting} (label {newer.label_id}, job {newer.id}): "
                  f"{replaced}")
        if older.state in VOIDABLE:
            try:
                self.spool.transition(older.id, JobState.SUPERSEDED, reason, expect=VOIDABLE)
            except InvalidTransition:
                return
            log.warning("label_superseded", job=older.id, posting=newer.posting, replaced=replaced)
        elif older.state in (JobState.PRINTED, JobState.UNCERTAIN) and older.state not in PENDING:
            self.spool.note(older.id, reason + " — this printed label is no longer valid")
            log.warning("printed_label_voided", job=older.id, posting=newer.posting, replaced=replaced)

    # ----- the same label again ---------------------------------------------------------

    def duplicate(self, job: Job) -> Verdict:
        if not self.config.dedupe or job.reprint_of is not None or job.content_hash is None:
            return CARRY_ON
        first = self.spool.first_with_content(job.content_hash, exclude_label=job.label_id)
        if first is None or first.id > job.id:
            return CARRY_ON
        return Verdict(JobState.DUPLICATE, f"the same label arrived before as job {first.id} ({first.state.value}); "
                       f"not printed again — `labelctl reprint {job.id}` prints it on purpose", duplicate_of=first.id)
