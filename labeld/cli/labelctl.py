"""``labelctl``: the operator's tool, a thin client of the control socket (docs/reference/labelctl.md).

Exit codes: 0 done, 1 refused or failed (the message says why), 2 usage, 3 daemon not reachable,
4 a document was accepted but not every label printed (``print --wait``; the summary names each).
Human output by default, in the reader's language (``LANG``); ``--json`` (before or after the
command) prints the daemon's JSON answer for scripts, and an error as ``{"error": …}`` on stdout.
Where a command takes a JOB it also takes what a handheld scanner reads off the label (a posting
number, Ozon's ``OZON:…`` QR text, a tracking number, a barcode value): the daemon resolves it.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn

from labeld import __version__
from labeld.cli import formatting as fmt
from labeld.cli import progress
from labeld.cli.client import Client, DaemonUnreachable, RequestRefused, path_part, socket_path
from labeld.cli.completion import bash_completion, completes_files, completes_printers
from labeld.cli.follow import event_mark, stream
from labeld.cli.formatting import _
from labeld.cli.pipes import quiet_on_broken_pipe

EXIT_OK, EXIT_REFUSED, EXIT_USAGE, EXIT_UNREACHABLE, EXIT_NOT_PRINTED = 0, 1, 2, 3, 4
#: Uploads at least this large show a progress line on a terminal.
PROGRESS_BYTES = 2 << 20
#: Job ids as typed: anything else in a JOB argument is a scanned code for the daemon to resolve.
MAX_JOB_DIGITS = 12
#: The daemon waits up to 120 s for a busy source to fetch a posting.
FETCH_TIMEOUT = 150.0

Command = Callable[[Client, argparse.Namespace], Any]


class Usage(argparse.ArgumentParser):
    """argparse, with usage errors going to stderr as one sentence and exit code 2."""

    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        print(f"labelctl: {message}", file=sys.stderr)
        sys.exit(EXIT_USAGE)


def build_parser() -> argparse.ArgumentParser:
    parser = Usage(prog="labelctl", description=_("Control labeld, the label print server."))
    completes_files(parser.add_argument("--socket", metavar="PATH", help=_(
        "control socket (default: $LABELD_SOCKET, else /run/labeld/labeld.sock, else ./labeld-data/labeld.sock "
        "of a labeld running on built-in defaults here)")))
    parser.add_argument("--json", action="store_true", help=_("print the daemon's JSON answer (also after the "
                                                              "command)"))
    parser.add_argument("--version", action="version", version=f"labelctl {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Usage)

    def command(name: str, func: Command, text: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=text, description=text)
        p.set_defaults(func=func)
        p.add_argument("--json", action="store_true", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
        return p

    def job_or_code(p: argparse.ArgumentParser) -> None:
        p.add_argument("target", metavar="JOB|CODE", type=nonempty,
                       help=_("a job id, or what is scanned off the label (posting, OZON:… QR text, tracking "
                              "number, barcode value)"))

    command("status", cmd_status, _("daemon, alarms, queue, printers and clock at a glance"))
    p = command("jobs", cmd_jobs, _("list jobs, newest first"))
    p.add_argument("code", metavar="CODE", nargs="?", help=_("only the jobs of the label(s) this scanned code "
                                                             "names"))
    p.add_argument("--state", help=_("only jobs in this state (queued, ready, printed, held, …)"))
    completes_printers(p.add_argument("--printer", help=_("only jobs for this printer")))
    p.add_argument("--posting", help=_("only jobs of this posting number"))
    p.add_argument("--document", metavar="NAME", help=_("only jobs of the document with this name"))
    p.add_argument("--limit", type=int, default=50, help=_("at most this many (default 50)"))
    job_or_code(command("show", cmd_show, _("one job with its label, document and history")))
    p = command("reprint", cmd_reprint, _("print a job's label again, or the newest label of a scanned posting"))
    job_or_code(p)
    p.add_argument("--copies", type=int, default=1, help=_("how many copies (default 1)"))
    completes_printers(p.add_argument("--printer", help=_("print on this printer instead")))
    p.add_argument("--force", action="store_true", help=_("print even an expired or superseded label"))
    for name, text in (("cancel", _("cancel a job that has not printed")),
                       ("hold", _("hold a queued or ready job"))):
        command(name, cmd_change, text).add_argument("job", metavar="JOB", type=job_id)
    p = command("release", cmd_release, _("print a held job (checked again; expiry no longer holds it)"))
    p.add_argument("job", metavar="JOB", type=job_id)
    p.add_argument("--override", metavar="REASON", type=nonempty, help=_(
        "also a rejected job, past every pre-flight finding, once; REASON and your user go into its history"))
    p = command("ack", cmd_ack, _("acknowledge an alarm: a relabelled parcel (JOB) or a rejected file"))
    target = p.add_mutually_exclusive_group(required=True)
    target.add_argument("job", metavar="JOB", type=job_id, nargs="?",
                        help=_("the job whose printed label a newer one voided"))
    target.add_argument("--rejected", metavar="ID", type=job_id, help=_("a rejected file's id (labelctl rejected)"))
    p = command("rejected", cmd_rejected, _("files rejected whole, with the reason and where each went"))
    p.add_argument("--today", action="store_true", help=_("only since midnight"))
    p.add_argument("--limit", type=int, default=50, help=_("at most this many (default 50)"))
    p = command("print", cmd_print, _("send a label to labeld: a file, a link or a code"))
    completes_files(p.add_argument("file", metavar="FILE.pdf", type=Path, nargs="?",
                                   help=_("a PDF, ZPL, PNG or SVG label file")))
    p.add_argument("--url", help=_("an https:// link to the label (a signed label_url): labeld fetches it"))
    completes_files(p.add_argument("--code-file", type=Path, metavar="FILE",
                                   help=_("a file holding the label in Base64 (a label_code)")))
    completes_printers(p.add_argument("--printer", help=_("printer (default: by route, else the default printer)")))
    p.add_argument("--copies", type=int, help=_("copies of each label (default 1)"))
    p.add_argument("--posting", help=_("posting number of the label; refused when the label's own barcodes or "
                                       "text say another"))
    p.add_argument("--posting-mismatch", choices=("refuse", "accept"), default="refuse",
                   help=_("accept: print even when the label says another posting number (default refuse)"))
    p.add_argument("--wait", action="store_true", help=_("wait until every label has printed (or stopped), "
                                                         "with progress on a terminal"))
    command("printers", cmd_printers, _("printers with their state and reasons"))
    for name, text in (("pause", _("stop sending jobs to a printer")),
                       ("resume", _("send jobs to a printer again")), ("test", _("print a test label"))):
        completes_printers(command(name, cmd_printer, text).add_argument("printer", metavar="PRINTER"))
    p = command("preview", cmd_preview, _("save the exact bitmap of a job as PNG"))
    p.add_argument("job", metavar="JOB", type=job_id)
    completes_files(p.add_argument("-o", "--output", metavar="FILE.png", required=True,
                                   help=_("where to write the PNG; - writes it to standard output")))
    p = command("sources", cmd_sources, _("marketplace sources: polls, postings, trouble; pause or resume one"))
    p.add_argument("action", nargs="?", choices=["pause", "resume"], help=_("pause or resume the source NAME"))
    p.add_argument("name", nargs="?", metavar="NAME")
    p = command("fetch", cmd_fetch, _("fetch a posting's label from its marketplace now"))
    p.add_argument("posting", metavar="POSTING", help=_("Ozon posting number or Wildberries order id"))
    p.add_argument("--source", help=_("the source to ask (default: the one that has seen the posting)"))
    command("clock", cmd_clock, _("clock offset per source, threshold, state"))
    command("watch", cmd_watch, _("follow jobs, printer and clock alarms and rejected files live"))
    command("web", cmd_web, _("print a one-time login link to the station page"))
    p = command("completion", cmd_completion, _("print a shell completion script"))
    p.add_argument("shell", choices=["bash"])
    return parser


def main(argv: list[str] | None = None) -> int:
    return quiet_on_broken_pipe(lambda: run(argv))


def run(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    if args.command == "sources" and args.action and not args.name:
        parser.error(_("labelctl sources {action} NAME: name the source").format(action=args.action))
    if args.command == "print" and sum(x is not None for x in (args.file, args.url, args.code_file)) != 1:
        parser.error(_("print needs exactly one of FILE, --url URL and --code-file FILE"))
    client = Client(socket_path(args.socket))
    try:
        result = args.func(client, args)
    except DaemonUnreachable as error:
        return fail(args, EXIT_UNREACHABLE, {"code": "unreachable", "message": str(error)})
    except RequestRefused as error:
        return fail(args, EXIT_REFUSED, error.error)
    except KeyboardInterrupt:
        return EXIT_OK if args.command == "watch" else 130
    return int(result or 0)


def fail(args: argparse.Namespace, code: int, error: dict[str, Any]) -> int:
    """An error: JSON on stdout under --json (with the exit code), else one sentence on stderr."""
    if args.json:
        print(json.dumps({"error": {**error, "exit_code": code}}, indent=2, ensure_ascii=False))
    else:
        print(f"labelctl: {fmt.reason_text(error, 'reason') if error.get('reason_code') else error['message']}",
              file=sys.stderr)
    return code


def emit(args: argparse.Namespace, answer: Any, human: str) -> int:
    if args.json:
        print(json.dumps(answer, indent=2, ensure_ascii=False))
    else:
        print(human)
    return EXIT_OK


def job_id(raw: str) -> str:
    """argparse type: a job id stays text (it goes into a URL) but must be a whole number."""
    if not raw.isdigit():
        raise argparse.ArgumentTypeError(_("{raw!r} is not a job id (job ids are whole numbers like 1042)")
                                         .format(raw=raw))
    return raw


def nonempty(raw: str) -> str:
    if not raw.strip():
        raise argparse.ArgumentTypeError(_("an empty value says nothing; give one"))
    return raw


def is_job_id(target: str) -> bool:
    return target.isdigit() and len(target) <= MAX_JOB_DIGITS


def width() -> int | None:
    """The terminal's width when output goes to one (tables fit it), else None (nothing is cut)."""
    return shutil.get_terminal_size().columns if sys.stdout.isatty() else None


