"""``labeld-emulator``: a label printer on a socket that decodes what it receives.

(``labeld-emulator ozon|wildberries …`` runs a marketplace instead: ``labeld.testing.marketplace_cli``.)

``labeld-emulator brother_ql|zpl --listen HOST:PORT --out DIR [--model M] [--media …] [--dpi N]
[--speed MM_PER_S] [--fault KIND@N] [--pty PATH] [--usb-socket PATH] [--snmp HOST:PORT]``. Once it
listens it prints one JSON line on stdout (``{"tcp": "tcp://127.0.0.1:40123", "pty": ...,
"usb_socket": ..., "snmp": "127.0.0.1:40161"}``) so that a caller that asked for port 0 learns the
port. ``--snmp`` adds the printer's network card: an SNMP agent on UDP (v2c community from
``--snmp-community-file``, default ``public``; an SNMPv3 user with ``--snmp-user`` and key files).
SIGUSR1 clears a fault (a person loading paper); SIGTERM and SIGINT stop it. The signal handlers
only set flags.
"""

from __future__ import annotations

import argparse
import importlib
import json
import signal
import sys
import threading
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING

from labeld.testing.emulator_base import DEFAULT_SPEED_MM_S, Emulator, Fault, PrinterCore, PtyServer, TcpServer
from labeld.testing.snmp_agent import SnmpAgent, V3User

if TYPE_CHECKING:
    from labeld.testing.virtual_usb import UsbSocketServer

MARKETPLACES = ("ozon", "wildberries")
LANGUAGES = {"brother_ql": "labeld.testing.brother_emulator", "zpl": "labeld.testing.zpl_emulator"}
DEFAULT_USB_IDS = {"brother_ql": (0x04F9, 0x209D), "zpl": (0x0A5F, 0x0120)}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="labeld-emulator", description=__doc__.split("\n\n")[0])
    parser.add_argument("language", choices=sorted(LANGUAGES))
    parser.add_argument("--listen", default="127.0.0.1:9100", help="HOST:PORT for raw TCP (port 0 picks one)")
    parser.add_argument("--out", type=Path, required=True, help="folder for NNNN.png and events.jsonl")
    parser.add_argument("--model", default="", help="printer model, e.g. QL-820NWB")
    parser.add_argument("--media", default="", help="loaded media: Brother id (62, 62x29) or WxHmm")
    parser.add_argument("--dpi", type=int, default=0)
    parser.add_argument("--speed", type=float, default=None,
                        help="print speed in mm/s (default: the model's, Brother QL 176, ZPL 152)")
    parser.add_argument("--fault", action="append", default=[], type=Fault.parse,
                        help="paper-out@N, cover-open@N, jam@N, offline@N, disconnect@N, power-cycle@N "
                             "or slow (repeatable)")
    parser.add_argument("--pty", type=Path, help="also serve a pty; PATH becomes a symlink to its slave")
    parser.add_argument("--usb-socket", type=Path, help="also serve virtual USB on this Unix socket")
    parser.add_argument("--usb-id", default="", help="VENDOR:PRODUCT for virtual USB, e.g. 0x04f9:0x209d")
    parser.add_argument("--serial", default="000G0Z123456", help="serial number (virtual USB, SNMP)")
    parser.add_argument("--snmp", default="", help="also answer SNMP on UDP HOST:PORT (port 0 picks one)")
    parser.add_argument("--snmp-community-file", type=Path, help="file holding the v2c community (default public)")
    parser.add_argument("--snmp-user", default="", help="an SNMPv3 user (SHA authentication, AES privacy)")
    parser.add_argument("--snmp-auth-file", type=Path, help="file holding the v3 user's authentication key")
    parser.add_argument("--snmp-priv-file", type=Path, help="file holding the v3 user's privacy key")
    parser.add_argument("--counter-start", type=int, default=1000, help="the page counter before the first label")
    return parser.parse_args(argv)


