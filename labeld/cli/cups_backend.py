"""The ``labeld`` CUPS backend: a CUPS queue whose jobs go into labeld's spool.

CUPS starts it (as ``lp``: the file is mode 0755) once per document with the job's arguments and
``DEVICE_URI=labeld:/PRINTER``. It is a client of labeld's control socket, like ``labelctl``:
it hands the PDF over (``POST /v1/documents`` with copies, the title as the document name, the
requesting user, ``printer=``/``posting=`` job options and the CUPS job's uuid as the upload's
key), follows the labels until they are printed, refused or held — at most ``wait`` seconds from
the device URI (``labeld:/PRINTER?wait=60``), else ``LABELD_CUPS_WAIT`` (cups-files.conf ``SetEnv``),
else 300; 0 = do not wait — and tells CUPS how it went
through ``STATE:``/``INFO:``/``ERROR:`` lines on stderr and its exit code (filter(7),
backend(7)). Run with no arguments it lists its devices (``lpinfo -v``).

The socket is ``LABELD_SOCKET`` (cups-files.conf ``SetEnv``) or ``/run/labeld/labeld.sock``.
"""

from __future__ import annotations

import os
import pwd
import signal
import sys
import time
from collections.abc import Mapping, Sequence
from typing import TextIO

from labeld.cli.client import Client, DaemonUnreachable, RequestRefused, socket_path
from labeld.cli.cups_job import SCHEME, BadDeviceUri, CupsJob, Exit, UsageError, Verdict, plain_text, verdict
from labeld.cli.follow import current_states, event_mark, follow

DEFAULT_WAIT = 300.0
PROGRESS_EVERY = 5.0
DISCOVERY_TIMEOUT = 3.0
#: cupsd's limit for one stderr message line, when CUPS_MAX_MESSAGE does not say (filter(7)).
DEFAULT_MAX_MESSAGE = 2047
#: labeld printer reasons mirrored onto the CUPS queue (as ``-warning``) while labels wait.
MIRRORED_REASONS = frozenset({"media-empty", "media-needed", "media-jam", "cover-open", "door-open", "offline",
                              "media-mismatch", "other"})
MAKE_AND_MODEL = "labeld label print server"


class Reporter:
    """The backend's side of filter(7): ``INFO:``/``ERROR:``/``STATE:`` lines on stderr."""

    def __init__(self, stream: TextIO, environ: Mapping[str, str]) -> None:
        self.stream = stream
        try:
            self.limit = int(environ.get("CUPS_MAX_MESSAGE", DEFAULT_MAX_MESSAGE))
        except ValueError:
            self.limit = DEFAULT_MAX_MESSAGE
        self.reasons: set[str] = set()

    def line(self, prefix: str, text: str) -> None:
        """One ``PREFIX: text`` line of at most ``CUPS_MAX_MESSAGE`` bytes, newline included."""
        room = max(1, self.limit - len(prefix) - 3)
        cut = plain_text(text, room).encode()[:room].decode(errors="ignore")
        print(f"{prefix}: {cut}", file=self.stream, flush=True)

    def info(self, text: str) -> None:
        self.line("INFO", text)

    def error(self, text: str) -> None:
        self.line("ERROR", text)

    def debug(self, text: str) -> None:
        self.line("DEBUG", text)

    def mirror(self, reasons: set[str]) -> None:
        """Make the queue's ``printer-state-reasons`` show ``reasons`` (as ``-warning``), no more."""
        added, removed = reasons - self.reasons, self.reasons - reasons
        if removed:
            self.line("STATE", "-" + ",".join(sorted(f"{r}-warning" for r in removed)))
        if added:
            self.line("STATE", "+" + ",".join(sorted(f"{r}-warning" for r in added)))
        self.reasons = set(reasons)


