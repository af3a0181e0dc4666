"""``labeld-emulator ozon|wildberries``: a marketplace on loopback HTTPS for trying labeld out.

``labeld-emulator ozon --listen 127.0.0.1:8443 --out DIR [--postings N] [--ready-after S]``
(or ``wildberries … [--orders N]``) makes a CA for the run, writes ``DIR/ca.pem`` (labeld's
``ca_bundle``) and ``DIR/key`` (mode 0600: labeld's ``api_key_file``), and prints one JSON line
``{"url": …, "ca_bundle": …, "api_key_file": …, "client_id": …}``. SIGTERM or Ctrl-C stops it.
"""

from __future__ import annotations

import argparse
import json
import secrets
import signal
import threading
from pathlib import Path
from types import FrameType

from labeld.testing.marketplace import MarketplaceApp, MarketplaceServer, make_tls
from labeld.testing.ozon_emulator import OzonMarketplace
from labeld.testing.wb_emulator import WildberriesMarketplace

CLIENT_ID = "100500"


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="labeld-emulator", description=__doc__.split("\n\n")[0])
    parser.add_argument("marketplace", choices=["ozon", "wildberries"])
    parser.add_argument("--listen", default="127.0.0.1:0", help="HOST:PORT (port 0 picks one)")
    parser.add_argument("--out", type=Path, required=True, help="folder for ca.pem and key")
    parser.add_argument("--postings", "--orders", type=int, default=10, dest="count",
                        help="postings (Ozon) or orders on assembly (Wildberries) to start with")
    parser.add_argument("--ready-after", type=float, default=45.0, help="Ozon: seconds until a label exists")
    args = parser.parse_args(argv)
    tls = make_tls(args.out)
    key = secrets.token_urlsafe(24)
    key_file = args.out / "key"
    key_file.write_text(key + "\n")
    key_file.chmod(0o600)
    app: MarketplaceApp
    if args.marketplace == "ozon":
        ozon = OzonMarketplace(CLIENT_ID, key, ready_after=args.ready_after)
        ozon.add_postings(args.count)
        app = ozon
    else:
        wildberries = WildberriesMarketplace(key)
        wildberries.add_orders(args.count)
        app = wildberries
    host, _, port = args.listen.rpartition(":")
    server = MarketplaceServer(app, tls, host or "127.0.0.1", int(port))
    print(json.dumps({"url": server.url, "ca_bundle": str(tls.ca_bundle), "api_key_file": str(key_file),
                      "client_id": CLIENT_ID if args.marketplace == "ozon" else None}), flush=True)
    stop = threading.Event()

    def on_stop(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_stop)
    signal.signal(signal.SIGINT, on_stop)
    stop.wait()
    server.stop()
    return 0
