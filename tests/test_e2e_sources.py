"""Marketplace sources through the real daemon: labels fetched over HTTPS from the emulators,
printed on the printer emulators, every printed barcode decoded.

The daemon runs in a child process with ``[[source]]`` tables pointing at an Ozon or Wildberries
emulator on loopback TLS (a CA made for the test, given to labeld as the source's ``ca_bundle``
and as ``[links] ca_bundle``, which Ozon's ``file_url`` is fetched with); the key is
in a file of mode 0600. Printers are the ZPL and Brother emulators on TCP.
"""

from __future__ import annotations

import json
import random
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from labeld.cli.client import Client
from labeld.testing.crash import count_postings, make_tcp_emulator, printer_table
from labeld.testing.daemon import DaemonProcess
from labeld.testing.emulator_base import Emulator, TcpServer
from labeld.testing.marketplace import MarketplaceServer, Tls, make_tls
from labeld.testing.ozon_emulator import OzonMarketplace
from labeld.testing.wb_emulator import WildberriesMarketplace

KEY = "OZON-e2e-KEY-7c1d0f55aa"
TOKEN = "WB-e2e-TOKEN-90ab12cd"
FAST_MM_S = 5000.0


@pytest.fixture
def tls(tmp_path: Path) -> Tls:
    return make_tls(tmp_path / "tls")


@pytest.fixture
def printers(tmp_path: Path) -> Iterator[dict[str, tuple[Emulator, TcpServer]]]:
    """A Zebra (203 dpi) and a Brother QL (62 mm tape) on TCP."""
    made = {}
    for language in ("zpl", "brother_ql"):
        emulator = make_tcp_emulator(language, tmp_path / f"out-{language}", FAST_MM_S)
        made[language] = (emulator, TcpServer(emulator))
    yield made
    for emulator, server in made.values():
        server.stop()
        emulator.close()


def secret_file(tmp_path: Path, value: str, name: str = "key") -> Path:
    path = tmp_path / name
    path.write_text(value + "\n")
    path.chmod(0o600)
    return path


def ozon_source(server: MarketplaceServer, tls: Tls, key: Path, **extra: Any) -> dict[str, Any]:
    return {"name": "shop", "type": "ozon", "client_id": "777", "api_key_file": str(key), "base_url": server.url,
            "ca_bundle": str(tls.ca_bundle), "interval": "1s", "not_ready_retry": "1s", "max_backoff": "3s",
            "rate": 50, **extra}


def links_trust(tls: Tls) -> dict[str, dict[str, Any]]:
    """Ozon's file_url is fetched by the link intake, which trusts [links] ca_bundle (#16)."""
    return {"links": {"ca_bundle": str(tls.ca_bundle)}}


def zebra(printers: dict[str, tuple[Emulator, TcpServer]], media: str = "75x120mm") -> dict[str, Any]:
    return {**printer_table("zpl", printers["zpl"][1].uri), "media": media}


def labelctl(daemon: DaemonProcess, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "labeld.cli.labelctl", "--socket", str(daemon.socket), *args],
                          capture_output=True, text=True, timeout=180)


def test_120_postings_over_several_polls_print_once_each(tmp_path: Path, tls: Tls, printers: Any,
                                                         daemons: list[DaemonProcess]) -> None:
    """120 postings arriving in three waves, some not ready at first: 120 labels, each printed once, decoded."""
    app = OzonMarketplace("777", KEY)
    server = MarketplaceServer(app, tls)
    try:
        expected = app.add_postings(40, first=50000000, ready_after=2.0)
        daemon = DaemonProcess(tmp_path / "labeld", printers=[zebra(printers)],
                               sources=[ozon_source(server, tls, secret_file(tmp_path, KEY))],
                               sections=links_trust(tls))
        daemons.append(daemon.start())
        for wave in (1, 2):
            daemon.wait_for(lambda wanted=40 * wave: len(daemon.jobs()) >= wanted, 300, f"wave {wave}")
            expected += app.add_postings(40, first=50000000 + 40 * wave, ready_after=random.choice((0.0, 1.5)))
        daemon.wait_states(120, timeout=600)  # hang bounds: this test took 95 s at load 11 on 2 cores
        emulator = printers["zpl"][0]
        printed, unreadable = count_postings(emulator.labels)
        assert unreadable == 0
        assert printed == Counter(dict.fromkeys(expected, 1))
        assert {j["posting"] for j in daemon.jobs()} == set(expected)
        assert all(j["tracking"] == app.postings[j["posting"]].tracking for j in daemon.jobs())
        sources = json.loads(labelctl(daemon, "--json", "sources").stdout)["sources"]
        assert sources[0]["postings"] == {"seen": 120, "waiting": 0, "fetched": 120, "failed": 0, "printed": 120}
        metrics = Client(daemon.socket).fetch("/metrics").decode()
        assert 'labeld_source_labels_fetched_total{source="shop"} 120.0' in metrics
    finally:
        server.stop()


