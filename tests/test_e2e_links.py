"""Labels that arrive as a link or a code, and PNG/SVG stickers, through a real daemon (#16).

One daemon for the module, with a Brother QL (62 mm endless, 300 dpi) and a Zebra (58×40 mm,
203 dpi) emulator on TCP, an SNTP responder whose skew the tests turn, and a loopback HTTPS link
server whose CA (made for this run with trustme) labeld trusts only through ``[links] ca_bundle``.
Every printed label is decoded from the emulator's bytes. The kill -9 test runs last: it restarts
the daemon.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pymupdf
import pytest

from labeld.cli.client import Client, RequestRefused
from labeld.labelmaker import LabelSpec, Symbol, label_pdf, sticker_png, sticker_svg
from labeld.testing.bench import BROTHER_QL_820NWB, ZEBRA_ZD420, EmulatorBench
from labeld.testing.brother_emulator import BrotherQLCore
from labeld.testing.daemon import DaemonProcess
from labeld.testing.emulator_base import Emulator
from labeld.testing.link_server import LinkServer, Serve
from labeld.testing.sntp_server import SntpResponder
from labeld.testing.zpl_emulator import make_emulator
from tests.conftest import decode

FAST_MM_S = 5000.0


class Station:
    def __init__(self, daemon: DaemonProcess, links: LinkServer, ql: Emulator, zebra: Emulator,
                 sntp: SntpResponder) -> None:
        self.daemon, self.links, self.ql, self.zebra, self.sntp = daemon, links, ql, zebra, sntp
        self.client = Client(daemon.socket)

    def post(self, body: dict[str, Any]) -> Any:
        return self.client.call("POST", "/v1/jobs", body=body)

    def job(self, job_id: int) -> dict[str, Any]:
        job: dict[str, Any] = self.client.call("GET", f"/v1/jobs/{job_id}")
        return job

    def wait_state(self, job_id: int, states: tuple[str, ...], what: str = "") -> dict[str, Any]:
        self.daemon.wait_for(lambda: self.job(job_id)["state"] in states, timeout=60,
                             what=what or f"job {job_id} in {states}")
        return self.job(job_id)

    def printed_values(self, emulator: Emulator) -> list[str]:
        return [value for label in emulator.labels for value in decode(label)]


@pytest.fixture(scope="module")
def station(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Station]:
    root = tmp_path_factory.mktemp("links")
    bench = EmulatorBench(root)
    ql = Emulator(BrotherQLCore(media="62"), root / "out-ql", speed_mm_s=FAST_MM_S, name="ql")
    zebra = make_emulator(root / "out-zebra", dpi=203, speed_mm_s=FAST_MM_S, name="zebra")
    ql_uri = bench.attach(ql, "tcp", "ql", BROTHER_QL_820NWB)
    zebra_uri = bench.attach(zebra, "tcp", "zebra", ZEBRA_ZD420)
    links = LinkServer(root / "tls")
    sntp = SntpResponder(skew=0.0).start()
    printers = [
        {"name": "ql", "driver": "brother_ql", "model": "QL-820NWB", "uri": ql_uri, "media": "62", "default": True,
         "status": "none"},
        {"name": "zebra", "driver": "zpl", "uri": zebra_uri, "media": "58x40mm", "dpi": 203},
    ]
    sections = {
        "links": {"ca_bundle": str(links.ca_bundle), "read_timeout": "1s", "connect_timeout": "2s", "tries": 2,
                  "backoff": "0.2s", "concurrency": 4},
        "clock": {"servers": [sntp.server], "local_sources": False, "interval": "1s", "timeout": "1s"},
    }
    daemon = DaemonProcess(root / "labeld", printers=printers, sections=sections, env=bench.env)
    daemon.start()
    try:
        yield Station(daemon, links, ql, zebra, sntp)
    finally:
        daemon.stop()
        links.stop()
        sntp.stop()
        bench.close()


def ozon_pdf(posting: str) -> bytes:
    return label_pdf(LabelSpec(posting=posting, tracking=f"T{posting[:8]}", size_mm=(58.0, 40.0), symbols=(
        Symbol("code128", posting, 3.0, 3.0, 0.3, height_mm=10.0),)))


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


# ----- (1) codes, PNG and SVG -----------------------------------------------------------------


@pytest.mark.parametrize("printer", ["ql", "zebra"])
def test_png_and_svg_stickers_print_with_readable_barcodes(station: Station, printer: str) -> None:
    """A Wildberries PNG (580×400 px, no pHYs: 58×40 mm) and SVG sticker dropped in the inbox print on
    Brother 62 mm (300 dpi) and ZPL 203 dpi, nearest-neighbour and dot-exact: the barcode decodes."""
    emulator = station.ql if printer == "ql" else station.zebra
    before = len(emulator.labels)
    d = station.daemon
    d.drop(f"wb-{printer}.png", sticker_png(f"WBPNG{printer}"), sidecar={"printer": printer})
    d.drop(f"wb-svg-{printer}.svg", sticker_svg(f"WBSVG{printer}"), sidecar={"printer": printer})
    d.wait_for(lambda: len(emulator.labels) >= before + 2, what=f"2 stickers on {printer}")
    values = [v for label in emulator.labels[before:] for v in decode(label)]
    assert sorted(values) == sorted([f"WBPNG{printer}", f"WBSVG{printer}"])


def test_label_code_through_the_api_and_a_job_file(station: Station) -> None:
    """label_code: a Base64 PNG through POST /v1/jobs, a Base64 PDF in a *.json job file; each prints
    once. Bad Base64, or bytes that are no label, are refused with that reason."""
    answer = station.post({"label_code": b64(sticker_png("WBCODE01")), "printer": "zebra", "key": "code-1"})
    [job_id] = answer["job_ids"]
    again = station.post({"label_code": b64(sticker_png("WBCODE01")), "printer": "zebra", "key": "code-1"})
    assert again["job_ids"] == [job_id] and again["repeat"]
    (station.daemon.inbox / "ozon.json").write_text(json.dumps(
        {"label_code": b64(ozon_pdf("71000001-0001-1")), "printer": "zebra", "posting_number": "71000001-0001-1"}))
    station.wait_state(job_id, ("printed",))
    station.daemon.wait_for(lambda: "71000001-0001-1" in station.printed_values(station.zebra),
                            what="the job file's label")
    assert station.printed_values(station.zebra).count("WBCODE01") == 1
    with pytest.raises(RequestRefused) as bad:
        station.post({"label_code": "not*base64!", "printer": "zebra"})
    assert bad.value.status == 422 and "not Base64" in bad.value.message
    with pytest.raises(RequestRefused) as junk:
        station.post({"label_code": b64(b"hello world, no label"), "printer": "zebra"})
    assert "neither a PDF, PNG, SVG nor ZPL" in junk.value.message
    (station.daemon.inbox / "bad.json").write_text(json.dumps({"label_code": "%%%"}))
    error = station.daemon.rejected / "bad.error.json"
    station.daemon.wait_for(error.exists, what="bad.error.json")
    assert json.loads(error.read_text())["reason_code"] == "link.bad_code"


def test_a_zpl_sticker_for_a_brother_is_refused(station: Station) -> None:
    """ZPL goes raw to ZPL printers only; for the Brother it is refused, saying why."""
    with pytest.raises(RequestRefused) as refused:
        station.post({"label_code": b64(b"^XA^FO20,20^A0N,30,30^FDWB^FS^XZ"), "printer": "ql"})
    assert "only go to a ZPL printer" in refused.value.message


# ----- (2) links ---------------------------------------------------------------------------


def test_a_link_is_fetched_verified_and_printed_once(station: Station) -> None:
    """200 → HEAD then GET over verified TLS, printed once and decoded; the log names the link
    without its signature."""
    url = station.links.serve("/ok/label.pdf", Serve(ozon_pdf("72000001-0001-1")))
    [job_id] = station.post({"label_url": url, "printer": "zebra", "posting_number": "72000001-0001-1"})["job_ids"]
    job = station.wait_state(job_id, ("printed",))
    assert job["label"]["posting_number"] == "72000001-0001-1"
    assert station.printed_values(station.zebra).count("72000001-0001-1") == 1
    assert (station.links.count("/ok/label.pdf", "HEAD"), station.links.count("/ok/label.pdf")) == (1, 1)
    assert "secret" not in station.daemon.log_text()
    fetched = [e for e in station.daemon.log_events() if e.get("event") == "link_fetched"]
    assert any(e["url"].endswith("/ok/label.pdf") and e["status"] == 200 for e in fetched)


@pytest.mark.parametrize(("path", "how", "state", "words"), [
    ("/moved", Serve(status=302, headers={"Location": "https://cdn.example/other.pdf?sig=x"}), "rejected",
     "a redirect to https://cdn.example/other.pdf"),
    ("/expired", Serve(b"<Error>Request has expired</Error>", 403, "application/xml"), "rejected",
     "the link expired or its signature failed"),
    ("/truncated", Serve(ozon_pdf("72000002-0001-1"), cut_at=900), "rejected", "cut short"),
    ("/blank", Serve(b""), "rejected",
     "blank label"),
    ("/slow", Serve(ozon_pdf("72000003-0001-1"), delay=3.0), "failed", "after 2 tries"),
])
def test_a_link_that_gives_no_label_is_refused_with_its_reason(station: Station, path: str, how: Serve, state: str,
                                                               words: str) -> None:
    """302 (named, not followed), 403 (expired or signature), a body cut short, a blank PDF (with the
    clock hint and offset) are rejected; a server slower than read_timeout is retried, then failed."""
    if path == "/blank":
        how = Serve(blank_pdf())
    url = station.links.serve(path, how)
    [job_id] = station.post({"label_url": url, "printer": "zebra"})["job_ids"]
    job = station.wait_state(job_id, (state,))
    assert words in job["reason"], job["reason"]
    assert "secret" not in job["reason"]
    if path == "/blank":
        assert "clock is within" in job["reason"]
    if path == "/slow":
        assert station.links.count(path) == 2
    if path == "/moved":
        assert station.links.count(path) == 0, "a redirect is not followed: HEAD only"


def blank_pdf() -> bytes:
    doc = pymupdf.open()
    doc.new_page(width=58 / 25.4 * 72, height=40 / 25.4 * 72)
    return bytes(doc.tobytes())


def test_fifty_links_at_once_print_fifty_labels_each_once(station: Station) -> None:
    """50 link jobs posted together: 50 labels, each once, fetched a few at a time."""
    before = len(station.zebra.labels)
    postings = [f"{73000000 + n:08d}-0001-1" for n in range(50)]
    ids = []
    for posting in postings:
        url = station.links.serve(f"/batch/{posting}.pdf", Serve(ozon_pdf(posting)))
        ids += station.post({"label_url": url, "printer": "zebra"})["job_ids"]
    station.daemon.wait_for(lambda: len(station.zebra.labels) >= before + 50, timeout=120, what="50 labels")
    values = [v for label in station.zebra.labels[before:] for v in decode(label)]
    assert sorted(values) == sorted(postings)
    assert all(station.links.count(f"/batch/{p}.pdf") == 1 for p in postings)


def labelctl(station: Station, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "LABELD_SOCKET": str(station.daemon.socket), "LANG": "C.UTF-8", "LANGUAGE": ""}
    return subprocess.run([sys.executable, "-m", "labeld.cli.labelctl", *args], capture_output=True, text=True,
                          env=env, timeout=120)


def test_labelctl_prints_a_link_and_a_code_file(station: Station, tmp_path: Path) -> None:
    """``labelctl print --url URL --wait`` and ``--code-file F --wait`` print once; the link's
    signature is not echoed; giving both is a usage error."""
    url = station.links.serve("/cli/label.pdf", Serve(ozon_pdf("76000001-0001-1")))
    result = labelctl(station, "print", "--url", url, "--printer", "zebra", "--wait")
    assert result.returncode == 0, result.stderr
    assert "secret" not in result.stdout + result.stderr and "label.pdf" in result.stdout
    code = tmp_path / "sticker.b64"
    code.write_text(b64(sticker_png("WBCLI001")))
    result = labelctl(station, "print", "--code-file", str(code), "--printer", "zebra", "--wait")
    assert result.returncode == 0, result.stderr
    values = station.printed_values(station.zebra)
    assert (values.count("76000001-0001-1"), values.count("WBCLI001")) == (1, 1)
    both = labelctl(station, "print", "--url", url, "--code-file", str(code))
    assert both.returncode == 2 and "exactly one of" in both.stderr


def test_no_kept_file_log_line_or_output_carries_the_signature(station: Station) -> None:
    """A *.json link job is archived with its label_url's query removed and all else kept; one refused
    at intake is kept in rejected/ without it too; no log line, labelctl output or API answer carries
    a link's query (the signature)."""
    url = station.links.serve("/kept/label.pdf", Serve(ozon_pdf("77000001-0001-1")))
    bare = url.split("?", 1)[0]
    job = {"label_url": url, "printer": "zebra", "posting_number": "77000001-0001-1", "copies": 1}
    (station.daemon.inbox / "kept.json").write_text(json.dumps(job, indent=1))
    (station.daemon.inbox / "refused.json").write_text(json.dumps({"label_url": url, "copies": "many"}))
    station.daemon.wait_for(lambda: "77000001-0001-1" in station.printed_values(station.zebra), what="the label")
    station.daemon.wait_for(lambda: list(station.daemon.archive.rglob("kept.json")), what="kept.json archived")
    [kept] = station.daemon.archive.rglob("kept.json")
    assert kept.read_text() == json.dumps({**job, "label_url": bare}, indent=1)
    station.daemon.wait_for((station.daemon.rejected / "refused.error.json").exists, what="refused.json refused")
    assert json.loads((station.daemon.rejected / "refused.json").read_text())["label_url"] == bare
    for folder in (station.daemon.archive, station.daemon.rejected):
        for path in folder.rglob("*"):
            assert not path.is_file() or b"X-Amz" not in path.read_bytes(), path
    [job_id] = [j["id"] for j in station.daemon.jobs() if j["posting"] == "77000001-0001-1"]
    outputs = [labelctl(station, *args) for args in (("--json", "show", str(job_id)), ("show", str(job_id)),
                                                     ("--json", "jobs"), ("jobs",), ("status",), ("rejected",))]
    assert all(r.returncode == 0 for r in outputs), [r.stderr for r in outputs]
    assert f"link {bare}: fetched" in outputs[1].stdout
    answers = [station.job(job_id), station.client.call("GET", "/v1/jobs"), station.client.call("GET", "/v1/rejected")]
    for text in [r.stdout + r.stderr for r in outputs] + [json.dumps(a) for a in answers] + [
            station.daemon.log_text()]:
        assert "X-Amz" not in text and "secret" not in text