def color() -> bool:
    return sys.stdout.isatty() and "NO_COLOR" not in os.environ and os.environ.get("TERM") != "dumb"


# ----- commands ---------------------------------------------------------------------------------


def cmd_status(client: Client, args: argparse.Namespace) -> int:
    status = client.call("GET", "/v1/status")
    return emit(args, status, fmt.status_text(status, time.time(), width(), color()))


def cmd_jobs(client: Client, args: argparse.Namespace) -> int:
    if args.code:
        query: dict[str, Any] = {"code": args.code, "limit": args.limit}
    else:
        query = {"state": args.state, "printer": args.printer, "posting": args.posting, "document": args.document,
                 "limit": args.limit}
    answer = client.call("GET", "/v1/jobs", query=query)
    return emit(args, answer, fmt.jobs_table(answer["jobs"], time.time(), width()))


def resolve_job(client: Client, target: str) -> tuple[int, str]:
    """A job id as given, or the newest job of the label a scanned code names (with a line saying how)."""
    if is_job_id(target):
        return int(target), ""
    found = client.call("GET", "/v1/lookup", query={"code": target})
    first = found["matches"][0]
    matched = first["matched"]
    note = _("{code} is {kind} {value}").format(code=target, kind=fmt.reading_kind(matched["kind"]),
                                                 value=matched["value"])
    if len(found["matches"]) > 1:
        others = ", ".join(str(m["job"]["id"]) for m in found["matches"][1:])
        note += "; " + _("it also names jobs {others}").format(others=others)
    return int(first["job"]["id"]), note