def test_kill_9_while_polling_and_fetching_loses_and_repeats_nothing(tmp_path: Path, tls: Tls, printers: Any,
                                                                     daemons: list[DaemonProcess]) -> None:
    """SIGKILL at random moments while labels are listed, fetched and printed: every posting gets one
    document and comes out at most once (once, unless its job is uncertain)."""
    rng = random.Random(17)
    app = OzonMarketplace("777", KEY)
    server = MarketplaceServer(app, tls)
    try:
        expected = app.add_postings(30, first=60000000, ready_after=1.0)
        daemon = DaemonProcess(tmp_path / "labeld", printers=[zebra(printers)],
                               sources=[ozon_source(server, tls, secret_file(tmp_path, KEY))],
                               sections=links_trust(tls))
        for round_ in range(6):
            daemon.start()
            time.sleep(rng.uniform(0.2, 2.5))
            daemon.kill()
            if round_ == 2:
                expected += app.add_postings(10, first=60000030)
        daemons.append(daemon.start())
        daemon.wait_for(lambda: len(daemon.jobs()) == 40 and all(
            j["state"] in ("printed", "uncertain") for j in daemon.jobs()), 600, "40 jobs printed or uncertain")
        jobs = daemon.jobs()
        assert Counter(j["posting"] for j in jobs) == Counter(dict.fromkeys(expected, 1))
        assert daemon.query("SELECT COUNT(*) FROM documents")[0][0] == 40
        printed, unreadable = count_postings(printers["zpl"][0].labels)
        assert unreadable == 0
        for job in jobs:
            came_out = printed.get(job["posting"], 0)
            assert came_out == 1 if job["state"] == "printed" else came_out <= 1, job
    finally:
        server.stop()


def test_a_missing_or_readable_key_file_is_a_config_error(tmp_path: Path, tls: Tls) -> None:
    """labeld refuses to start, naming the key file and what is wrong with it (never its content)."""
    app = OzonMarketplace("777", KEY)
    server = MarketplaceServer(app, tls)
    try:
        key = tmp_path / "key"
        daemon = DaemonProcess(tmp_path / "labeld", sources=[ozon_source(server, tls, key)], sections=links_trust(tls))
        for setup, words in ((lambda: None, "does not exist"), (lambda: key.write_text(KEY), "other users can read")):
            setup()
            if key.exists():
                key.chmod(0o644)
            run = subprocess.run([sys.executable, "-m", "labeld.cli.labeld_cmd", "run", "--config",
                                  str(daemon.config_path)], capture_output=True, text=True, timeout=60)
            assert run.returncode == 2
            assert "[[source]] #1 api_key_file" in run.stderr and words in run.stderr
            assert KEY not in run.stderr + run.stdout
    finally:
        server.stop()


def test_403_shows_the_source_in_trouble_and_no_secret_anywhere(tmp_path: Path, tls: Tls, printers: Any,
                                                                daemons: list[DaemonProcess]) -> None:
    """A refused key: labelctl status and sources say so, the daemon runs on, and the key is in no log
    line, no labelctl output, no API answer."""
    app = OzonMarketplace("777", KEY)
    server = MarketplaceServer(app, tls)
    try:
        app.add_postings(2, first=70000000)
        app.fault("auth")
        daemon = DaemonProcess(tmp_path / "labeld", printers=[zebra(printers)],
                               sources=[ozon_source(server, tls, secret_file(tmp_path, KEY))],
                               sections=links_trust(tls))
        daemons.append(daemon.start())
        daemon.wait_for(lambda: "in trouble" in labelctl(daemon, "status").stdout, 120, "trouble in status")
        status = labelctl(daemon, "status").stdout
        sources = labelctl(daemon, "sources").stdout
        assert "source shop in trouble" in sources and "Ozon refused the API key" in sources
        assert "sources in trouble (shop)" in status or "source in trouble (shop)" in status
        fetch = labelctl(daemon, "fetch", "70000000-0001-1")
        assert fetch.returncode == 1 and "refused the API key" in fetch.stderr
        app.clear()
        labelctl(daemon, "sources", "resume", "shop")
        daemon.wait_states(2, timeout=60)
        outputs = [status, sources, fetch.stdout, fetch.stderr, labelctl(daemon, "--json", "sources").stdout,
                   labelctl(daemon, "--json", "status").stdout, Client(daemon.socket).fetch("/metrics").decode()]
        for line in daemon.log_text().splitlines() + outputs:
            assert KEY not in line
        assert any(e.get("event") == "source_in_trouble" for e in daemon.log_events())
        assert any(e.get("event") == "source_recovered" for e in daemon.log_events())
    finally:
        server.stop()