# ----- (3) the clock and durability --------------------------------------------------------


def test_a_link_waits_while_the_clock_is_off_then_prints(station: Station) -> None:
    """Clock 7 s off → the link job waits, saying so with the offset; fixed → fetched and printed once."""
    station.sntp.skew = 7.0
    station.daemon.wait_for(lambda: station.client.call("GET", "/v1/clock")["state"] == "drifting", timeout=30,
                            what="the clock seen drifting")
    url = station.links.serve("/clock/label.pdf", Serve(ozon_pdf("74000001-0001-1")))
    [job_id] = station.post({"label_url": url, "printer": "zebra"})["job_ids"]
    job = station.wait_state(job_id, ("queued",))
    station.daemon.wait_for(lambda: station.job(job_id)["reason_code"] == "link.waiting_clock", timeout=30,
                            what="the job waiting for the clock")
    job = station.job(job_id)
    assert "7.0 s off" in job["reason"] and station.links.count("/clock/label.pdf") == 0
    station.sntp.skew = 0.0
    station.wait_state(job_id, ("printed",))
    assert station.printed_values(station.zebra).count("74000001-0001-1") == 1


def test_kill_9_mid_download_prints_exactly_once_after_restart(station: Station) -> None:
    """labeld is killed while the body is half-way; after the restart the link is fetched again
    into the same job and printed exactly once."""
    body = ozon_pdf("75000001-0001-1")
    url = station.links.serve("/stall/label.pdf", Serve(body, stall_at=len(body) // 2))
    [job_id] = station.post({"label_url": url, "printer": "zebra"})["job_ids"]
    assert station.links.stalled.wait(30), "the download never started"
    station.daemon.kill()
    station.links.serve("/stall/label.pdf", Serve(body))
    station.daemon.start()
    station.client = Client(station.daemon.socket)
    station.wait_state(job_id, ("printed",))
    assert station.printed_values(station.zebra).count("75000001-0001-1") == 1
    assert station.links.count("/stall/label.pdf") == 2
    assert [j["id"] for j in station.daemon.jobs() if j["document"] == "label.pdf" and j["posting"] ==
            "75000001-0001-1"] == [job_id]
