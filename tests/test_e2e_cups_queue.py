"""labeld as a CUPS print queue, end to end: ``lp`` (and IPP from another client) into a private
cupsd whose queue uses labeld's backend and PPD, into a real labeld, out of a ZPL emulator.

cupsd runs the backend as ``lp``, which reaches labeld's socket only through
``daemon.submit_users`` (an ACL entry plus the submit-only scope), as on an installed system.
Every label that comes out is compared dot for dot with labeld's render and its barcodes are
decoded; CUPS's own view of each job (state, reasons, message) is read over IPP.
"""

from __future__ import annotations

import hashlib
import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cups
import numpy as np
import pymupdf
import pytest

from labeld.config import PrinterConfig
from labeld.convert import convert_document
from labeld.labelmaker import LabelSpec, Symbol, label_pdf
from labeld.testing.cupsd import PrivateCupsd
from labeld.testing.daemon import DaemonProcess
from labeld.testing.emulator_base import Fault, TcpServer
from labeld.testing.zpl_emulator import make_emulator
from tests.conftest import decode
from tests.cups_helpers import PPD, cupsd_with_labeld

FAST_MM_S = 5000.0
SIZE = (75.0, 120.0)
MM = 72 / 25.4
IPP_JOB_HELD, IPP_JOB_ABORTED, IPP_JOB_COMPLETED = 4, 8, 9
QUEUE = "ozon"


