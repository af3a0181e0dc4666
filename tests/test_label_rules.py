"""A label's life through a real daemon: expiry, newer labels, repeats, routing and fitting."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from labeld.bitmap import from_png
from labeld.labelmaker import A4_MM, LabelSpec, label_pdf
from labeld.testing.daemon import DaemonProcess
from tests.conftest import decode


def iso(seconds_ago: float) -> str:
    return datetime.fromtimestamp(time.time() - seconds_ago, UTC).isoformat().replace("+00:00", "Z")


def labelctl(d: DaemonProcess, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "labeld.cli.labelctl", "--socket", str(d.socket), *args],
                          capture_output=True, text=True, timeout=30)


def history(d: DaemonProcess, job_id: int) -> list[str]:
    return [row[0] for row in d.query("SELECT reason FROM events WHERE job_id = ? ORDER BY id", (job_id,))]


def test_label_issued_five_hours_ago_is_held_as_expired(daemon: DaemonProcess) -> None:
    daemon.drop("old.pdf", label_pdf(LabelSpec()), sidecar={"issued_at": iso(5 * 3600)})
    daemon.wait_states(1, ("held",))
    job = daemon.jobs()[0]
    assert job["reason"].startswith("label expired 1 h ago (issued 5 h ago, valid 4 h)")
    assert not list(daemon.printed.glob("*.png"))


def test_label_about_to_expire_prints_with_a_warning(daemon: DaemonProcess) -> None:
    """Inside warn_before (15 min) the label still prints, flagged and logged."""
    daemon.drop("late.pdf", label_pdf(LabelSpec()), sidecar={"issued_at": iso(4 * 3600 - 10 * 60)})
    daemon.wait_states(1)
    job = daemon.jobs()[0]
    assert "expires in 9 min" in history(daemon, job["id"])[1]
    assert json.loads(job["preflight"])["expiring"] == "label expires in 9 min"
    assert [e for e in daemon.log_events() if e.get("event") == "label_expiring"]


def test_newer_label_for_the_same_posting_supersedes_the_older(daemon: DaemonProcess) -> None:
    """Re-generated label (new tracking number) arrives while the old waits: only the new prints."""
    assert labelctl(daemon, "pause", "preview").returncode == 0
    daemon.drop("first.pdf", label_pdf(LabelSpec(tracking="TRK-OLD-0001")), sidecar={"issued_at": iso(120)})
    daemon.wait_states(1, ("ready",))
    daemon.drop("second.pdf", label_pdf(LabelSpec(tracking="TRK-NEW-0002")), sidecar={"issued_at": iso(10)})
    daemon.wait_states(1, ("superseded",))
    assert labelctl(daemon, "resume", "preview").returncode == 0
    daemon.wait_states(1)
    old, new = daemon.jobs()
    assert (old["state"], new["state"]) == ("superseded", "printed")
    assert old["tracking"] == "TRK-OLD-0001" and new["tracking"] == "TRK-NEW-0002"
    assert "tracking TRK-OLD-0001 replaced by TRK-NEW-0002" in old["reason"]
    png = sorted(daemon.printed.glob("*.png"))
    assert len(png) == 1 and "https://ozon.example/t/TRK-NEW-0002" in decode(from_png(png[0].read_bytes()))
    assert [e for e in daemon.log_events() if e.get("event") == "label_superseded"]


def test_printed_label_is_marked_void_when_a_newer_one_arrives(daemon: DaemonProcess) -> None:
    daemon.drop("first.pdf", label_pdf(LabelSpec(tracking="TRK-A-000001")), sidecar={"issued_at": iso(600)})
    daemon.wait_states(1)
    daemon.drop("second.pdf", label_pdf(LabelSpec(tracking="TRK-B-000002")))
    daemon.wait_states(2)
    first = daemon.jobs()[0]
    assert first["state"] == "printed"
    assert any("no longer valid" in reason and "TRK-A-000001 replaced by TRK-B-000002" in reason
               for reason in history(daemon, first["id"]))


def test_the_same_file_twice_prints_once(daemon: DaemonProcess) -> None:
    """An ERP retry: the second copy becomes `duplicate`, pointing at the first."""
    pdf = label_pdf(LabelSpec())
    daemon.drop("label.pdf", pdf)
    daemon.wait_states(1)
    daemon.drop("label-retry.pdf", pdf)
    daemon.wait_states(1, ("duplicate",))
    first, second = daemon.jobs()
    assert (first["state"], second["state"]) == ("printed", "duplicate")
    assert second["duplicate_of"] == first["id"]
    assert f"arrived before as job {first['id']}" in second["reason"]
    assert len(list(daemon.printed.glob("*.png"))) == 1


def test_routing_and_fitting_by_page_size(tmp_path: Path) -> None:
    """58×40 pages go to the small printer by [[route]]; turned and A4 pages fit the big one."""
    printers = [
        {"name": "big", "driver": "preview", "uri": f"dir://{tmp_path / 'big'}", "media": "75x120mm", "dpi": 203,
         "default": True},
        {"name": "small", "driver": "preview", "uri": f"dir://{tmp_path / 'small'}", "media": "58x40mm",
         "dpi": 203},
    ]
    routes = [{"size": "58x40mm", "printer": "small"}]
    with DaemonProcess(tmp_path / "d", printers=printers, routes=routes) as d:
        d.drop("turned.pdf", label_pdf(LabelSpec(posting="11111111-0001-1", rotated=True)))
        d.drop("sheet.pdf", label_pdf(LabelSpec(posting="22222222-0001-1", page_mm=A4_MM)))
        d.drop("small.pdf", label_pdf(LabelSpec(posting="33333333-0001-1", size_mm=(58, 40))))
        d.drop("small-turned.pdf", label_pdf(LabelSpec(posting="44444444-0001-1", size_mm=(58, 40), rotated=True)))
        d.wait_states(4)
        jobs = {job["document"]: job for job in d.jobs()}
        assert {name: job["printer"] for name, job in jobs.items()} == {
            "turned.pdf": "big", "sheet.pdf": "big", "small.pdf": "small", "small-turned.pdf": "small"}
        assert json.loads(jobs["turned.pdf"]["preflight"])["fit"] == "whole page, turned 90°, true size"
        assert json.loads(jobs["sheet.pdf"]["preflight"])["fit"] == "cropped to content, true size"
        for folder, shape in (("big", (959, 599)), ("small", (320, 464))):
            for png in (tmp_path / folder).glob("*.png"):
                bitmap = from_png(png.read_bytes())
                assert bitmap.shape == shape
                assert any(v.endswith("-0001-1") for v in decode(bitmap))


def test_label_too_large_for_its_printer_is_rejected(tmp_path: Path) -> None:
    """A 75×120 label sent to 58×40 media would print at 48 %: refused, naming who could take it."""
    printers = [
        {"name": "small", "driver": "preview", "uri": f"dir://{tmp_path / 'small'}", "media": "58x40mm",
         "dpi": 203, "default": True},
        {"name": "big", "driver": "preview", "uri": f"dir://{tmp_path / 'big'}", "media": "75x120mm", "dpi": 203},
    ]
    with DaemonProcess(tmp_path / "d", printers=printers) as d:
        d.drop("big-label.pdf", label_pdf(LabelSpec()))
        d.wait_states(1, ("rejected",))
        reason = d.jobs()[0]["reason"]
        assert "too large for 58×40 mm: it would print at 48%" in reason
        assert "printer big could take it" in reason