def test_a_regenerated_label_supersedes_the_printed_one(tmp_path: Path, tls: Tls, printers: Any,
                                                        daemons: list[DaemonProcess]) -> None:
    """Ozon gives a posting a new tracking number: the new label prints and the old printed one is
    flagged void, telling the operator to relabel the parcel."""
    app = OzonMarketplace("777", KEY)
    server = MarketplaceServer(app, tls)
    try:
        [number] = app.add_postings(1, first=80000000)
        daemon = DaemonProcess(tmp_path / "labeld", printers=[zebra(printers)],
                               sources=[ozon_source(server, tls, secret_file(tmp_path, KEY))],
                               sections=links_trust(tls))
        daemons.append(daemon.start())
        daemon.wait_states(1)
        old = app.postings[number].tracking
        new = app.regenerate(number)
        daemon.wait_states(2, timeout=120)
        first, second = daemon.jobs()
        assert (first["tracking"], second["tracking"]) == (old, new)
        detail = json.loads(labelctl(daemon, "--json", "show", str(first["id"])).stdout)
        voided = [e for e in detail["history"] if e["reason_code"] == "label.voided_after_print"]
        assert voided and "no longer valid" in voided[0]["reason"]
        printed, _ = count_postings(printers["zpl"][0].labels)
        assert printed == Counter({number: 2})
    finally:
        server.stop()


def test_wildberries_zpl_to_the_zebra_and_svg_to_the_brother(tmp_path: Path, tls: Tls, printers: Any,
                                                            daemons: list[DaemonProcess]) -> None:
    """Stickers of supply A go to the Zebra as ZPL, of supply B to the Brother rendered from SVG; every
    printed sticker's barcode decodes to its order's."""
    app = WildberriesMarketplace(TOKEN)
    server = MarketplaceServer(app, tls)
    try:
        zpl_orders = app.add_orders(4, supply="WB-GI-1")
        svg_orders = app.add_orders(3, supply="WB-GI-2")
        token = secret_file(tmp_path, TOKEN)
        common = {"type": "wildberries", "api_key_file": str(token), "base_url": server.url,
                  "ca_bundle": str(tls.ca_bundle), "interval": "1s", "rate": 20}
        ql = printer_table("brother_ql", printers["brother_ql"][1].uri)
        ql["default"] = False
        daemon = DaemonProcess(tmp_path / "labeld", printers=[zebra(printers, "58x40mm"), ql], sources=[
            {**common, "name": "wb-zebra", "supplies": ["WB-GI-1"], "printer": "zebra"},
            {**common, "name": "wb-ql", "supplies": ["WB-GI-2"], "printer": "ql"}])
        daemons.append(daemon.start())
        daemon.wait_states(7, timeout=90)
        zebra_codes = sorted(_codes(printers["zpl"][0]))
        ql_codes = sorted(_codes(printers["brother_ql"][0]))
        assert zebra_codes == sorted(f"!WB{i}" for i in zpl_orders)
        assert ql_codes == sorted(f"!WB{i}" for i in svg_orders)
        kinds = dict(daemon.query("SELECT d.name, d.kind FROM documents d"))
        assert {kinds[f"{i}.zpl"] for i in zpl_orders} == {"zpl"}
        again = labelctl(daemon, "fetch", str(svg_orders[0]))
        assert again.returncode == 0 and "fetched" in again.stdout
        assert app.stickers_made[svg_orders[0]] == 1
    finally:
        server.stop()


def _codes(emulator: Emulator) -> list[str]:
    from tests.conftest import decode

    return [code for bitmap in emulator.labels for code in decode(bitmap)]