@dataclass
class Rig:
    root: Path
    zebra: TcpServer
    dry: TcpServer
    daemon: DaemonProcess
    cupsd: PrivateCupsd

    def lp(self, pdf: bytes, *args: str, queue: str = QUEUE, name: str = "label.pdf") -> int:
        """``lp -d QUEUE ARGS FILE``; returns the CUPS job id."""
        path = self.root / "in" / name
        path.parent.mkdir(exist_ok=True)
        path.write_bytes(pdf)
        answer = self.cupsd.run("lp", "-d", queue, *args, str(path))
        found = re.search(rf"request id is {re.escape(queue)}-(\d+)", answer)
        assert found, answer
        return int(found.group(1))

    def cups_job(self, job_id: int) -> dict[str, Any]:
        connection = cups.Connection(host=self.cupsd.server)
        return dict(connection.getJobAttributes(job_id, requested_attributes=[
            "job-state", "job-state-reasons", "job-printer-state-message", "job-name"]))

    def wait_cups(self, job_id: int, states: tuple[int, ...], timeout: float = 60.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            attributes = self.cups_job(job_id)
            if attributes["job-state"] in states:
                return attributes
            assert time.monotonic() < deadline, f"CUPS job {job_id} is {attributes}; log:\n{self.cupsd.log()[-3000:]}"
            time.sleep(0.2)

    def labeld_jobs(self, cups_id: int, queue: str = QUEUE) -> list[dict[str, Any]]:
        """labeld's jobs that came from CUPS job ``queue-cups_id``."""
        tag = f"(CUPS {queue}-{cups_id})"
        return [j for j in self.daemon.jobs() if j["id"] in self._jobs_with(tag)]

    def _jobs_with(self, tag: str) -> set[int]:
        rows = self.daemon.query("SELECT j.id FROM jobs j JOIN labels l ON l.id = j.label_id JOIN documents d"
                                 " ON d.id = l.document_id WHERE json_extract(d.sidecar, '$.requested_by') LIKE ?",
                                 (f"%{tag}",))
        return {row[0] for row in rows}


@pytest.fixture(scope="module")
def rig() -> Iterator[Rig]:
    # The socket's folder must be reachable by lp: the daemon adds the ACL entries; the root is 0755.
    root = Path(tempfile.mkdtemp(prefix="labeld-cupsq-"))
    root.chmod(0o755)
    zebra = TcpServer(make_emulator(root / "zebra", speed_mm_s=FAST_MM_S, name="zebra"))
    dry = TcpServer(make_emulator(root / "dry", speed_mm_s=FAST_MM_S, faults=(Fault("paper-out", 0),), name="dry"))
    printers = [
        {"name": "zd420", "driver": "zpl", "uri": zebra.uri, "media": "75x120mm", "dpi": 203, "default": True},
        {"name": "dry", "driver": "zpl", "uri": dry.uri, "media": "75x120mm", "dpi": 203},
    ]
    daemon = DaemonProcess(root / "labeld", printers=printers, sections={"daemon": {"submit_users": ["lp"]}})
    daemon.start()
    cupsd = cupsd_with_labeld(daemon.socket, wait=60, directives=["JobRetryInterval 1", "JobRetryLimit 1000"])
    try:
        cupsd.add_queue(QUEUE, "labeld:/zd420", ppd=PPD, options={"printer-error-policy": "abort-job"})
        cupsd.add_queue("dry", "labeld:/dry?wait=2", ppd=PPD, options={"printer-error-policy": "abort-job"})
        yield Rig(root, zebra, dry, daemon, cupsd)
    finally:
        cupsd.stop()
        daemon.stop()
        zebra.stop()
        dry.stop()
        shutil.rmtree(root, ignore_errors=True)


def posting(n: int) -> str:
    return f"{70000000 + n:08d}-0001-1"


def tracking(n: int) -> str:
    return f"TRK{n:09d}"


def spec(n: int) -> LabelSpec:
    """A 75×120 mm label: a Code128 of its posting and a QR of its tracking number."""
    return LabelSpec(posting=posting(n), tracking=tracking(n), size_mm=SIZE, symbols=(
        Symbol("code128", posting(n), 5.0, 5.0, 0.33, height_mm=15.0),
        Symbol("qr", tracking(n), 40.0, 80.0, 0.6),
    ))


def labels(first: int, count: int) -> bytes:
    return label_pdf([spec(n) for n in range(first, first + count)])


def printed_since(rig: Rig, before: int, count: int, printer: TcpServer | None = None) -> list[np.ndarray]:
    """The ``count`` labels the printer made after ``before``, once it has made them (and no more)."""
    emulator = (printer or rig.zebra).emulator
    assert emulator.wait_labels(before + count, timeout=30)
    time.sleep(0.5)  # nothing more may follow
    assert len(emulator.labels) == before + count
    return emulator.labels[before:]


def assert_dot_exact(rig: Rig, jobs: list[dict[str, Any]], printed: list[np.ndarray], numbers: list[int]) -> None:
    """Each printed label is labeld's render of its job, dot for dot, with its own barcodes."""
    assert len(printed) == len(numbers)
    renders = [rig.daemon.spooled_bitmap(job["id"]) for job in jobs for _ in range(_copies(rig, job))]
    for bitmap, render, n in zip(printed, renders, numbers, strict=True):
        assert np.array_equal(bitmap, render)
        assert set(decode(bitmap)) == {posting(n), tracking(n)}


def _copies(rig: Rig, job: dict[str, Any]) -> int:
    return int(rig.daemon.query("SELECT copies FROM jobs WHERE id = ?", (job["id"],))[0][0])


def test_lp_prints_dot_exact_and_cups_reports_completed(rig: Rig) -> None:
    """lp of a 2-label PDF: labeld gets the very bytes (no CUPS filter touched them), both labels print
    on the Zebra exactly as labeld rendered them, decoded; CUPS says completed; the title is the
    document name."""
    before = len(rig.zebra.labels)
    pdf = labels(0, 2)
    job_id = rig.lp(pdf, "-t", "Ozon: order 7/2")
    attributes = rig.wait_cups(job_id, (IPP_JOB_COMPLETED, IPP_JOB_ABORTED))
    assert attributes["job-state"] == IPP_JOB_COMPLETED, attributes
    jobs = rig.labeld_jobs(job_id)
    assert [j["state"] for j in jobs] == ["printed", "printed"]
    assert {j["document"] for j in jobs} == {"Ozon: order 7_2"}
    stored = rig.daemon.query("SELECT DISTINCT sha256 FROM documents WHERE name = ?", ("Ozon: order 7_2",))
    assert stored == [(hashlib.sha256(pdf).hexdigest(),)], "CUPS must hand the PDF over untouched"
    assert_dot_exact(rig, jobs, printed_since(rig, before, 2), [0, 1])
    assert all(j["confirmed"] for j in jobs)


def test_lp_copies_prints_three(rig: Rig) -> None:
    """lp -n 3: one labeld job with 3 copies, three identical labels that scan."""
    before = len(rig.zebra.labels)
    job_id = rig.lp(labels(10, 1), "-n", "3")
    assert rig.wait_cups(job_id, (IPP_JOB_COMPLETED, IPP_JOB_ABORTED))["job-state"] == IPP_JOB_COMPLETED
    jobs = rig.labeld_jobs(job_id)
    assert len(jobs) == 1 and _copies(rig, jobs[0]) == 3
    assert_dot_exact(rig, jobs, printed_since(rig, before, 3), [10, 10, 10])


def test_low_dpi_pdf_aborts_with_labelds_reason(rig: Rig) -> None:
    """A label with a 150 dpi barcode image is refused by labeld: the CUPS job is aborted (the queue's
    policy is abort-job, the queue keeps printing) and lpstat shows labeld's reason in words."""
    before = len(rig.zebra.labels)
    low = label_pdf(LabelSpec(posting=posting(20), tracking=tracking(20), size_mm=SIZE, raster_dpi=150,
                              symbols=spec(20).symbols))
    job_id = rig.lp(low, name="low.pdf")
    attributes = rig.wait_cups(job_id, (IPP_JOB_COMPLETED, IPP_JOB_ABORTED))
    assert attributes["job-state"] == IPP_JOB_ABORTED, attributes
    (job,) = rig.labeld_jobs(job_id)
    assert job["state"] == "rejected"
    message = attributes["job-printer-state-message"]
    assert message.startswith("1 of 1 label not printed") and job["reason"] in message
    assert re.search(r"barcode image at 1[45]\d(\.\d)? dpi; Ozon requires ≥ 300 dpi", message)
    listing = rig.cupsd.run("lpstat", "-l", "-W", "completed", "-o", QUEUE)
    assert f"{QUEUE}-{job_id} " in listing and job["reason"] in listing.split(f"{QUEUE}-{job_id} ", 1)[1]
    assert len(rig.zebra.labels) == before
    assert "enabled" in rig.cupsd.run("lpstat", "-p", QUEUE)


def test_daemon_down_job_is_retried_and_prints_once_when_back(rig: Rig) -> None:
    """With labeld stopped the backend tells CUPS to retry (the job waits, nothing is lost); once
    labeld is back the same CUPS job prints, once."""
    before = len(rig.zebra.labels)
    rig.daemon.stop()
    try:
        job_id = rig.lp(labels(30, 1))
        deadline = time.monotonic() + 30
        while "not reachable" not in (rig.cups_job(job_id).get("job-printer-state-message") or ""):
            assert time.monotonic() < deadline, rig.cups_job(job_id)
            time.sleep(0.2)
        assert rig.cups_job(job_id)["job-state"] != IPP_JOB_ABORTED
    finally:
        rig.daemon.start()
    assert rig.wait_cups(job_id, (IPP_JOB_COMPLETED, IPP_JOB_ABORTED))["job-state"] == IPP_JOB_COMPLETED
    jobs = rig.labeld_jobs(job_id)
    assert len(jobs) == 1
    assert_dot_exact(rig, jobs, printed_since(rig, before, 1), [30])


def test_twenty_pages_give_twenty_labels_each_once(rig: Rig) -> None:
    """A 20-page PDF through CUPS: 20 labels, every posting once, in page order."""
    before = len(rig.zebra.labels)
    job_id = rig.lp(labels(100, 20), name="twenty.pdf")
    assert rig.wait_cups(job_id, (IPP_JOB_COMPLETED, IPP_JOB_ABORTED), 120)["job-state"] == IPP_JOB_COMPLETED
    jobs = rig.labeld_jobs(job_id)
    assert len(jobs) == 20 and all(j["state"] == "printed" for j in jobs)
    assert_dot_exact(rig, jobs, printed_since(rig, before, 20), list(range(100, 120)))


def browser_pdf(label: bytes, paper_pt: tuple[float, float], margin_pt: float, fit: bool) -> bytes:
    """What Chrome's "Save as PDF" makes of a label PDF: the label's page, still vector, on the chosen
    paper inside the margins — at 100 % and centred, or scaled to the printable area ("Fit")."""
    source = pymupdf.open("pdf", label)
    out = pymupdf.open()
    page = out.new_page(width=paper_pt[0], height=paper_pt[1])
    width, height = source[0].rect.width, source[0].rect.height
    scale = min((paper_pt[0] - 2 * margin_pt) / width, (paper_pt[1] - 2 * margin_pt) / height) if fit else 1.0
    x, y = (paper_pt[0] - width * scale) / 2, (paper_pt[1] - height * scale) / 2
    page.show_pdf_page(pymupdf.Rect(x, y, x + width * scale, y + height * scale), source, 0)
    out.set_metadata({"producer": "Skia/PDF m120", "creator": "Mozilla/5.0 Chrome/120.0", "title": "Ozon label"})
    return bytes(out.tobytes(garbage=3, deflate=True))


@pytest.mark.parametrize(("paper", "fit", "n"), [
    ((210 * MM, 297 * MM), False, 40),   # A4, "Actual size"
    ((4 * 72, 6 * 72), True, 41),        # 4×6 in, "Fit to printable area": the label grows 8 %
])
def test_browser_print_to_pdf_still_fits_and_scans(rig: Rig, paper: tuple[float, float], fit: bool, n: int) -> None:
    """A Chrome-style print-to-PDF (paper with 0.4 in margins, the label centred, at 100 % or fitted)
    prints as one label on the 75×120 mm medium, and both barcodes scan."""
    before = len(rig.zebra.labels)
    job_id = rig.lp(browser_pdf(labels(n, 1), paper, 0.4 * 72, fit), name="browser.pdf")
    assert rig.wait_cups(job_id, (IPP_JOB_COMPLETED, IPP_JOB_ABORTED))["job-state"] == IPP_JOB_COMPLETED
    jobs = rig.labeld_jobs(job_id)
    (printed,) = printed_since(rig, before, 1)
    assert printed.shape == (round(120 * 203 / 25.4), round(75 * 203 / 25.4))
    assert np.array_equal(printed, rig.daemon.spooled_bitmap(jobs[0]["id"]))
    assert set(decode(printed)) == {posting(n), tracking(n)}


def test_ipp_from_another_client_over_tcp(rig: Rig, tmp_path: Path) -> None:
    """ipptool sends Print-Job over the private cupsd's TCP port, as another PC on the LAN would,
    with 2 copies and its own user and job name: two labels print and labeld records who asked."""
    before = len(rig.zebra.labels)
    pdf = tmp_path / "remote.pdf"
    pdf.write_bytes(labels(50, 1))
    test = tmp_path / "print.test"
    test.write_text("""{
    NAME "Print-Job from the warehouse PC"
    OPERATION Print-Job
    GROUP operation-attributes-tag
    ATTR charset attributes-charset utf-8
    ATTR language attributes-natural-language en
    ATTR uri printer-uri $uri
    ATTR name requesting-user-name warehouse
    ATTR name job-name "Shipping label 50"
    ATTR mimeMediaType document-format application/pdf
    GROUP job-attributes-tag
    ATTR integer copies 2
    FILE $filename
    STATUS successful-ok
    EXPECT job-id OF-TYPE integer
}
""")
    uri = f"ipp://127.0.0.1:{rig.cupsd.port}/printers/{QUEUE}"
    result = subprocess.run(["ipptool", "-tv", "-f", str(pdf), uri, str(test)], capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    job_id = int(re.search(r"job-id \(integer\) = (\d+)", result.stdout).group(1))  # type: ignore[union-attr]
    assert rig.wait_cups(job_id, (IPP_JOB_COMPLETED, IPP_JOB_ABORTED))["job-state"] == IPP_JOB_COMPLETED
    jobs = rig.labeld_jobs(job_id)
    assert [j["document"] for j in jobs] == ["Shipping label 50"]
    requested = rig.daemon.query("SELECT json_extract(sidecar, '$.requested_by') FROM documents WHERE name = ?",
                                 ("Shipping label 50",))[0][0]
    assert requested.startswith("warehouse@") and requested.endswith(f"(CUPS {QUEUE}-{job_id})")
    assert_dot_exact(rig, jobs, printed_since(rig, before, 2), [50, 50])


def test_postscript_job_arrives_as_pdf_and_prints(rig: Rig, tmp_path: Path) -> None:
    """A PostScript job (what Windows' PS class driver and older macOS send) goes through CUPS's
    gstopdf into the backend's standard input as a PDF: two copies (not four), both scan."""
    before = len(rig.zebra.labels)
    pdf = tmp_path / "label.pdf"
    pdf.write_bytes(labels(70, 1))
    ps = tmp_path / "label.ps"
    subprocess.run(["gs", "-q", "-dBATCH", "-dNOPAUSE", "-sDEVICE=ps2write", f"-sOutputFile={ps}", str(pdf)],
                   check=True, timeout=60)
    job_id = rig.lp(ps.read_bytes(), "-n", "2", name="label.ps")
    assert rig.wait_cups(job_id, (IPP_JOB_COMPLETED, IPP_JOB_ABORTED))["job-state"] == IPP_JOB_COMPLETED
    (job,) = rig.labeld_jobs(job_id)
    assert _copies(rig, job) == 2
    assert "Started filter" in rig.cupsd.log() and "gstopdf" in rig.cupsd.log()
    for printed in printed_since(rig, before, 2):
        assert set(decode(printed)) == {posting(70), tracking(70)}


def test_raw_zpl_job_goes_through_unchanged(rig: Rig, tmp_path: Path) -> None:
    """lp -o raw of a ZPL file: CUPS does not touch it, labeld sends it to the ZPL printer as it is."""
    before = len(rig.zebra.labels)
    pdf = tmp_path / "label.pdf"
    pdf.write_bytes(labels(80, 1))
    zpl = tmp_path / "label.zpl"
    printer = PrinterConfig(name="z", driver="zpl", uri="dir:///dev/null", media="75x120mm", dpi=203)
    assert convert_document(pdf, printer, zpl).ok
    job_id = rig.lp(zpl.read_bytes(), "-o", "raw", name="label.zpl")
    assert rig.wait_cups(job_id, (IPP_JOB_COMPLETED, IPP_JOB_ABORTED))["job-state"] == IPP_JOB_COMPLETED
    (printed,) = printed_since(rig, before, 1)
    assert set(decode(printed)) == {posting(80), tracking(80)}
    stored = rig.daemon.query("SELECT DISTINCT sha256, kind FROM documents WHERE name = 'label.zpl'")
    assert stored == [(hashlib.sha256(zpl.read_bytes()).hexdigest(), "zpl")]


def test_lpinfo_lists_labelds_printers(rig: Rig) -> None:
    """Device discovery (the backend with no arguments, run by cupsd as lp) lists labeld:/ and each printer."""
    devices = rig.cupsd.run("lpinfo", "-l", "-v")
    assert "uri = labeld:/zd420" in devices and "uri = labeld:/dry" in devices and "uri = labeld\n" in devices
    assert "labeld zd420 (zpl, 75x120mm)" in devices


def test_printer_out_of_labels_job_retried_and_followed_not_sent_twice(rig: Rig) -> None:
    """The labeld printer is out of labels: the backend waits its bound (wait=2 in the device URI),
    CUPS retries the job and each retry follows the same labeld job (the upload's key is the CUPS
    job's uuid); once labels are loaded it prints once and CUPS completes the job."""
    job_id = rig.lp(labels(60, 1), queue="dry")
    rig.daemon.wait_for(lambda: "media-empty" in rig.daemon.printer("dry")["reasons"], 30, "dry out of labels")
    deadline = time.monotonic() + 30
    while "still waiting in labeld" not in (rig.cups_job(job_id).get("job-printer-state-message") or ""):
        assert time.monotonic() < deadline, rig.cups_job(job_id)
        time.sleep(0.2)
    time.sleep(3)  # at least one more retry of the CUPS job
    rig.dry.emulator.clear_fault()
    assert rig.wait_cups(job_id, (IPP_JOB_COMPLETED, IPP_JOB_ABORTED))["job-state"] == IPP_JOB_COMPLETED
    jobs = rig.labeld_jobs(job_id, queue="dry")
    assert len(jobs) == 1 and jobs[0]["state"] == "printed"
    (printed,) = printed_since(rig, 0, 1, rig.dry)
    assert set(decode(printed)) == {posting(60), tracking(60)}
    assert "Backend returned status 6 (retry job later)" in rig.cupsd.log()
