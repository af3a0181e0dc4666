"""The hot folder against a real daemon: complete files only, exactly once, nothing lost."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pymupdf
import pytest

from labeld.bitmap import from_png
from labeld.labelmaker import LabelSpec, batch_pdf, label_pdf
from labeld.testing.daemon import DaemonProcess
from tests.conftest import decode


def archived(d: DaemonProcess) -> list[Path]:
    return sorted(p for p in d.archive.rglob("*") if p.is_file() and not p.name.endswith(".json"))


def documents(d: DaemonProcess) -> list[tuple[str, int]]:
    return [(row[0], row[1]) for row in d.query("SELECT name, pages FROM documents ORDER BY id")]


def test_multipage_pdf_becomes_one_png_per_page(daemon: DaemonProcess) -> None:
    """Three pages in, three PNGs out at the media's exact dot size, each with its own barcodes."""
    daemon.drop("batch.pdf", batch_pdf(3))
    daemon.wait_states(3)
    pngs = sorted(daemon.printed.glob("*.png"))
    assert len(pngs) == 3
    for number, png in enumerate(pngs):
        bitmap = from_png(png.read_bytes())
        assert bitmap.shape == (1417, 886)
        assert f"{10000000 + number:08d}-0001-1" in decode(bitmap)
    assert [p.name for p in archived(daemon)] == ["batch.pdf"]
    assert not list(daemon.inbox.glob("*.pdf"))


