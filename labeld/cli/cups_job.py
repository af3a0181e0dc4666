"""What the CUPS backend reads from CUPS and what it tells CUPS, without any I/O.

CUPS runs a backend as ``labeld JOB-ID USER TITLE COPIES OPTIONS [FILE]`` with ``DEVICE_URI``
and ``PRINTER`` in the environment (backend(7), filter(7)); ``OPTIONS`` are the job's IPP
attributes as text, read the way ``cupsParseOptions`` reads them. Here they become the
upload's query (printer, copies, document name, who asked, an idempotency key), and the labels'
final states become one of the exit codes CUPS defines (``cups/backend.h``).

Only the standard library is used: the backend must start in any Python that can import labeld.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import IntEnum
from urllib.parse import parse_qs, unquote

from labeld.cli.formatting import job_ids

SCHEME = "labeld"
MAX_TEXT = 200
NOT_PRINTED = frozenset({"rejected", "failed", "cancelled", "duplicate", "superseded", "uncertain"})


class Exit(IntEnum):
    """Backend exit codes (cups/backend.h) and what cupsd does with each (scheduler/job.c)."""

    OK = 0             # the job completed
    FAILED = 1         # printer-error-policy decides: abort-job (labeld's queues), stop-printer, retry-job
    AUTH_REQUIRED = 2  # held for authentication (not used)
    HOLD = 3           # the job is held until someone releases it
    STOP = 4           # the queue is stopped; the job stays pending
    CANCEL = 5         # the job is cancelled (not used: FAILED lets the queue's policy decide)
    RETRY = 6          # held for JobRetryInterval, then sent again; aborted after JobRetryLimit tries
    RETRY_CURRENT = 7  # retried at once (not used)


class UsageError(ValueError):
    """The backend was not started the way CUPS starts it."""


class BadDeviceUri(UsageError):
    """The queue's device URI is not a labeld URI: the queue, not the job, needs fixing."""


@dataclass(frozen=True)
class CupsJob:
    """One CUPS job as the backend sees it."""

    job_id: str
    user: str
    title: str
    copies: str
    options: dict[str, str]
    file: str | None
    queue: str
    device_uri: str

    @classmethod
    def from_invocation(cls, args: Sequence[str], environ: Mapping[str, str]) -> CupsJob:
        """``args`` without the program name: JOB-ID USER TITLE COPIES OPTIONS [FILE]."""
        if len(args) not in (5, 6):
            raise UsageError("usage: labeld JOB-ID USER TITLE COPIES OPTIONS [FILE] (CUPS runs this backend; "
                             "print with lp -d QUEUE FILE)")
        device_uri = environ.get("DEVICE_URI", "")
        if not device_uri:
            raise UsageError("DEVICE_URI is not set: CUPS sets it to the queue's device URI (labeld:/PRINTER)")
        printer_from_uri(device_uri)
        wait_from_uri(device_uri)
        return cls(job_id=args[0], user=args[1], title=args[2], copies=args[3], options=parse_options(args[4]),
                   file=args[5] if len(args) == 6 else None, queue=environ.get("PRINTER", ""),
                   device_uri=device_uri)

    @property
    def uri_printer(self) -> str | None:
        return printer_from_uri(self.device_uri)

    @property
    def uri_wait(self) -> float | None:
        """``labeld:/PRINTER?wait=SECONDS``: this queue's bound on waiting for the labels, if it sets one."""
        return wait_from_uri(self.device_uri)

    @property
    def printer(self) -> str | None:
        """The job option ``printer=`` wins over the queue's URI; None lets labeld route."""
        return self.options.get("printer") or self.uri_printer

    def upload_query(self) -> dict[str, str]:
        """The ``POST /v1/documents`` parameters for this job."""
        query = {"name": document_name(self.title, self.job_id), "copies": self.copies,
                 "requested_by": self.requested_by()}
        if self.printer:
            query["printer"] = self.printer
        if self.options.get("posting"):
            query["posting_number"] = self.options["posting"]
        uuid = self.options.get("job-uuid", "")
        if uuid:
            query["key"] = f"cups:{uuid}"
        return query

    def requested_by(self) -> str:
        """``user@host (CUPS queue-id)``: who asked, from where, and which CUPS job it is."""
        host = self.options.get("job-originating-host-name", "")
        who = f"{self.user}@{host}" if host else self.user
        return plain_text(f"{who} (CUPS {self.queue or 'queue'}-{self.job_id})", MAX_TEXT) or f"CUPS job {self.job_id}"


def printer_from_uri(uri: str) -> str | None:
    """``labeld:/PRINTER`` → PRINTER; ``labeld:/`` (or ``labeld:``) → None, labeld's routing decides."""
    scheme, _, rest = uri.partition(":")
    if scheme != SCHEME:
        raise BadDeviceUri(f"device URI {uri!r} is not a labeld URI; use labeld:/PRINTER or labeld:/")
    name = unquote(rest.split("?", 1)[0]).strip("/")
    if "/" in name:
        raise BadDeviceUri(f"device URI {uri!r}: write labeld:/PRINTER with one printer name")
    return name or None