def cmd_show(client: Client, args: argparse.Namespace) -> int:
    job_number, note = resolve_job(client, args.target)
    job = client.call("GET", f"/v1/jobs/{job_number}")
    text = fmt.job_detail(job, time.time())
    return emit(args, job, f"{note}\n{text}" if note else text)


def cmd_reprint(client: Client, args: argparse.Namespace) -> int:
    body = {"copies": args.copies, "printer": args.printer, "force": args.force}
    target = args.target
    if is_job_id(target):
        answer = client.call("POST", f"/v1/jobs/{target}/reprint", body=body)
        return emit(args, answer, _("reprint of job {job} queued as {ids}").format(
            job=target, ids=fmt.job_ids(answer["job_ids"])))
    answer = client.call("POST", "/v1/reprint", body={**body, "code": target})
    matched = answer["matched"]
    what = (_("the newest label of posting {posting}").format(posting=answer["posting_number"])
            if answer.get("posting_number") else _("label {label}").format(label=answer["label"]))
    human = _("reprint of {what} ({kind} {value}) queued as {ids}").format(
        what=what, kind=fmt.reading_kind(matched["kind"]), value=matched["value"], ids=fmt.job_ids(answer["job_ids"]))
    if answer.get("reason_code"):
        human += "\n" + fmt.reason_text(answer)
    return emit(args, answer, human)


