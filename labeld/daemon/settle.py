"""Settling ``uncertain`` labels by the printer's page counter, at start-up.

Before a label goes out on a printer that keeps a page counter in labels (SNMP's
``prtMarkerLifeCount``), the engine records the counter, the label count and the printer's serial
number in the job's ``sending`` history entry, committed before the first byte leaves
(:func:`sending_reason`). A crash after that leaves the job ``uncertain``. At the next start, before
the printer prints anything else, :class:`CounterSettlement` reads the counter again and decides —
only where it is unambiguous:

1. exactly one label of this printer was caught mid-send (the engine sends one at a time, so a
   single crash leaves at most one), and its entry has the counter (``before``) and label count (n);
2. the printer answers with a counter in labels, reports no fault and is not printing, and two
   reads in a row (the engine's backoff apart) give the same value (``after``) — nothing is still
   coming out, nor held in the printer waiting for paper;
3. it is the same printer: the serial number it reports now equals the recorded one (where both
   are known), and the counter did not go down.

Then ``after == before`` → it did not print: back to ``ready``, sent again; ``after == before + n``
→ it printed: ``printed``, confirmed by the counter. Anything else (another sender printed
meanwhile, a reset, several labels in doubt, the counter unreadable) leaves it ``uncertain`` with a
note saying why. The rule assumes labeld is the printer's only sender between the crash and the
restart: a label printed from elsewhere in that window, exactly ``n`` of them, would be taken for
ours (docs/decisions.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from labeld.drivers.base import PrinterStatus
from labeld.reasons import Reason
from labeld.spool.spool import Job, Spool
from labeld.spool.states import InvalidTransition, JobState

SENDING_COUNTED = "job.sending_counted"
UNCERTAIN_AFTER_STOP = "job.uncertain_after_stop"


def sending_reason(printer: str, status: PrinterStatus, labels: int | None) -> Reason:
    """The history entry of a label about to go out: with the page counter where there is one."""
    if status.known and status.page_counter is not None and labels:
        return Reason(SENDING_COUNTED, printer=printer, counter=status.page_counter, labels=labels,
                      serial=status.printer_id)
    return Reason("job.sending", printer=printer)


@dataclass(frozen=True)
class Candidate:
    job: Job
    before: int
    labels: int
    serial: str


class CounterSettlement:
    """The uncertain labels of one printer that the counter may settle. ``step(status)`` is called
    with the printer's status (None: unreachable) until it returns True (done)."""

    def __init__(self, spool: Spool, printer: str, log: Any) -> None:
        self.spool = spool
        self.printer = printer
        self.log = log
        self.candidates = self._candidates()
        self._seen: int | None = None

    def _candidates(self) -> list[Candidate]:
        found = []
        for job in self.spool.jobs(state=JobState.UNCERTAIN, printer=self.printer, limit=1000):
            history = self.spool.history(job.id)
            if not history or history[-1].reason.code != UNCERTAIN_AFTER_STOP:
                continue  # settled or looked at before: its last word stands
            sent = next((e.reason for e in reversed(history) if e.reason.code == SENDING_COUNTED), None)
            if sent is not None:
                params = sent.params
                found.append(Candidate(job, int(params["counter"]), int(params["labels"]), str(params["serial"])))
        return found

    def step(self, status: PrinterStatus | None) -> bool:
        if not self.candidates:
            return True
        if status is None:
            return False  # unreachable: nothing prints meanwhile anyway
        if not status.known or status.page_counter is None:
            self._keep(Reason("counter.unreadable", error=status.message or "no page counter"))
            return True
        if status.blocked or status.busy:
            self._seen = None  # a label held in the printer may still come out
            return False
        if self._seen != status.page_counter:
            self._seen = status.page_counter
            return False  # once more, to see it stand still
        self._decide(status.page_counter, status.printer_id)
        return True

    def _decide(self, after: int, serial: str) -> None:
        if len(self.candidates) > 1:
            self._keep(Reason("counter.several", count=len(self.candidates)))
            return
        [candidate] = self.candidates
        before, labels = candidate.before, candidate.labels
        if candidate.serial and serial and candidate.serial != serial:
            self._keep(Reason("counter.other_printer", now=serial, then=candidate.serial))
        elif after == before:
            self._move(candidate, JobState.READY, Reason("job.uncertain_not_printed", counter=after), False)
        elif after == before + labels:
            self._move(candidate, JobState.PRINTED,
                       Reason("job.uncertain_printed", before=before, after=after, labels=labels), True)
        else:
            self._keep(Reason("counter.moved", before=before, after=after, labels=labels))

    def _move(self, candidate: Candidate, state: JobState, reason: Reason, confirmed: bool) -> None:
        try:
            self.spool.transition(candidate.job.id, state, reason, expect=frozenset({JobState.UNCERTAIN}),
                                  confirmed=confirmed if confirmed else None)
        except InvalidTransition:
            return  # cancelled by an operator meanwhile
        self.log.info("uncertain_settled", job=candidate.job.id, state=state.value, reason=reason.text())
        self.candidates = []

    def _keep(self, why: Reason) -> None:
        for candidate in self.candidates:
            reason = Reason("job.uncertain_kept", why=why)
            self.spool.note(candidate.job.id, reason)
            self.log.warning("uncertain_kept", job=candidate.job.id, reason=reason.text())
        self.candidates = []
