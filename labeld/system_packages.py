"""What a configuration needs from the operating system, beyond labeld's own virtualenv.

Most printers need nothing: labeld talks to them over TCP, USB or a device node with its own
Python libraries. A ``cups`` printer (``driver = "cups"`` or a ``cups://`` URI) needs pycups, the
``cups`` extra, which has no wheels and builds against the CUPS client library's headers. A CUPS
queue on this machine needs a CUPS server there too, with the backend that reaches the printer
(``socket``, ``usb``, ``lpd`` are in the package ``cups``) and, for PDF queues, CUPS's filters.
A CUPS queue that feeds labeld (``install.sh --cups-queue``, docs/operators/cups-queue.md) needs
the CUPS server too, with the filters (and Ghostscript) that turn what clients send into PDF.

``scripts/install.sh`` runs this module with the system's Python before any virtualenv exists, so
it imports only the standard library (and labeld's URI parser): it reads the printers' ``driver``,
``uri`` and ``format`` from the TOML itself and leaves checking the rest to ``labeld check-config``::

    python3 -m labeld.system_packages [--root DIR] [--cups-queue] [/etc/labeld/config.toml]

One line per need: ``extra NAME WHY`` (a pip extra of labeld) or ``deb PACKAGE WHY``. ``--root``
is where ``/etc/cups/client.conf`` is looked for (a staged install's DESTDIR).
"""

from __future__ import annotations

import argparse
import sys
import tomllib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from labeld.devices.cups import parse_cups_uri
from labeld.errors import DeviceError

#: pycups is built from source: a compiler, Python's headers and libcups2-dev (headers and cups-config).
PYCUPS_BUILD = ("gcc", "python3-dev", "pkg-config", "libcups2-dev")
#: A CUPS server on this machine: cupsd, lpadmin to create the queue, and the backends.
LOCAL_SERVER = ("cups-daemon", "cups-client", "cups")
#: A PDF queue turns the PDF into the printer's language with CUPS's filters.
PDF_FILTERS = ("cups-filters",)
#: A queue feeding labeld takes PostScript, images and text from clients and makes PDF of them.
QUEUE_FILTERS = ("cups-filters", "ghostscript")
LOCAL_HOSTS = ("localhost", "127.0.0.1", "::1")


@dataclass(frozen=True)
class PrinterUse:
    """The three keys of a ``[[printer]]`` table that decide what it needs."""

    name: str
    driver: str
    uri: str
    format: str = ""

    @property
    def uses_cups(self) -> bool:
        return self.driver == "cups" or self.uri.startswith("cups://")


def printers_in(text: str) -> list[PrinterUse]:
    """The ``[[printer]]`` tables of a config's TOML text (raises ``tomllib.TOMLDecodeError``)."""
    tables = tomllib.loads(text).get("printer", [])
    return [PrinterUse(str(t.get("name", "?")), str(t.get("driver", "")), str(t.get("uri", "")),
                       str(t.get("format", ""))) for t in tables if isinstance(t, dict)]


@dataclass(frozen=True)
class Need:
    kind: str  # "extra" (a pip extra of labeld) or "deb" (a Debian package)
    name: str
    why: str

    def line(self) -> str:
        return f"{self.kind} {self.name} {self.why}"


def needs(printers: Iterable[PrinterUse], client_conf: Path = Path("/etc/cups/client.conf"), *,
          cups_queue: bool = False) -> list[Need]:
    """Every extra and Debian package these printers (and a CUPS queue feeding labeld, with
    ``cups_queue``) need, each once, in install order."""
    found: dict[tuple[str, str], Need] = {}

    def add(kind: str, names: tuple[str, ...], why: str) -> None:
        for name in names:
            found.setdefault((kind, name), Need(kind, name, why))

    default_server = _server_name(client_conf)
    for printer in printers:
        if not printer.uses_cups:
            continue
        add("extra", ("cups",), f"printer {printer.name!r} prints through CUPS with pycups")
        add("deb", PYCUPS_BUILD, "pycups builds against the CUPS client library (libcups2-dev)")
        if _on_this_machine(printer.uri, default_server):
            add("deb", LOCAL_SERVER, f"printer {printer.name!r} is a CUPS queue on this machine: cupsd, "
                                     "lpadmin and the socket/usb/lpd backends")
            if printer.format in ("", "pdf"):
                add("deb", PDF_FILTERS, f"printer {printer.name!r} sends PDF, which CUPS's filters convert")
    if cups_queue:
        add("deb", LOCAL_SERVER + QUEUE_FILTERS, "the CUPS queue feeding labeld needs cupsd, lpadmin and the "
                                                 "filters that make PDF of what clients send")
    return list(found.values())


def _on_this_machine(uri: str, default_server: str | None) -> bool:
    """True for a queue on this machine's CUPS: a Unix socket, a loopback host, or the default
    server when client.conf names none (or a local one)."""
    try:
        target = parse_cups_uri(urlsplit(uri), uri)
    except DeviceError:
        return False
    host = target.host if target.host is not None else default_server
    return host is None or host.startswith("/") or host in LOCAL_HOSTS


def _server_name(client_conf: Path) -> str | None:
    """The ``ServerName`` of CUPS's client.conf (host, host:port or a socket path), if any."""
    try:
        lines = client_conf.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return None
    for line in lines:
        words = line.split()
        if len(words) == 2 and words[0].lower() == "servername":
            host = words[1]
            return host if host.startswith("/") else host.rsplit(":", 1)[0].strip("[]")
    return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python3 -m labeld.system_packages", description=__doc__.split("\n")[0])
    parser.add_argument("config", type=Path, nargs="?", help="labeld's configuration (none: no printers)")
    parser.add_argument("--cups-queue", action="store_true", help="a CUPS queue feeding labeld is wanted too")
    parser.add_argument("--root", type=Path, default=Path("/"), help="where etc/cups/client.conf is (DESTDIR)")
    args = parser.parse_args(argv)
    try:
        printers = printers_in(args.config.read_text(encoding="utf-8")) if args.config else []
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as error:
        print(f"cannot tell what {args.config} needs: {error}", file=sys.stderr)
        return 1
    for need in needs(printers, args.root / "etc" / "cups" / "client.conf", cups_queue=args.cups_queue):
        print(need.line())
    return 0


if __name__ == "__main__":
    sys.exit(main())