def wait_from_uri(uri: str) -> float | None:
    """The ``wait`` query parameter of a labeld device URI, in seconds, or None."""
    query = parse_qs(uri.partition("?")[2], keep_blank_values=True)
    unknown = sorted(set(query) - {"wait"})
    if unknown:
        raise BadDeviceUri(f"device URI {uri!r}: unknown parameter {', '.join(unknown)} (only wait=SECONDS)")
    if "wait" not in query:
        return None
    raw = query["wait"][-1]
    try:
        seconds = float(raw)
    except ValueError:
        seconds = -1.0
    if not 0 <= seconds <= 86400:
        raise BadDeviceUri(f"device URI {uri!r}: wait must be a number of seconds from 0 to 86400, not {raw!r}")
    return seconds


def parse_options(text: str) -> dict[str, str]:
    """CUPS's option text (``name=value name2='a b' noflag``) as a dict, like cupsParseOptions:
    quotes group, a backslash escapes the next character, ``name`` alone is "true" and
    ``noname`` is "false"; a repeated name keeps its last value."""
    options: dict[str, str] = {}
    i, n = 0, len(text)
    while i < n:
        while i < n and text[i].isspace():
            i += 1
        start = i
        while i < n and not text[i].isspace() and text[i] != "=":
            i += 1
        name = text[start:i]
        if not name:
            break
        while i < n and text[i].isspace() and text[i] != "=":
            i += 1
        if i >= n or text[i] != "=":
            if name.lower().startswith("no"):
                options[name[2:]] = "false"
            else:
                options[name] = "true"
            continue
        value, i = _option_value(text, i + 1)
        options[name] = value
    return options


def _option_value(text: str, i: int) -> tuple[str, int]:
    out: list[str] = []
    n = len(text)
    while i < n and not text[i].isspace():
        char = text[i]
        if char in "'\"":
            i += 1
            while i < n and text[i] != char:
                if text[i] == "\\" and i + 1 < n:
                    i += 1
                out.append(text[i])
                i += 1
            i += 1
        elif char == "\\" and i + 1 < n:
            out.append(text[i + 1])
            i += 2
        else:
            out.append(char)
            i += 1
    return "".join(out), i


def plain_text(text: str, limit: int) -> str:
    """``text`` without control or format characters, spaces collapsed, at most ``limit`` characters."""
    kept = "".join(" " if unicodedata.category(c).startswith("C") or c.isspace() else c for c in text)
    return " ".join(kept.split())[:limit].strip()


def document_name(title: str, job_id: str) -> str:
    """The job title as labeld's document name: a title is not a safe file name (``/``, ``\\``,
    control characters, a leading dot, 1000 characters), so those become ``_`` or go;
    an empty title becomes ``cups-job-ID``."""
    cleaned = plain_text(title.replace("/", "_").replace("\\", "_"), MAX_TEXT).lstrip(". ")
    return cleaned or f"cups-job-{job_id}"


@dataclass(frozen=True)
class Verdict:
    """How the CUPS job ends: the exit code and the words for ``lpstat``/the web page."""

    code: Exit
    message: str


def verdict(jobs: Sequence[Mapping[str, object]], waited: float) -> Verdict:
    """The CUPS outcome of labeld's ``jobs`` (``GET /v1/jobs/{id}`` answers) after the wait.

    Any label that will not print (rejected, failed, duplicate…) → FAILED, with labeld's reason;
    else any held → HOLD; else any still waiting → RETRY (a retried CUPS job follows the same
    labeld jobs: the upload carries the CUPS job's uuid as its key); else OK.
    """
    count = len(jobs)
    printed = [j for j in jobs if j["state"] == "printed"]
    refused = [j for j in jobs if j["state"] in NOT_PRINTED]
    held = [j for j in jobs if j["state"] == "held"]
    where = ", ".join(sorted({str(j["printer"]) for j in jobs}))
    if refused:
        head = f"{len(refused)} of {count} label{_s(count)} not printed"
        if printed:
            head += f" ({len(printed)} printed)"
        return Verdict(Exit.FAILED, f"{head}: {_reasons(refused, count)}")
    if held:
        first = held[0]["id"]
        return Verdict(Exit.HOLD, f"labeld holds {len(held)} of {count} label{_s(count)}: {_reasons(held, count)}. "
                                  f"After `labelctl release {first}`, release this job in CUPS to follow it "
                                  "(nothing is sent twice)")
    if len(printed) < count:
        return Verdict(Exit.RETRY, f"{count - len(printed)} of {count} label{_s(count)} still waiting in labeld on "
                                   f"{where} after {waited:g} s; CUPS checks again later (nothing is sent twice)")
    return Verdict(Exit.OK, f"printed {count} label{_s(count)} on {where} "
                            f"(labeld {job_ids(sorted(int(str(j['id'])) for j in jobs))})")


def _reasons(jobs: Sequence[Mapping[str, object]], total: int) -> str:
    """The distinct reasons of ``jobs``, each with the pages it applies to (of a ``total``-page document)."""
    pages: dict[str, list[str]] = {}
    for job in jobs:
        label = job.get("label")
        page = str(label.get("page", "?")) if isinstance(label, dict) else "?"
        pages.setdefault(_reason_text(job), []).append(page)
    return "; ".join(f"page {', '.join(p)}: {text}" if total > 1 else text for text, p in pages.items())


def _reason_text(job: Mapping[str, object]) -> str:
    reason = job.get("reason")
    if isinstance(reason, dict):  # a structured reason {"code", "params", "text"}
        reason = reason.get("text")
    return f"job {job['id']} {job['state']}: {reason or 'no reason given'}"


def _s(count: int) -> str:
    return "" if count == 1 else "s"