def cmd_change(client: Client, args: argparse.Namespace) -> int:
    job = client.call("POST", f"/v1/jobs/{args.job}/{args.command}")
    return emit(args, job, _("job {id} is {state}: {reason}").format(id=job["id"], state=job["state"],
                                                                      reason=fmt.reason_text(job)))


def cmd_release(client: Client, args: argparse.Namespace) -> int:
    body = {"override": args.override} if args.override else None
    job = client.call("POST", f"/v1/jobs/{args.job}/release", body=body)
    return emit(args, job, _("job {id} is {state}: {reason}").format(id=job["id"], state=job["state"],
                                                                      reason=fmt.reason_text(job)))


def cmd_ack(client: Client, args: argparse.Namespace) -> int:
    if args.rejected:
        record = client.call("POST", f"/v1/rejected/{args.rejected}/ack")
        return emit(args, record, _("rejected file {id} ({file}) acknowledged by {by}").format(
            id=record["id"], file=record["file"], by=record["acknowledged_by"]))
    job = client.call("POST", f"/v1/jobs/{args.job}/ack")
    return emit(args, job, _("job {id}: relabel acknowledged").format(id=job["id"]))


def cmd_rejected(client: Client, args: argparse.Namespace) -> int:
    answer = client.call("GET", "/v1/rejected", query={"limit": args.limit, "today": "true" if args.today else None})
    return emit(args, answer, fmt.rejected_table(answer["rejected"], time.time(), width()))


def cmd_print(client: Client, args: argparse.Namespace) -> int:
    query = {"printer": args.printer, "copies": args.copies, "posting_number": args.posting,
             "posting_mismatch": "accept" if args.posting and args.posting_mismatch == "accept" else None}
    after = event_mark(client) if args.wait or args.posting else 0
    if args.file is None:
        answer = client.call("POST", "/v1/jobs", body={**_link_body(args), **{k: v for k, v in query.items()
                                                                               if v is not None}})
    else:
        data = _read(args.file)
        show = sys.stderr.isatty() and len(data) >= PROGRESS_BYTES and not args.json
        answer = client.upload(data, {"name": args.file.name, **query},
                               progress=_upload_progress if show else None)
        if show:
            print(file=sys.stderr)
    ids = answer["job_ids"]
    accepted = fmt.ngettext("accepted {document}: {n} label as {ids} on {printers}",
                            "accepted {document}: {n} labels as {ids} on {printers}", len(ids)).format(
        document=answer["document"], n=len(ids), ids=fmt.job_ids(ids),
        printers=", ".join(sorted(set(answer["printers"]))))
    if args.wait:
        return _wait_printed(client, args, answer, after, accepted)
    if args.posting:
        return _check_posting(client, args, answer, after, accepted)
    return emit(args, answer, accepted)


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as error:
        raise RequestRefused(0, "file", _("cannot read {file}: {error}").format(
            file=path, error=error.strerror)) from None


