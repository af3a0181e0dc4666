"""Rules about a label's life: validity time, newer labels for the same posting, repeats.

These run when a label has been rendered and identified, before it is ready to print, again
(validity only) just before it prints, and when an operator asks for a reprint. This module is
the one owner of "expired", "superseded" and "duplicate": everything else asks it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import structlog

from labeld.clock.monitor import ClockMonitor
from labeld.config import PreflightConfig
from labeld.reasons import Reason
from labeld.spool.links import LINK_KIND
from labeld.spool.spool import Job, Spool
from labeld.spool.states import InvalidTransition, JobState

log = structlog.get_logger("labeld.rules")

#: States of an older label's job that a newer label voids before they print.
VOIDABLE = frozenset({JobState.QUEUED, JobState.READY, JobState.HELD})
#: States of an older label's job that came out (or may have): a newer label voids it on paper.
CAME_OUT = frozenset({JobState.PRINTED, JobState.UNCERTAIN})


@dataclass(frozen=True)
class Verdict:
    """What a rule decided: move the job to ``state`` (None = carry on), for ``reason``.

    A verdict with no state but a reason is a warning: the label prints, flagged."""

    state: JobState | None
    reason: Reason | None = None
    duplicate_of: int | None = None


CARRY_ON = Verdict(None)


class LabelRules:
    def __init__(self, config: PreflightConfig, spool: Spool, clock: ClockMonitor | None = None,
                 wall_clock: Callable[[], float] = time.time) -> None:
        self.config = config
        self.spool = spool
        self.clock = clock
        self.wall_clock = wall_clock

    def now(self) -> float:
        """True time: the local clock corrected by the measured drift while it drifts."""
        return self.wall_clock() + (self.clock.correction() if self.clock is not None else 0.0)

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
        now = self.now()
        left = job.expires_at - now
        if left <= 0:
            reason = Reason("label.expired", ago=-left, age=now - job.issued_at, ttl=self.config.label_ttl)
            policy = self.config.on_expired
            if policy == "hold":
                return Verdict(JobState.HELD, reason)
            if policy == "reject":
                return Verdict(JobState.REJECTED, reason)
            log.warning("label_expired_printing_anyway", job=job.id, reason=reason.text())
            return CARRY_ON
        if left <= self.config.warn_before:
            warning = Reason("label.expiring", left=left)
            log.warning("label_expiring", job=job.id, posting=job.posting, reason=warning.text())
            return Verdict(None, warning)
        return CARRY_ON

    def stop_before_print(self, job: Job) -> tuple[JobState, Reason] | None:
        """For the printer worker: a label that expired while it waited is held or rejected (as
        ``on_expired`` says), not printed; None to print it."""
        verdict = self.validity(job)
        if verdict.state in (JobState.HELD, JobState.REJECTED) and verdict.reason is not None:
            return verdict.state, verdict.reason
        return None

    # ----- newer labels for the same posting --------------------------------------------

    def newer_labels(self, job: Job) -> list[Job]:
        """Jobs of labels for the same posting issued after this one (not the same label again)."""
        if not job.posting:
            return []
        others = self.spool.labels_for_posting(job.posting, exclude_label=job.label_id)
        mine = (job.issued_at, job.label_id)
        return [o for o in others if (o.issued_at, o.label_id) > mine
                and (o.content_hash is None or o.content_hash != job.content_hash)]

    def supersede(self, job: Job) -> Verdict:
        """Void older labels of the job's posting; or this one, if a newer label is already here."""
        if not job.posting or job.reprint_of is not None:
            return CARRY_ON
        newer = self.newer_labels(job)
        if newer:
            latest = newer[-1]
            return Verdict(JobState.SUPERSEDED, Reason("label.superseded_before_print", posting=job.posting,
                                                       label=latest.label_id, tracking=latest.tracking or "?"))
        for older in self.spool.labels_for_posting(job.posting, exclude_label=job.label_id):
            if older.content_hash is not None and older.content_hash == job.content_hash:
                continue  # the same label again is a duplicate, not a re-generation
            self._void(older, job)
        return CARRY_ON

    def _void(self, older: Job, newer: Job) -> None:
        params = {"posting": newer.posting, "label": newer.label_id, "job": newer.id,
                  "old_tracking": older.tracking or "?", "new_tracking": newer.tracking or "?"}
        if older.state in VOIDABLE:
            try:
                self.spool.transition(older.id, JobState.SUPERSEDED, Reason("label.voided", **params),
                                      expect=VOIDABLE)
            except InvalidTransition:
                return
            log.warning("label_superseded", job=older.id, posting=newer.posting, replaced=params)
        elif older.state in CAME_OUT:
            self.spool.raise_relabel(older.id, Reason("label.voided_after_print", **params))
            log.warning("printed_label_voided", job=older.id, posting=newer.posting, replaced=params)

    # ----- the same label again ---------------------------------------------------------

    def duplicate(self, job: Job) -> Verdict:
        if not self.config.dedupe or job.reprint_of is not None or job.content_hash is None:
            return CARRY_ON
        first = self.spool.first_with_content(job.content_hash, exclude_label=job.label_id)
        if first is None or first.id > job.id:
            return CARRY_ON
        return Verdict(JobState.DUPLICATE, Reason("label.duplicate", first=first.id, first_state=first.state.value,
                                                  job=job.id), duplicate_of=first.id)

    # ----- reprints ---------------------------------------------------------------------

    def not_fetched(self, job: Job) -> Reason | None:
        """Why there is no label to print again: it is still a link (waiting, or it gave no label)."""
        if job.document_kind != LINK_KIND:
            return None
        link = self.spool.link_info(job.document_id)
        return Reason("reprint.not_fetched", label=job.label_id, state=link["state"] if link else "waiting")

    def why_not_reprint(self, job: Job) -> Reason | None:
        """Why this label should not be printed again (never fetched, voided by a newer one, expired), or None."""
        unfetched = self.not_fetched(job)
        if unfetched:
            return unfetched
        newer = self.newer_labels(job)
        if newer:
            return Reason("reprint.superseded", label=job.label_id, posting=job.posting, newer_job=newer[-1].id)
        if job.document_kind != "zpl":
            left = job.expires_at - self.now()
            if left <= 0:
                return Reason("reprint.expired", label=job.label_id, ago=-left)
        return None
