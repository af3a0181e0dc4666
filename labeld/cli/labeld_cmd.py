"""``labeld``: run the daemon, check a config, convert or pre-flight a PDF without a daemon."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from labeld import __version__
from labeld.cli.pipes import quiet_on_broken_pipe
from labeld.config import Config, PrinterConfig, config_warnings, describe, load_config, resolve_config
from labeld.errors import ConfigError, LabeldError

DEFAULT_DPI = {"brother_ql": 300, "zpl": 203, "preview": 300}
DEFAULT_MEDIA = {"brother_ql": "62", "zpl": "75x120mm", "preview": "75x120mm"}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="labeld", description="Print-server daemon for thermal shipping labels.")
    parser.add_argument("--version", action="version", version=f"labeld {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = commands.add_parser("run", help="run the daemon")
    run.add_argument("--config", type=Path, help="config file (default: /etc/labeld/config.toml, else built-in)")
    run.add_argument("--log-format", choices=("json", "console"), help="default: console on a terminal, else json")

    check = commands.add_parser("check-config", help="validate a config file and print what would run")
    check.add_argument("file", type=Path)

    commands.add_parser("hash-password", help="read a password (twice) and print the hash for [web] password_file")

    for name, helptext in (("convert", "the whole pipeline into a file of printer bytes"),
                           ("preflight", "the pre-flight checks alone, as JSON")):
        sub = commands.add_parser(name, help=helptext)
        sub.add_argument("input", type=Path, metavar="IN.pdf")
        if name == "convert":
            sub.add_argument("--driver", choices=("brother_ql", "zpl", "preview"), required=True)
            sub.add_argument("--model", default="")
            sub.add_argument("-o", "--output", type=Path, required=True, metavar="OUT")
            sub.add_argument("--copies", type=int, default=1)
        else:
            sub.add_argument("--driver", choices=("brother_ql", "zpl", "preview"), default="preview")
        sub.add_argument("--media", help="62 | 62x29 | 75x120mm | 58x40mm …")
        sub.add_argument("--dpi", type=int)
    return parser


def main(argv: list[str] | None = None) -> int:
    return quiet_on_broken_pipe(lambda: run(argv))


def run(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        handler = {"run": cmd_run, "check-config": cmd_check_config, "convert": cmd_convert,
                   "preflight": cmd_preflight, "hash-password": cmd_hash_password}[args.command]
        return handler(args)
    except ConfigError as error:
        print("labeld: the configuration has errors:", file=sys.stderr)
        for problem in error.problems:
            print(f"  {problem}", file=sys.stderr)
        return 2
    except LabeldError as error:
        print(f"labeld: {error}", file=sys.stderr)
        return 1
    except ValueError as error:  # a --media or --model that names nothing (parse_media, the drivers)
        print(f"labeld: {error}", file=sys.stderr)
        return 2


def cmd_run(args: argparse.Namespace) -> int:
    from labeld.api.server import ApiServer
    from labeld.daemon.app import Daemon
    from labeld.daemon.logs import configure_logging
    from labeld.web import WebServer

    config = resolve_config(args.config)
    configure_logging(config.daemon.log_level, json=None if args.log_format is None else args.log_format == "json")
    if config.source is None:
        print(f"labeld: no config file; running on built-in defaults in {config.daemon.state_dir.parent}/ — "
              f"drop PDFs into {config.intake.hot_folder}/ and find PNGs in "
              f"{config.default_printer.uri.removeprefix('dir://')}/; control socket {config.daemon.socket} "
              "(labelctl finds it when run from this folder)", file=sys.stderr)
    if config.web.listen:
        print(f"labeld: the station page listens on {', '.join(config.web.listen)}; `labelctl --socket "
              f"{config.daemon.socket} web` prints a login link", file=sys.stderr)
    Daemon(config, frontends=[ApiServer, WebServer]).run()
    return 0


def cmd_hash_password(args: argparse.Namespace) -> int:
    """Typed twice on a terminal; read as one line from a pipe (for scripts)."""
    import getpass

    from labeld.web.security import hash_password

    if sys.stdin.isatty():
        password = getpass.getpass("password for the station page: ")
        if getpass.getpass("again: ") != password:
            print("labeld: the two passwords differ; nothing written", file=sys.stderr)
            return 1
    else:
        password = sys.stdin.readline().rstrip("\n")
    if len(password) < 8:
        print("labeld: use at least 8 characters", file=sys.stderr)
        return 1
    print(hash_password(password))
    return 0


def cmd_check_config(args: argparse.Namespace) -> int:
    config = load_config(args.file)
    _refuse_cups_loops(config, args.file)
    print(describe(config), end="")
    for warning in config_warnings(config):
        print(f"# warning: {warning}", file=sys.stderr)
    print(f"# {args.file}: OK, {len(config.printers)} printer(s)", file=sys.stderr)
    return 0


def _refuse_cups_loops(config: Config, path: Path) -> None:
    """A ``cups`` printer whose queue feeds labeld (a ``labeld:/`` queue) is an error; CUPS is asked."""
    from labeld.drivers.base import make_driver
    from labeld.drivers.cups import CupsDriver

    problems = []
    for printer in config.printers:
        driver = make_driver(printer) if printer.driver == "cups" else None
        if not isinstance(driver, CupsDriver):
            continue
        try:
            loop = driver.loop()
        except LabeldError as error:
            print(f"# note: could not ask CUPS whether printer {printer.name!r} feeds labeld back: {error}",
                  file=sys.stderr)
            continue
        if loop:
            problems.append(f"{path}: [[printer]] {printer.name} uri: {loop}")
    if problems:
        raise ConfigError(problems)


def _printer(args: argparse.Namespace) -> PrinterConfig:
    driver = args.driver
    return PrinterConfig(name="convert", driver=driver, uri="dir:///dev/null",
                         media=args.media or DEFAULT_MEDIA[driver], model=getattr(args, "model", ""),
                         dpi=args.dpi or DEFAULT_DPI[driver])


def cmd_convert(args: argparse.Namespace) -> int:
    from labeld.convert import convert_document

    report = convert_document(args.input, _printer(args), args.output, copies=args.copies)
    for line in report.lines():
        print(line, file=sys.stderr)
    return 0 if report.ok else 1


def cmd_preflight(args: argparse.Namespace) -> int:
    from labeld.convert import preflight_document

    report: dict[str, Any] = preflight_document(args.input, _printer(args))
    print(json.dumps(report, indent=2, ensure_ascii=False))
    return 0 if report["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