def test_slowly_written_file_is_taken_once_and_complete(daemon: DaemonProcess) -> None:
    """A file written in chunks over a second, in place, is taken at close, whole."""
    data = batch_pdf(4)
    target = daemon.inbox / "slow.pdf"
    with open(target, "wb") as out:
        for start in range(0, len(data), len(data) // 5 + 1):
            out.write(data[start : start + len(data) // 5 + 1])
            out.flush()
            time.sleep(0.2)
    daemon.wait_states(4)
    time.sleep(0.5)
    assert documents(daemon) == [("slow.pdf", 4)]
    assert len(list(daemon.printed.glob("*.png"))) == 4


def test_500_files_at_once_are_each_taken_exactly_once(tmp_path: Path) -> None:
    """A burst of 500 files: 500 documents, 500 labels printed, 500 archived, none twice."""
    pdf = label_pdf(LabelSpec(size_mm=(58, 40)))
    printers = [{"name": "preview", "driver": "preview", "uri": f"dir://{tmp_path / 'printed'}",
                 "media": "58x40mm", "dpi": 203, "default": True}]
    with DaemonProcess(tmp_path, printers=printers, sections={"preflight": {"dedupe": False}}) as d:
        staging = tmp_path / "staging"
        staging.mkdir()
        for i in range(500):
            (staging / f"label-{i:03d}.pdf").write_bytes(pdf)
        for i in range(500):
            os.rename(staging / f"label-{i:03d}.pdf", d.inbox / f"label-{i:03d}.pdf")
        d.wait_states(500, timeout=600)  # a hang bound: ~20 s quiet, 97 s measured at load 10
        names = [name for name, _ in documents(d)]
        assert len(names) == 500 and len(set(names)) == 500
        assert len(archived(d)) == 500
        assert len(list(d.printed.glob("*.png"))) == 500


def test_kill_between_accepted_and_archived_loses_and_repeats_nothing(tmp_path: Path) -> None:
    """kill -9 right after the rows commit: on restart the file is archived, not taken again."""
    d = DaemonProcess(tmp_path, env={"LABELD_FAILPOINT": "after-accept"})
    d.start()
    d.drop("crash.pdf", batch_pdf(2))
    assert d.process is not None
    d.process.wait(20)
    assert d.process.returncode == -9
    assert documents(d) == [("crash.pdf", 2)]
    assert not archived(d)
    d.env = {}
    with d:
        d.wait_states(2)
        d.wait_for(lambda: len(archived(d)) == 1, what="the file archived")
        assert documents(d) == [("crash.pdf", 2)]
        assert len(list(d.printed.glob("*.png"))) == 2
        assert not [p for p in d.inbox.rglob("*") if p.is_file()]


@pytest.mark.parametrize("name, data, reason", [
    ("empty.pdf", b"", "the file is empty"),
    ("text.pdf", b"hello, this is not a PDF at all\n", "not a PDF"),
    ("broken.pdf", b"%PDF-1.7\n" + os.urandom(2000), "unreadable PDF"),
])
def test_bad_files_go_to_rejected_with_a_reason(daemon: DaemonProcess, name: str, data: bytes, reason: str) -> None:
    """Each bad file ends in rejected/ with NAME.error.json; the daemon keeps taking good files."""
    daemon.drop(name, data)
    error_file = daemon.rejected / (name.rsplit(".", 1)[0] + ".error.json")
    daemon.wait_for(error_file.exists, what=f"{error_file.name}")
    report = json.loads(error_file.read_text())
    assert reason in report["reason"]
    assert (daemon.rejected / name).read_bytes() == data
    daemon.drop("good.pdf", batch_pdf(1))
    daemon.wait_states(1)


def test_encrypted_pdf_is_rejected(daemon: DaemonProcess) -> None:
    doc = pymupdf.open("pdf", batch_pdf(1))
    data = doc.tobytes(encryption=pymupdf.PDF_ENCRYPT_AES_256, user_pw="secret", owner_pw="owner")
    daemon.drop("locked.pdf", data)
    error_file = daemon.rejected / "locked.error.json"
    daemon.wait_for(error_file.exists, what="locked.error.json")
    assert "password-protected" in json.loads(error_file.read_text())["reason"]


def test_a_page_five_metres_wide_is_refused_without_rendering(daemon: DaemonProcess) -> None:
    doc = pymupdf.open()
    page = doc.new_page(width=5000 / 25.4 * 72, height=100 / 25.4 * 72)
    page.insert_text((20, 50), "12345678-0012-1")
    daemon.drop("banner.pdf", doc.tobytes())
    error_file = daemon.rejected / "banner.error.json"
    daemon.wait_for(error_file.exists, what="banner.error.json")
    report = json.loads(error_file.read_text())
    assert "5000×100 mm" in report["reason"] and "not rendered" in report["reason"]
    assert report["detail"] == {"page": 1, "size_mm": [5000.0, 100.0]}
    assert not [e for e in daemon.log_events() if e.get("event") == "label_rendered"]


def test_temp_names_hidden_files_and_symlinks_are_never_taken(daemon: DaemonProcess, tmp_path: Path) -> None:
    pdf = batch_pdf(1)
    for name in (".hidden.pdf", "~lock.pdf", "a.pdf.tmp", "b.pdf.part", "c.crdownload", "d.pdf.filepart",
                 "e.pdf.swp"):
        (daemon.inbox / name).write_bytes(pdf)
    outside = tmp_path / "outside.pdf"
    outside.write_bytes(pdf)
    (daemon.inbox / "link.pdf").symlink_to(outside)
    daemon.drop("real.pdf", pdf)
    daemon.wait_states(1)
    time.sleep(1.0)
    assert documents(daemon) == [("real.pdf", 1)]
    assert (daemon.inbox / "link.pdf").is_symlink() and outside.exists()


def test_sidecar_and_printer_subfolder(tmp_path: Path) -> None:
    """inbox/<printer>/ routes to that printer; a sidecar sets copies, posting and tracking."""
    printers = [
        {"name": "big", "driver": "preview", "uri": f"dir://{tmp_path / 'big'}", "media": "75x120mm",
         "default": True},
        {"name": "small", "driver": "preview", "uri": f"dir://{tmp_path / 'small'}", "media": "58x40mm",
         "dpi": 203},
    ]
    with DaemonProcess(tmp_path / "d", printers=printers) as d:
        d.drop("one.pdf", batch_pdf(1, size_mm=(58, 40), first_posting=87654321), folder="small",
               sidecar={"copies": 2, "posting_number": "87654321-0001-1", "tracking_number": "TRACK-1"})
        d.wait_states(1)
        job = d.jobs()[0]
        assert (job["printer"], job["posting"], job["tracking"]) == ("small", "87654321-0001-1", "TRACK-1")
        assert len(list((tmp_path / "small").glob("*.png"))) == 2
        assert not (tmp_path / "big").exists() or not list((tmp_path / "big").glob("*.png"))
        assert sorted(p.name for p in d.archive.rglob("*") if p.is_file()) == ["one.pdf", "one.pdf.json"]


def test_bad_sidecar_rejects_the_document(daemon: DaemonProcess) -> None:
    daemon.drop("x.pdf", batch_pdf(1), sidecar={"copies": "two", "printer": 5})
    error_file = daemon.rejected / "x.error.json"
    daemon.wait_for(error_file.exists, what="x.error.json")
    reason = json.loads(error_file.read_text())["reason"]
    assert "copies must be a whole number" in reason and "printer must be a non-empty string" in reason


def test_backlog_present_at_start_is_taken(tmp_path: Path) -> None:
    d = DaemonProcess(tmp_path)
    d.inbox.mkdir(parents=True)
    for i in range(3):
        (d.inbox / f"early-{i}.pdf").write_bytes(batch_pdf(1, first_posting=20000000 + i))
    with d:
        d.wait_states(3)
        assert sorted(name for name, _ in documents(d)) == ["early-0.pdf", "early-1.pdf", "early-2.pdf"]


def test_polling_mode_waits_for_the_file_to_settle(tmp_path: Path) -> None:
    """For network shares: a file is taken once size and mtime held still for `settle` (2.3 s: the
    writer's 0.3 s pause must stay under it even when the machine is busy)."""
    with DaemonProcess(tmp_path, sections={"intake": {"poll": True, "settle": "2.3s"}}) as d:
        target = d.inbox / "share.pdf"
        data = batch_pdf(2)
        with open(target, "wb") as out:
            out.write(data[: len(data) // 2])
            out.flush()
            time.sleep(0.3)
            out.write(data[len(data) // 2 :])
        d.wait_states(2)
        assert documents(d) == [("share.pdf", 2)]


def test_keep_false_deletes_taken_files(tmp_path: Path) -> None:
    with DaemonProcess(tmp_path, sections={"intake": {"keep": False}}) as d:
        d.drop("gone.pdf", batch_pdf(1))
        d.wait_states(1)
        d.wait_for(lambda: not (d.inbox / "gone.pdf").exists(), what="the file gone")
        assert not archived(d)