def _link_body(args: argparse.Namespace) -> dict[str, Any]:
    """``--url`` or ``--code-file`` as a link job's JSON (POST /v1/jobs)."""
    if args.url is not None:
        return {"label_url": args.url}
    code = _read(args.code_file).decode("ascii", "replace").strip()
    return {"label_code": code, "name": args.code_file.name}


def _upload_progress(sent: int, total: int) -> None:
    print("\r" + _("sending {percent:3d}% ({sent} of {total} MB)").format(
        percent=sent * 100 // total, sent=sent // 1_000_000, total=total // 1_000_000), end="", file=sys.stderr,
        flush=True)


def _note(text: str) -> None:
    print(f"labelctl: {text}", file=sys.stderr, flush=True)


def _wait_printed(client: Client, args: argparse.Namespace, answer: dict[str, Any], after: int,
                  accepted: str) -> int:
    """Progress on a terminal, then the summary; 4 if any label did not print."""
    if not args.json:
        print(accepted, flush=True)
    bar = progress.stderr_is_terminal() and not args.json
    batch = progress.wait_for_batch(client, answer, after, _note, show_bar=bar)
    progress.refresh_labels(client, answer["document"], batch)
    code = EXIT_NOT_PRINTED if batch.not_printed() else EXIT_OK
    if args.json:
        print(json.dumps({**answer, "results": progress.results_json(batch), "exit_code": code}, indent=2,
                         ensure_ascii=False))
    else:
        print("\n".join(progress.summary(answer["document"], batch)))
    return code


def _check_posting(client: Client, args: argparse.Namespace, answer: dict[str, Any], after: int,
                   accepted: str) -> int:
    """With --posting, wait for the labels' checks, so that a label saying another posting is refused here."""
    batch = progress.wait_for_batch(client, answer, after, _note, show_bar=False, finished=progress.CHECKED)
    refused = [job for job in answer["job_ids"] if batch.states.get(job) == "rejected"
               and str(batch.reasons.get(job, {}).get("reason_code", "")).startswith("preflight.posting_mismatch")]
    if not refused:
        return emit(args, {**answer, "results": progress.results_json(batch)}, accepted)
    error = {**{k: batch.reasons[refused[0]].get(k) for k in ("reason", "reason_code", "reason_params")},
             "code": "posting_mismatch", "message": batch.reasons[refused[0]].get("reason"), "jobs": refused}
    if not args.json:
        print(accepted)
        print(f"labelctl: {fmt.job_ids(refused)}: " + _("rejected") + f" — {fmt.reason_text(error)}",
              file=sys.stderr)
        return EXIT_REFUSED
    return fail(args, EXIT_REFUSED, error)


def cmd_printers(client: Client, args: argparse.Namespace) -> int:
    answer = client.call("GET", "/v1/printers")
    return emit(args, answer, fmt.printers_table(answer["printers"], time.time(), width()))


def cmd_printer(client: Client, args: argparse.Namespace) -> int:
    name = args.printer
    answer = client.call("POST", f"/v1/printers/{path_part(name)}/{args.command}")
    if args.command == "test":
        return emit(args, answer, _("test label queued as {ids} on {printer}").format(
            ids=fmt.job_ids(answer["job_ids"]), printer=name))
    if args.command == "pause":
        return emit(args, answer, _("printer {printer} paused; its jobs wait until `labelctl resume {printer}`")
                    .format(printer=name))
    return emit(args, answer, _("printer {printer} resumed; {n} job(s) waiting").format(printer=name,
                                                                                        n=answer["waiting"]))


def cmd_preview(client: Client, args: argparse.Namespace) -> int:
    to_stdout = args.output == "-"
    if to_stdout and sys.stdout.isatty():
        raise RequestRefused(0, "terminal", _("standard output is a terminal; redirect it (> label.png) or give "
                                              "-o FILE.png"))
    png = client.fetch(f"/v1/jobs/{args.job}/preview.png")
    if to_stdout:
        sys.stdout.buffer.write(png)
        sys.stdout.buffer.flush()
        return EXIT_OK
    output = Path(args.output)
    try:
        output.write_bytes(png)
    except OSError as error:
        raise RequestRefused(0, "file", _("cannot write {file}: {error}").format(
            file=output, error=error.strerror)) from None
    answer = {"job": int(args.job), "file": str(output), "bytes": len(png)}
    return emit(args, answer, _("wrote the bitmap of job {job} to {file}").format(job=args.job, file=output))


def cmd_sources(client: Client, args: argparse.Namespace) -> int:
    if args.action is None:
        answer = client.call("GET", "/v1/sources")
        return emit(args, answer, fmt.sources_table(answer["sources"], time.time(), width()))
    source = client.call("POST", f"/v1/sources/{path_part(args.name)}/{args.action}")
    if args.action == "pause":
        return emit(args, source, _("source {name} paused; it does not poll until `labelctl sources resume {name}`")
                    .format(name=source["name"]))
    return emit(args, source, _("source {name} polls again").format(name=source["name"]))


def cmd_fetch(client: Client, args: argparse.Namespace) -> int:
    answer = client.call("POST", f"/v1/postings/{path_part(args.posting)}/fetch", query={"source": args.source},
                         timeout=FETCH_TIMEOUT)
    return emit(args, answer, fmt.fetch_text(answer, time.time(), width()))


def cmd_clock(client: Client, args: argparse.Namespace) -> int:
    clock = client.call("GET", "/v1/clock")
    return emit(args, clock, fmt.clock_text(clock, time.time()))


def cmd_watch(client: Client, args: argparse.Namespace) -> int:
    """Long-polls ``/v1/events``: jobs, printers, the clock, rejected files, alarms; through restarts."""
    paint = color()

    def note(text: str) -> None:
        if args.json:
            _note(text)
        else:
            print(f"{fmt.clock_time(time.time())}  -- {text}", flush=True)

    after = event_mark(client)
    open_alarms = client.call("GET", "/v1/alarms")["alarms"]
    if args.json:  # the alarms already open, as one line of their own before the events
        print(json.dumps({"kind": "open-alarms", "alarms": open_alarms}, ensure_ascii=False), flush=True)
    else:
        print(_("following labeld on {socket}; Ctrl-C stops").format(socket=client.path), flush=True)
        now = time.time()
        for line in fmt.alarm_lines(open_alarms, now, paint):
            print(f"{fmt.clock_time(now)}  {line}", flush=True)
    for events in stream(client, after, note):
        for event in events:
            print(json.dumps(event, ensure_ascii=False) if args.json else fmt.event_line(event, paint), flush=True)
    return EXIT_OK


def cmd_web(client: Client, args: argparse.Namespace) -> int:
    answer = client.call("POST", "/v1/web/login")
    return emit(args, answer, answer["url"] + "\n" + _("(open it in the station's browser within {minutes:.0f} "
                                                      "min; it works once)").format(minutes=answer["expires_in"] / 60))


def cmd_completion(client: Client, args: argparse.Namespace) -> int:
    print(bash_completion(build_parser()))
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