def make_core(language: str, model: str, media: str, dpi: int) -> PrinterCore:
    """The language's core; modules are imported only when asked for (zpl ships separately)."""
    module = importlib.import_module(LANGUAGES[language])
    core: PrinterCore = module.make_core(model=model, media=media, dpi=dpi)
    return core


def default_speed(language: str) -> float:
    """The print speed of the language's reference printer, from its core module: a QL-820NWB
    and a ZD420 differ, and a test of timing should see the printer it names."""
    module = importlib.import_module(LANGUAGES[language])
    return float(getattr(module, "DEFAULT_SPEED_MM_S", DEFAULT_SPEED_MM_S))


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] in MARKETPLACES:
        from labeld.testing.marketplace_cli import main as marketplace_main

        return marketplace_main(argv)
    args = parse_args(argv)
    try:
        core = make_core(args.language, args.model, args.media, args.dpi)
    except (ValueError, KeyError, LookupError) as error:
        print(f"labeld-emulator: {error}", file=sys.stderr)
        return 2
    speed = args.speed if args.speed is not None else default_speed(args.language)
    emulator = Emulator(core, args.out, speed_mm_s=speed, faults=tuple(args.fault), name=args.language)
    host, _, port = args.listen.rpartition(":")
    servers: list[TcpServer | PtyServer] = [TcpServer(emulator, host or "127.0.0.1", int(port))]
    ready: dict[str, str | None] = {"tcp": servers[0].uri, "pty": None, "usb_socket": None}
    if args.pty:
        servers.append(PtyServer(emulator, args.pty))
        ready["pty"] = str(args.pty)
    usb_server = _serve_usb(emulator, args) if args.usb_socket else None
    ready["usb_socket"] = str(args.usb_socket) if usb_server else None
    agent = _serve_snmp(emulator, args) if args.snmp else None
    ready["snmp"] = agent.address if agent else None
    print(json.dumps(ready), flush=True)
    _run_until_stopped(emulator)
    for server in servers:
        server.stop()
    if usb_server is not None:
        usb_server.stop()
    if agent is not None:
        agent.stop()
    emulator.close()
    return 0


def _serve_usb(emulator: Emulator, args: argparse.Namespace) -> UsbSocketServer:
    from labeld.testing.virtual_usb import UsbSocketServer

    vendor, product = DEFAULT_USB_IDS[args.language]
    if args.usb_id:
        vendor_text, _, product_text = args.usb_id.partition(":")
        vendor, product = int(vendor_text, 16), int(product_text, 16)
    return UsbSocketServer(emulator, args.usb_socket, vendor=vendor, product=product, serial=args.serial or None,
                           product_name=args.model or args.language,
                           manufacturer="Brother" if args.language == "brother_ql" else "Zebra Technologies")


def _serve_snmp(emulator: Emulator, args: argparse.Namespace) -> SnmpAgent:
    def secret(path: Path | None) -> str:
        return path.read_text(encoding="utf-8").strip() if path else ""

    host, _, port = args.snmp.rpartition(":")
    users = [V3User(args.snmp_user, secret(args.snmp_auth_file), secret(args.snmp_priv_file))] if args.snmp_user else []
    maker = "Brother" if args.language == "brother_ql" else "Zebra Technologies"
    community = secret(args.snmp_community_file) or "public"
    return SnmpAgent(emulator, host or "127.0.0.1", int(port or 0), community=community, users=users,
                     serial=args.serial, counter_start=args.counter_start,
                     description=f"{maker} {args.model or args.language} (labeld emulator)")


def _run_until_stopped(emulator: Emulator) -> None:
    stop = threading.Event()
    clear = threading.Event()

    def on_stop(signum: int, frame: FrameType | None) -> None:
        stop.set()

    def on_clear(signum: int, frame: FrameType | None) -> None:
        clear.set()

    signal.signal(signal.SIGTERM, on_stop)
    signal.signal(signal.SIGINT, on_stop)
    signal.signal(signal.SIGUSR1, on_clear)
    while not stop.wait(0.05):
        if clear.is_set():
            clear.clear()
            emulator.clear_fault()


if __name__ == "__main__":
    sys.exit(main())
