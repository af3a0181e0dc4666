"""``labelctl``: the operator's tool, a thin client of the control socket (docs/reference/labelctl.md).

Exit codes: 0 done, 1 refused or failed (the message says why), 2 usage, 3 daemon not reachable.
Human output by default; ``--json`` prints the daemon's JSON answer for scripts.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn

from labeld import __version__
from labeld.cli import formatting as fmt
from labeld.cli.client import Client, DaemonUnreachable, RequestRefused, path_part, socket_path
from labeld.cli.completion import bash_completion, completes_files, completes_printers
from labeld.cli.follow import event_mark, follow

EXIT_OK, EXIT_REFUSED, EXIT_USAGE, EXIT_UNREACHABLE = 0, 1, 2, 3
WATCH_POLL = 25.0
#: The daemon waits up to 120 s for a busy source to fetch a posting.
FETCH_TIMEOUT = 150.0
#: Uploads at least this large show a progress line on a terminal.
PROGRESS_BYTES = 2 << 20

Command = Callable[[Client, argparse.Namespace], Any]


class Usage(argparse.ArgumentParser):
    """argparse, with usage errors going to stderr as one sentence and exit code 2."""

    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        print(f"labelctl: {message}", file=sys.stderr)
        sys.exit(EXIT_USAGE)


def build_parser() -> argparse.ArgumentParser:
    parser = Usage(prog="labelctl", description="Control labeld, the label print server.")
    completes_files(parser.add_argument("--socket", metavar="PATH", help="control socket (default: "
                                        "$LABELD_SOCKET or /run/labeld/labeld.sock)"))
    parser.add_argument("--json", action="store_true", help="print the daemon's JSON answer")
    parser.add_argument("--version", action="version", version=f"labelctl {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Usage)

    def command(name: str, func: Command, text: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=text, description=text)
        p.set_defaults(func=func)
        return p

    command("status", cmd_status, "daemon, queue, printers and clock at a glance")
    p = command("jobs", cmd_jobs, "list jobs, newest first")
    p.add_argument("--state", help="only jobs in this state (queued, ready, printed, held, …)")
    completes_printers(p.add_argument("--printer", help="only jobs for this printer"))
    p.add_argument("--posting", help="only jobs of this posting number")
    p.add_argument("--limit", type=int, default=50, help="at most this many (default 50)")
    p = command("show", cmd_show, "one job with its label, document and history")
    p.add_argument("job", metavar="JOB", type=job_id)
    p = command("reprint", cmd_reprint, "print a job's label again, or the newest label of a posting")
    p.add_argument("target", metavar="JOB|POSTING")
    p.add_argument("--copies", type=int, default=1)
    completes_printers(p.add_argument("--printer", help="print on this printer instead"))
    p.add_argument("--force", action="store_true", help="print even an expired or superseded label")
    for name, text in (("cancel", "cancel a job that has not printed"), ("hold", "hold a queued or ready job"),
                       ("release", "print a held job (checked again; expiry no longer holds it)")):
        command(name, cmd_change, text).add_argument("job", metavar="JOB", type=job_id)
    p = command("print", cmd_print, "send a PDF to labeld")
    completes_files(p.add_argument("file", metavar="FILE.pdf", type=Path))
    completes_printers(p.add_argument("--printer", help="printer (default: by route, else the default printer)"))
    p.add_argument("--copies", type=int)
    p.add_argument("--posting", help="posting number of the label")
    p.add_argument("--wait", action="store_true", help="wait until every label has printed (or stopped)")
    command("printers", cmd_printers, "printers with their state and reasons")
    for name, text in (("pause", "stop sending jobs to a printer"), ("resume", "send jobs to a printer again"),
                       ("test", "print a test label")):
        completes_printers(command(name, cmd_printer, text).add_argument("printer", metavar="PRINTER"))
    p = command("preview", cmd_preview, "save the exact bitmap of a job as PNG")
    p.add_argument("job", metavar="JOB", type=job_id)
    completes_files(p.add_argument("-o", "--output", metavar="FILE.png", type=Path, required=True))
    p = command("sources", cmd_sources, "marketplace sources: polls, postings, trouble; pause or resume one")
    p.add_argument("action", nargs="?", choices=["pause", "resume"], help="pause or resume the source NAME")
    p.add_argument("name", nargs="?", metavar="NAME")
    p = command("fetch", cmd_fetch, "fetch a posting's label from its marketplace now")
    p.add_argument("posting", metavar="POSTING", help="Ozon posting number or Wildberries order id")
    p.add_argument("--source", help="the source to ask (default: the one that has seen the posting)")
    command("clock", cmd_clock, "clock offset per source, threshold, state")
    command("watch", cmd_watch, "follow job state changes live until interrupted")
    command("web", cmd_web, "print a one-time login link to the station page")
    p = command("completion", cmd_completion, "print a shell completion script")
    p.add_argument("shell", choices=["bash"])
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    client = Client(socket_path(args.socket))
    try:
        result = args.func(client, args)
    except DaemonUnreachable as error:
        print(f"labelctl: {error}", file=sys.stderr)
        return EXIT_UNREACHABLE
    except RequestRefused as error:
        print(f"labelctl: {error.message}", file=sys.stderr)
        return EXIT_REFUSED
    except KeyboardInterrupt:
        return EXIT_OK if args.command == "watch" else 130
    return int(result or 0)


def emit(args: argparse.Namespace, answer: Any, human: str) -> int:
    if args.json:
        print(json.dumps(answer, indent=2, ensure_ascii=False))
    else:
        print(human)
    return EXIT_OK


def job_id(raw: str) -> str:
    """argparse type: a job id stays text (it goes into a URL) but must be a whole number."""
    if not raw.isdigit():
        raise argparse.ArgumentTypeError(f"{raw!r} is not a job id (job ids are whole numbers like 1042)")
    return raw


# ----- commands ---------------------------------------------------------------------------------


def cmd_status(client: Client, args: argparse.Namespace) -> int:
    status = client.call("GET", "/v1/status")
    return emit(args, status, fmt.status_text(status, time.time()))


def cmd_jobs(client: Client, args: argparse.Namespace) -> int:
    query = {"state": args.state, "printer": args.printer, "posting": args.posting, "limit": args.limit}
    answer = client.call("GET", "/v1/jobs", query=query)
    return emit(args, answer, fmt.jobs_table(answer["jobs"], time.time()))


def cmd_show(client: Client, args: argparse.Namespace) -> int:
    job = client.call("GET", f"/v1/jobs/{args.job}")
    return emit(args, job, fmt.job_detail(job, time.time()))


def cmd_reprint(client: Client, args: argparse.Namespace) -> int:
    body = {"copies": args.copies, "printer": args.printer, "force": args.force}
    target = args.target
    where = f"/v1/jobs/{target}" if target.isdigit() else f"/v1/postings/{path_part(target)}"
    answer = client.call("POST", f"{where}/reprint", body=body)
    what = f"job {target}" if target.isdigit() else f"the newest label of posting {target}"
    return emit(args, answer, f"reprint of {what} queued as {fmt.job_ids(answer['job_ids'])}")


def cmd_change(client: Client, args: argparse.Namespace) -> int:
    job = client.call("POST", f"/v1/jobs/{args.job}/{args.command}")
    return emit(args, job, f"job {job['id']} is {job['state']}: {job['reason']}")


def cmd_print(client: Client, args: argparse.Namespace) -> int:
    try:
        data = args.file.read_bytes()
    except OSError as error:
        raise RequestRefused(0, "file", f"cannot read {args.file}: {error.strerror}") from None
    query = {"name": args.file.name, "printer": args.printer, "copies": args.copies, "posting_number": args.posting}
    show = sys.stderr.isatty() and len(data) >= PROGRESS_BYTES and not args.json
    mark = event_mark(client) if args.wait else 0
    answer = client.upload(data, query, progress=_upload_progress if show else None)
    if show:
        print(file=sys.stderr)
    ids = answer["job_ids"]
    printers = ", ".join(sorted(set(answer["printers"])))
    code = emit(args, answer, f"accepted {answer['document']}: {len(ids)} label{'s' if len(ids) != 1 else ''} "
                f"as {fmt.job_ids(ids)} on {printers}")
    if args.wait:
        return _wait_printed(client, ids, mark, show_progress=sys.stderr.isatty())
    return code


def _upload_progress(sent: int, total: int) -> None:
    print(f"\rsending {sent * 100 // total:3d}% ({sent // 1_000_000} of {total // 1_000_000} MB)", end="",
          file=sys.stderr, flush=True)


def _wait_printed(client: Client, ids: list[int], mark: int, show_progress: bool) -> int:
    """Follow the events of ``ids`` until each has finished; 1 if any did not print."""

    def progress(states: dict[int, str]) -> None:
        done = sum(s == "printed" for s in states.values())
        print(f"\rprinted {done} of {len(ids)}", end="", file=sys.stderr, flush=True)

    states = follow(client, ids, mark, poll=WATCH_POLL, on_tick=progress if show_progress else None)
    if show_progress:
        print(file=sys.stderr)
    failed = [i for i in ids if states.get(i) != "printed"]
    if failed:
        print(f"labelctl: {fmt.job_ids(failed)} did not print; `labelctl show` says why", file=sys.stderr)
        return EXIT_REFUSED
    return EXIT_OK


def cmd_printers(client: Client, args: argparse.Namespace) -> int:
    answer = client.call("GET", "/v1/printers")
    return emit(args, answer, fmt.printers_table(answer["printers"], time.time()))


def cmd_printer(client: Client, args: argparse.Namespace) -> int:
    name = args.printer
    answer = client.call("POST", f"/v1/printers/{path_part(name)}/{args.command}")
    if args.command == "test":
        return emit(args, answer, f"test label queued as {fmt.job_ids(answer['job_ids'])} on {name}")
    if args.command == "pause":
        return emit(args, answer, f"printer {name} paused; its jobs wait until `labelctl resume {name}`")
    return emit(args, answer, f"printer {name} resumed; {answer['waiting']} job(s) waiting")


def cmd_preview(client: Client, args: argparse.Namespace) -> int:
    png = client.fetch(f"/v1/jobs/{args.job}/preview.png")
    try:
        args.output.write_bytes(png)
    except OSError as error:
        raise RequestRefused(0, "file", f"cannot write {args.output}: {error.strerror}") from None
    answer = {"job": int(args.job), "file": str(args.output), "bytes": len(png)}
    return emit(args, answer, f"wrote the bitmap of job {args.job} to {args.output}")


def cmd_sources(client: Client, args: argparse.Namespace) -> int:
    if args.action is None:
        answer = client.call("GET", "/v1/sources")
        return emit(args, answer, fmt.sources_table(answer["sources"], time.time()))
    if not args.name:
        raise RequestRefused(0, "usage", f"labelctl sources {args.action} NAME: name the source")
    source = client.call("POST", f"/v1/sources/{path_part(args.name)}/{args.action}")
    words = "paused; it does not poll until `labelctl sources resume`" if args.action == "pause" else "polls again"
    return emit(args, source, f"source {source['name']} {words}")


def cmd_fetch(client: Client, args: argparse.Namespace) -> int:
    answer = client.call("POST", f"/v1/postings/{path_part(args.posting)}/fetch", query={"source": args.source},
                         timeout=FETCH_TIMEOUT)
    return emit(args, answer, fmt.fetch_text(answer, time.time()))


def cmd_clock(client: Client, args: argparse.Namespace) -> int:
    clock = client.call("GET", "/v1/clock")
    return emit(args, clock, fmt.clock_text(clock, time.time()))


def cmd_watch(client: Client, args: argparse.Namespace) -> int:
    """Long-polls ``/v1/events``: each request waits in the daemon until something changes."""
    last = client.call("GET", "/v1/events", query={"timeout": 0})["last"]
    if not args.json:
        print(f"following labeld on {client.path}; Ctrl-C stops", flush=True)
    while True:
        answer = client.call("GET", "/v1/events", query={"after": last, "timeout": WATCH_POLL},
                             timeout=WATCH_POLL + 15)
        last = answer["last"]
        for event in answer["events"]:
            print(json.dumps(event, ensure_ascii=False) if args.json else fmt.event_line(event), flush=True)


def cmd_web(client: Client, args: argparse.Namespace) -> int:
    answer = client.call("POST", "/v1/web/login")
    return emit(args, answer, f"{answer['url']}\n(open it in the station's browser within "
                f"{answer['expires_in'] / 60:.0f} min; it works once)")


def cmd_completion(client: Client, args: argparse.Namespace) -> int:
    print(bash_completion(build_parser()))
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