def main(argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None,
         stdout: TextIO | None = None, stderr: TextIO | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    env = os.environ if environ is None else environ
    report = Reporter(stderr or sys.stderr, env)
    if not args:
        return discover(stdout or sys.stdout, env)
    if argv is None:  # cupsd stops a backend with SIGTERM (job cancelled, cupsd stopping): clean up first
        signal.signal(signal.SIGTERM, _terminated)
    try:
        job = CupsJob.from_invocation(args, env)
    except BadDeviceUri as error:  # the queue is set up wrong: stop it, keep the job
        report.error(str(error))
        return Exit.STOP
    except UsageError as error:
        report.error(str(error))
        return Exit.FAILED
    try:
        wait = job.uri_wait if job.uri_wait is not None else wait_seconds(env)
        return Backend(job, Client(socket_path(None)), report, wait).run()
    finally:
        report.mirror(set())


def _terminated(signum: int, frame: object) -> None:
    raise SystemExit(Exit.FAILED)  # unwinds through main's finally, which clears the mirrored reasons


def wait_seconds(environ: Mapping[str, str]) -> float:
    """``LABELD_CUPS_WAIT`` in seconds (a bad value means the default)."""
    try:
        return max(0.0, float(environ.get("LABELD_CUPS_WAIT", DEFAULT_WAIT)))
    except ValueError:
        return DEFAULT_WAIT


def discover(out: TextIO, environ: Mapping[str, str]) -> int:
    """``lpinfo -v``: the scheme, and one URI per labeld printer when the daemon answers."""
    print(f'direct {SCHEME} "Unknown" "{MAKE_AND_MODEL}"', file=out)
    try:
        printers = Client(socket_path(None), timeout=DISCOVERY_TIMEOUT).call("GET", "/v1/printers")["printers"]
    except (DaemonUnreachable, RequestRefused):
        return Exit.OK
    for printer in printers:
        name = printer["name"]
        info = plain_text(f"labeld {name} ({printer['driver']}, {printer['media']})", 127).replace('"', "'")
        print(f'direct {SCHEME}:/{name} "{MAKE_AND_MODEL}" "{info}" "" ""', file=out)
    return Exit.OK


class Backend:
    def __init__(self, job: CupsJob, client: Client, report: Reporter, wait: float) -> None:
        self.job = job
        self.client = client
        self.report = report
        self.wait = wait
        self.printers: set[str] = set()
        self._next_progress = 0.0

    def run(self) -> int:
        try:
            data = self._read()
        except OSError as error:
            self.report.error(f"cannot read the job's document: {error.strerror or error}")
            return Exit.FAILED
        try:
            return self._hand_over(data)
        except DaemonUnreachable as error:
            self.report.error(f"labeld is not reachable, CUPS will send this job again later: {error}")
            return Exit.RETRY
        except RequestRefused as error:
            return self._refused(error)

    def _read(self) -> bytes:
        if self.job.file is None:
            return sys.stdin.buffer.read()
        with open(self.job.file, "rb") as document:
            return document.read()

    def _hand_over(self, data: bytes) -> int:
        query = self.job.upload_query()
        self.report.debug(f"upload parameters: {query}")
        mark = event_mark(self.client)
        accepted = self.client.upload(data, query)
        ids = [int(i) for i in accepted["job_ids"]]
        self.printers = set(accepted["printers"])
        printers = ", ".join(sorted(self.printers))
        again = " (handed over before; following it)" if accepted.get("repeat") else ""
        self.report.info(f"labeld took {accepted['document']} as {len(ids)} label{'s' if len(ids) != 1 else ''} "
                         f"on {printers}{again}")
        if self.wait <= 0:
            return Exit.OK
        states = current_states(self.client, ids) if accepted.get("repeat") else None
        deadline = time.monotonic() + self.wait
        follow(self.client, ids, mark, states=states, deadline=deadline, poll=PROGRESS_EVERY, on_tick=self._progress)
        outcome = verdict([self.client.call("GET", f"/v1/jobs/{i}") for i in ids], self.wait)
        return self._tell(outcome)

    def _progress(self, states: dict[int, str]) -> None:
        """Every few seconds: how many printed, and why the rest wait (the printer's own words)."""
        now = time.monotonic()
        if now < self._next_progress:
            return
        self._next_progress = now + PROGRESS_EVERY
        done = sum(state == "printed" for state in states.values())
        blocked = [p for p in self.client.call("GET", "/v1/printers")["printers"]
                   if p["state"] == "stopped" and p["name"] in self.printers]
        self.report.mirror({r for p in blocked for r in p["reasons"] if r in MIRRORED_REASONS})
        if blocked:
            why = "; ".join(f"{p['name']} is stopped: {p['message'] or ', '.join(p['reasons'])}" for p in blocked)
            self.report.info(f"{done} of {len(states)} printed; waiting: {why}")
        else:
            self.report.info(f"{done} of {len(states)} printed")

    def _tell(self, outcome: Verdict) -> int:
        if outcome.code == Exit.OK:
            self.report.info(outcome.message)
        else:
            self.report.error(outcome.message)
        return outcome.code

    def _refused(self, error: RequestRefused) -> int:
        """labeld said no: the job's fault (FAILED), the queue's set-up (STOP), or for now (RETRY)."""
        message = f"labeld refused the document: {error.message}"
        if error.status in (0, 403):
            user = pwd.getpwuid(os.geteuid()).pw_name
            self.report.error(f"labeld does not let CUPS's user {user!r} use its socket {self.client.path}: add "
                              f"submit_users = [\"{user}\"] to [daemon] in labeld's config.toml and restart labeld "
                              "(docs/operators/cups-queue.md); the queue is stopped and keeps its jobs")
            self.report.debug(error.message)
            return Exit.STOP
        if error.status == 404 and not self.job.options.get("printer") and self.job.uri_printer:
            self.report.error(f"{message} — the queue's device URI names a printer labeld does not have; "
                              "fix it with lpadmin -p QUEUE -v labeld:/PRINTER")
            return Exit.STOP
        if error.status == 507 or error.status >= 500:
            self.report.error(f"{message}; CUPS will send it again later")
            return Exit.RETRY
        self.report.error(message)
        return Exit.FAILED

