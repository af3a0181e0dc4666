"""``labelctl print --wait``: follow a document's labels until each has finished, with a progress bar
on a terminal, and a summary naming every label that did not print, with its job id and reason.

On a terminal the bar (rich's) reads "56/100 printed, 1 held" and names a stopped printer the batch
is waiting for; without a terminal nothing but the summary is written. The summary and the exit code
say whether every label printed.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from labeld.cli.client import Client
from labeld.cli.follow import FINISHED, POLL_SECONDS, Note, stream
from labeld.cli.formatting import _, job_ids, reason_text

#: States in which a label has been rendered and checked (its pre-flight verdict is known).
CHECKED = FINISHED | {"ready", "printing"}
#: Poll the event stream this often while a bar is shown (it refreshes on each answer).
TTY_POLL = 1.0


@dataclass
class Batch:
    """What is known of the labels being waited for, from their jobs and then their events."""

    ids: Sequence[int]
    printers: set[str]
    states: dict[int, str] = field(default_factory=dict)
    reasons: dict[int, dict[str, Any]] = field(default_factory=dict)
    pages: dict[int, tuple[int, str | None]] = field(default_factory=dict)
    stopped: dict[str, str] = field(default_factory=dict)
    finished: frozenset[str] = FINISHED

    def take_job(self, job: dict[str, Any]) -> None:
        """Where a label is (page, posting); its state comes from the events, replayed from before the upload."""
        self.pages[job["id"]] = (job["label"]["page"], job["label"]["posting_number"])

    def take_event(self, event: dict[str, Any]) -> None:
        kind = event.get("kind", "job")
        if kind == "job" and event.get("job") in self.states and event["from"] != event["to"]:
            self.states[event["job"]] = event["to"]
            self.reasons[event["job"]] = event
        elif kind == "printer" and event.get("printer") in self.printers:
            if event["to"] == "stopped":
                self.stopped[event["printer"]] = reason_text(event)
            else:
                self.stopped.pop(event["printer"], None)

    @property
    def done(self) -> bool:
        return all(self.states.get(i) in self.finished for i in self.ids)

    def count(self, state: str) -> int:
        return sum(self.states.get(i) == state for i in self.ids)

    def not_printed(self) -> list[int]:
        return [i for i in self.ids if self.states.get(i) != "printed"]

    def tally(self) -> str:
        """"56/100 printed, 1 held" without the first part, which the bar shows."""
        others = sorted({self.states.get(i, "queued") for i in self.ids} - {"printed"})
        parts = [f"{self.count(state)} {state}" for state in others]
        return ", ".join(parts)

    def waiting_for(self) -> str:
        return "; ".join(f"{name}: {why}" for name, why in sorted(self.stopped.items()))


def wait_for_batch(client: Client, accepted: dict[str, Any], after: int, note: Note,
                   show_bar: bool, finished: frozenset[str] = FINISHED) -> Batch:
    """Follow the accepted document's jobs (from event ``after``, taken before the upload) until each is
    in a ``finished`` state; a bar on stderr if ``show_bar``."""
    ids = list(accepted["job_ids"])
    batch = Batch(ids, set(accepted["printers"]), states=dict.fromkeys(ids, "queued"), finished=finished)
    wanted = set(ids)
    listed = client.call("GET", "/v1/jobs", query={"document": accepted["document"], "limit": 1000})["jobs"]
    for job in listed:
        if job["id"] in wanted:
            batch.take_job(job)
    for printer in client.call("GET", "/v1/printers")["printers"]:
        if printer["name"] in batch.printers and printer["state"] == "stopped":
            batch.stopped[printer["name"]] = ",".join(printer["reasons"]) or reason_text(printer, "message")
    if not show_bar:
        _follow_until_done(client, batch, after, note, POLL_SECONDS)
        return batch
    console = Console(stderr=True)
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TextColumn(_("printed")),
               TextColumn("{task.fields[tally]}"), TimeElapsedColumn(), TextColumn("{task.fields[waiting]}"))
    with Progress(*columns, console=console, transient=False) as progress:
        task = progress.add_task(accepted["document"], total=len(ids), completed=batch.count("printed"),
                                 tally=batch.tally(), waiting="")

        def refresh() -> None:
            waiting = batch.waiting_for()
            progress.update(task, completed=batch.count("printed"), tally=batch.tally(),
                            waiting=_("waiting for {what}").format(what=waiting) if waiting else "")

        refresh()
        _follow_until_done(client, batch, after, lambda text: progress.console.print(text), poll=TTY_POLL,
                           refresh=refresh)
    return batch


def refresh_labels(client: Client, document: str, batch: Batch) -> None:
    """Read the labels' posting numbers again: they are known once each label was rendered."""
    for job in client.call("GET", "/v1/jobs", query={"document": document, "limit": 1000})["jobs"]:
        if job["id"] in batch.states:
            batch.take_job(job)


def _follow_until_done(client: Client, batch: Batch, after: int, note: Note, poll: float,
                       refresh: Callable[[], None] | None = None) -> None:
    for events in stream(client, after, note, poll=poll):
        for event in events:
            batch.take_event(event)
        if refresh is not None:
            refresh()
        if batch.done:
            return


def summary(document: str, batch: Batch) -> list[str]:
    """The outcome in a line, then one line per label that did not print: job id, page, state, reason."""
    printed = batch.count("printed")
    lines = [_("{document}: {printed} of {total} printed").format(document=document, printed=printed,
                                                                   total=len(batch.ids))
             + (", " + batch.tally() if batch.tally() else "")]
    for job in batch.not_printed():
        page, posting = batch.pages.get(job, (0, None))
        where = _("page {page}").format(page=page) + (f", {posting}" if posting else "")
        lines.append(f"  {job_ids([job])} ({where}): {batch.states.get(job, '?')} — "
                     f"{reason_text(batch.reasons.get(job, {}))}")
    return lines


def results_json(batch: Batch) -> list[dict[str, Any]]:
    return [{"job": job, "state": batch.states.get(job),
             **{k: batch.reasons.get(job, {}).get(k) for k in ("reason", "reason_code", "reason_params")}}
            for job in batch.ids]


def stderr_is_terminal() -> bool:
    return sys.stderr.isatty()
