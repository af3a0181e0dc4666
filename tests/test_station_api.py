"""The station core through a real daemon: printer, clock and rejected-file events in the event stream,
alarms until they clear or are acknowledged (by whom, from SO_PEERCRED), labels found and reprinted
by what a scanner reads, and an audited override of the label rules."""

from __future__ import annotations

import os
import pwd
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from labeld.cli.client import Client, RequestRefused
from labeld.labelmaker import LabelSpec, Symbol, label_pdf
from labeld.testing.bench import EmulatorBench
from labeld.testing.daemon import DaemonProcess
from labeld.testing.emulator_base import Fault
from labeld.testing.sntp_server import SntpResponder
from labeld.testing.zpl_emulator import make_emulator
from tests.conftest import decode

ME = f"{pwd.getpwuid(os.geteuid()).pw_name} (uid {os.geteuid()})"


def upload(client: Client, spec: LabelSpec | bytes, name: str, **query: Any) -> list[int]:
    data = spec if isinstance(spec, bytes) else label_pdf(spec)
    return list(client.upload(data, {"name": name, **query})["job_ids"])


def events(client: Client, after: int = 0) -> list[dict[str, Any]]:
    return list(client.call("GET", "/v1/events", query={"after": after, "timeout": 0})["events"])


def wait(what: str, check: Callable[[], Any], timeout: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


def state(client: Client, job: int) -> str:
    return str(client.call("GET", f"/v1/jobs/{job}")["state"])


def test_a_printer_out_of_paper_is_an_event_and_an_alarm_until_it_is_back(
        bench: EmulatorBench, daemons: list[DaemonProcess], tmp_path: Path) -> None:
    """Paper-out after the first label: a printer event marked as an alarm, an alarm in status; loading
    paper brings a "back" event, the alarm goes and the batch finishes."""
    emulator = make_emulator(tmp_path / "zd", dpi=203, speed_mm_s=5000.0, faults=(Fault("paper-out", 1),), name="zd")
    uri = bench.attach(emulator, "tcp", "zd")
    daemon = DaemonProcess(tmp_path / "labeld", printers=[{"name": "zd", "driver": "zpl", "uri": uri,
                                                          "media": "58x40mm", "dpi": 203, "default": True}])
    daemons.append(daemon.start())
    client = Client(daemon.socket)
    specs = [LabelSpec(posting=f"5100000{n}-0001-1", tracking=f"TRK{n}", size_mm=(58, 40), symbols=(
        Symbol("code128", f"5100000{n}-0001-1", 3.0, 3.0, 0.3, height_mm=10.0),)) for n in range(3)]
    jobs = upload(client, label_pdf(specs), "three.pdf")
    alarm = wait("the printer alarm", lambda: [a for a in client.call("GET", "/v1/alarms")["alarms"]
                                               if a["kind"] == "printer"])[0]
    assert alarm["printer"] == "zd" and "media-empty" in alarm["reasons"] and alarm["reason_code"] == "printer.stopped"
    assert any(a["id"] == "printer:zd" for a in client.call("GET", "/v1/status")["alarms"])
    stopped = [e for e in events(client) if e["kind"] == "printer"]
    assert stopped[-1]["to"] == "stopped" and stopped[-1]["alarm"] is True and stopped[-1]["printer"] == "zd"
    assert state(client, jobs[1]) == "ready", "labels wait while the printer is out of paper"
    emulator.clear_fault()
    wait("the batch", lambda: all(state(client, j) == "printed" for j in jobs))
    back = wait("the back event",
                lambda: [e for e in events(client) if e["kind"] == "printer" and e["to"] != "stopped"])
    assert back[-1]["reason_code"] == "printer.back" and back[-1]["alarm"] is False
    assert [a for a in client.call("GET", "/v1/alarms")["alarms"] if a["kind"] == "printer"] == []
    assert sorted(v for label in emulator.labels for v in decode(label)) == [s.posting for s in specs]


def test_a_drifting_clock_is_an_alarm_and_its_return_an_event(daemons: list[DaemonProcess], tmp_path: Path) -> None:
    """A time server 7 s off makes a clock alarm; once it agrees again the monitor notices within seconds
    (it re-checks sooner while drifting) and the stream says the clock is back in bounds."""
    server = SntpResponder(skew=7.0).start()
    try:
        daemon = DaemonProcess(tmp_path / "labeld", sections={"clock": {"servers": [server.server], "interval": "1s",
                                                                         "timeout": "0.5s"}})
        daemons.append(daemon.start())
        client = Client(daemon.socket)
        alarm = wait("the clock alarm", lambda: [a for a in client.call("GET", "/v1/alarms")["alarms"]
                                                 if a["kind"] == "clock"])[0]
        assert alarm["state"] == "drifting" and alarm["reason_code"] == "clock.behind"
        assert "7.0 s behind" in alarm["reason"]
        server.skew = 0.0
        ok = wait("the clock back", lambda: [e for e in events(client) if e["kind"] == "clock" and e["to"] == "ok"])
        drifting = [e for e in events(client) if e["kind"] == "clock" and e["to"] == "drifting"]
        assert drifting[0]["alarm"] is True and ok[-1]["from"] == "drifting" and ok[-1]["alarm"] is False
        assert [a for a in client.call("GET", "/v1/alarms")["alarms"] if a["kind"] == "clock"] == []
    finally:
        server.stop()


def test_a_file_rejected_whole_is_listed_counted_streamed_and_acknowledged(daemon: DaemonProcess) -> None:
    """Garbage in the hot folder: a rejected record naming where the file went, today's count, an event,
    an alarm until acknowledged by a named user; an upload refused at once is listed but raises no alarm."""
    client = Client(daemon.socket)
    daemon.drop("junk.pdf", b"this is not a PDF at all")
    record = wait("the rejected record", lambda: client.call("GET", "/v1/rejected")["rejected"])[0]
    assert (record["file"], record["source"], record["reason_code"]) == ("junk.pdf", "hotfolder", "intake.not_pdf")
    assert Path(record["moved_to"]).parent == daemon.rejected and Path(record["moved_to"]).exists()
    assert client.call("GET", "/v1/status")["rejected_today"] == 1
    [event] = [e for e in events(client) if e["kind"] == "rejected"]
    assert event["alarm"] is True and event["rejected"] == record["id"] and event["file"] == "junk.pdf"
    [alarm] = [a for a in client.call("GET", "/v1/alarms")["alarms"] if a["kind"] == "rejected"]
    assert alarm["ack"] == f"/v1/rejected/{record['id']}/ack" and "not a PDF" in alarm["reason"]
    acked = client.call("POST", alarm["ack"])
    assert acked["acknowledged_by"] == ME
    assert [a for a in client.call("GET", "/v1/alarms")["alarms"] if a["kind"] == "rejected"] == []
    try:
        client.call("POST", alarm["ack"])
        raise AssertionError("a second acknowledgement must be refused")
    except RequestRefused as refused:
        assert refused.status == 409
    try:
        upload(client, b"", "empty.pdf")
    except RequestRefused as refused:
        assert refused.status == 400
    try:
        upload(client, b"%PDF-1.7 truncated", "cut.pdf")
        raise AssertionError("a truncated PDF must be refused")
    except RequestRefused as refused:
        assert refused.status == 422
    listed = client.call("GET", "/v1/rejected", query={"today": "true"})
    assert [r["file"] for r in listed["rejected"]] == ["cut.pdf", "junk.pdf"] and listed["today"] == 2
    assert [a for a in client.call("GET", "/v1/alarms")["alarms"] if a["kind"] == "rejected"] == []


def test_a_printed_label_voided_by_a_newer_one_is_an_alarm_until_acknowledged(daemon: DaemonProcess) -> None:
    """"Relabel this parcel" stays in the alarms (and status) until someone acknowledges it; the history
    names who did, by the uid the kernel reported."""
    client = Client(daemon.socket)
    [old] = upload(client, LabelSpec(posting="52000000-0001-1", tracking="TRKOLD"), "old.pdf")
    wait("the old label", lambda: state(client, old) == "printed")
    [new] = upload(client, LabelSpec(posting="52000000-0001-1", tracking="TRKNEW"), "new.pdf")
    wait("the new label", lambda: state(client, new) == "printed")
    [alarm] = wait("the relabel alarm", lambda: [a for a in client.call("GET", "/v1/alarms")["alarms"]
                                                 if a["kind"] == "relabel"])
    assert (alarm["job"], alarm["posting_number"], alarm["ack"]) == (old, "52000000-0001-1", f"/v1/jobs/{old}/ack")
    assert "relabel parcel 52000000-0001-1" in alarm["reason"] and f"job {new}" in alarm["reason"]
    assert client.call("GET", f"/v1/jobs/{old}")["needs_ack"] is True
    raised = [e for e in events(client) if e["kind"] == "alarm" and e["job"] == old]
    assert raised[0]["alarm"] is True and raised[0]["action"] == "raised"
    acked = client.call("POST", f"/v1/jobs/{old}/ack")
    assert acked["needs_ack"] is False
    history = client.call("GET", f"/v1/jobs/{old}")["history"]
    assert history[-1]["reason"] == f"acknowledged by {ME}"
    assert [a for a in client.call("GET", "/v1/alarms")["alarms"] if a["kind"] == "relabel"] == []
    try:
        client.call("POST", f"/v1/jobs/{new}/ack")
        raise AssertionError("a job without an alarm has nothing to acknowledge")
    except RequestRefused as refused:
        assert refused.status == 409 and refused.code == "nothing_to_ack"


def test_scanned_codes_find_and_reprint_the_label_they_name(daemon: DaemonProcess) -> None:
    """Ozon's QR text, a bare posting, a tracking link and a barcode value find the label; reprinting by
    an older label's tracking number prints the posting's newest label and says so."""
    client = Client(daemon.socket)
    posting = "53000000-0001-1"
    [old] = upload(client, LabelSpec(posting=posting, tracking="TRKA53"), "a.pdf")
    wait("the first label", lambda: state(client, old) == "printed")
    [new] = upload(client, LabelSpec(posting=posting, tracking="TRKB53"), "b.pdf")
    wait("the second label", lambda: state(client, new) == "printed")
    for code in (f"OZON:{posting}", "5300000000011", "https://ozon.example/t/TRKB53", f" ]C1{posting}\r\n"):
        found = client.call("GET", "/v1/lookup", query={"code": code})
        assert found["matches"][0]["job"]["label"]["posting_number"] == posting, code
    by_tracking = client.call("GET", "/v1/lookup", query={"code": "trka53"})
    assert [m["job"]["id"] for m in by_tracking["matches"]] == [old]
    assert by_tracking["matches"][0]["matched"] == {"kind": "tracking", "value": "TRKA53"}
    answer = client.call("POST", "/v1/reprint", body={"code": "TRKA53"})
    assert answer["reason_code"] == "scan.newer_label" and answer["label"] != answer["scanned_label"]
    reprint = answer["job_ids"][0]
    wait("the reprint", lambda: state(client, reprint) == "printed")
    assert client.call("GET", f"/v1/jobs/{reprint}")["reprint_of"] == new
    png = np.asarray(Image.open(daemon.printed / f"job-{reprint:06d}.png").convert("L")) < 128
    assert posting in decode(png) and "https://ozon.example/t/TRKB53" in decode(png)
    via_posting = client.call("POST", f"/v1/postings/OZON:{posting}/reprint")
    assert client.call("GET", f"/v1/jobs/{via_posting['job_ids'][0]}")["reprint_of"] == new
    jobs = client.call("GET", "/v1/jobs", query={"code": f"OZON:{posting}"})["jobs"]
    assert {j["id"] for j in jobs} >= {old, new, reprint}
    try:
        client.call("GET", "/v1/lookup", query={"code": "OZON:99999999-0000-1"})
        raise AssertionError("an unknown code must be 404")
    except RequestRefused as refused:
        assert refused.status == 404 and "99999999-0000-1" in refused.message


def test_an_override_prints_a_rejected_label_once_and_records_who_and_why(daemon: DaemonProcess) -> None:
    """A label rejected for its 150-dpi barcode image cannot be released plainly; with an override it
    prints, and its history and JSON say who (uid) and why."""
    client = Client(daemon.socket)
    [job] = upload(client, LabelSpec(posting="54000000-0001-1", tracking="TRK54", raster_dpi=150), "coarse.pdf")
    wait("the rejection", lambda: state(client, job) == "rejected")
    try:
        client.call("POST", f"/v1/jobs/{job}/release")
        raise AssertionError("a plain release of a rejected job must be refused")
    except RequestRefused as refused:
        assert refused.status == 409
    released = client.call("POST", f"/v1/jobs/{job}/release", body={"override": "  the customer checked it  "})
    assert released["state"] == "queued"
    assert released["override"] == {"by": ME, "uid": os.geteuid(), "why": "the customer checked it"}
    wait("the override print", lambda: state(client, job) == "printed")
    history = client.call("GET", f"/v1/jobs/{job}")["history"]
    assert any(h["reason_code"] == "job.released_override" and ME in h["reason"] for h in history)
    assert (daemon.printed / f"job-{job:06d}.png").exists()
