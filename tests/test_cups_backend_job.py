"""The CUPS backend's decisions, in process: how CUPS's arguments become an upload and how the
labels' final states become a backend exit code and the words CUPS shows."""

from __future__ import annotations

import io
import subprocess
import sys
from typing import Any

import pytest

from labeld.cli.cups_backend import Reporter, main
from labeld.cli.cups_job import BadDeviceUri, CupsJob, Exit, UsageError, document_name, parse_options, verdict
from tests.cups_helpers import PPD, REPO

UUID = "urn:uuid:27c0d8a4-7713-3025-7bbc-01fdb90b7f29"
OPTIONS = (f"finishings=3 number-up=1 job-uuid={UUID} job-originating-host-name=192.168.1.20 "
           "document-name-supplied=big.pdf")


def cups_job(options: str = OPTIONS, uri: str = "labeld:/zd420", title: str = "Ozon labels") -> CupsJob:
    return CupsJob.from_invocation(["17", "alice", title, "2", options, "/var/spool/cups/d00017-001"],
                                   {"DEVICE_URI": uri, "PRINTER": "ozon-labels"})


def test_options_are_read_like_cups_parse_options() -> None:
    """Quotes group, backslashes escape, bare names are true and no-names false, the last value wins."""
    text = r"""a=1 title='two words' path="C:\\dir\"q" esc=a\ b flag nocollate multi=x,y a=3"""
    assert parse_options(text) == {"a": "3", "title": "two words", "path": 'C:\\dir"q', "esc": "a b",
                                   "flag": "true", "collate": "false", "multi": "x,y"}
    assert parse_options("") == {}
    assert parse_options("   ") == {}


def test_upload_query_maps_copies_title_user_uuid_and_queue() -> None:
    """Copies, the title as document name, who asked from where, and the job's uuid as the key."""
    assert cups_job().upload_query() == {
        "name": "Ozon labels", "copies": "2", "printer": "zd420", "key": f"cups:{UUID}",
        "requested_by": "alice@192.168.1.20 (CUPS ozon-labels-17)"}


def test_printer_and_posting_job_options_are_honoured() -> None:
    """printer= wins over the device URI; posting= becomes the posting number; labeld:/ routes."""
    query = cups_job(OPTIONS + " printer=ql820 posting=12345678-0012-1").upload_query()
    assert query["printer"] == "ql820" and query["posting_number"] == "12345678-0012-1"
    assert "printer" not in cups_job(uri="labeld:/").upload_query()
    assert "printer" not in cups_job(uri="labeld:").upload_query()


@pytest.mark.parametrize(("title", "name"), [
    ("../../etc/passwd", "_.._etc_passwd"),
    ("C:\\Users\\a\\label.pdf", "C:_Users_a_label.pdf"),
    ("...hidden", "hidden"),
    ("line\nbreak\ttab\x00nul", "line break tab nul"),
    ("Этикетка Ozon — 75×120", "Этикетка Ozon — 75×120"),
    ("", "cups-job-17"),
    ("\x01\x02", "cups-job-17"),
    ("x" * 500, "x" * 200),
])
def test_title_becomes_a_safe_document_name(title: str, name: str) -> None:
    """Slashes, backslashes, control characters and leading dots go; empty becomes cups-job-ID."""
    assert document_name(title, "17") == name


def test_bad_invocations_are_told_apart() -> None:
    """Wrong arguments fail the job; a device URI that is not labeld's stops the queue."""
    with pytest.raises(UsageError):
        CupsJob.from_invocation(["17", "alice"], {"DEVICE_URI": "labeld:/"})
    with pytest.raises(BadDeviceUri):
        cups_job(uri="socket://10.0.0.5:9100")
    with pytest.raises(BadDeviceUri):
        cups_job(uri="labeld:/a/b")
    for uri in ("labeld:/a?wait=soon", "labeld:/a?wait=-1", "labeld:/a?speed=2"):
        with pytest.raises(BadDeviceUri):
            cups_job(uri=uri)
    assert cups_job(uri="labeld:/zd420?wait=30").uri_wait == 30.0
    assert cups_job(uri="labeld:/zd420?wait=30").upload_query()["printer"] == "zd420"
    assert cups_job().uri_wait is None
    err = io.StringIO()
    assert main(["17", "alice", "t", "1", "", "/nonexistent"], {"DEVICE_URI": "ipp://x/"}, stderr=err) == Exit.STOP
    assert err.getvalue().startswith("ERROR: device URI 'ipp://x/' is not a labeld URI")
    assert main(["17"], {"DEVICE_URI": "labeld:/"}, stderr=io.StringIO()) == Exit.FAILED


def job(job_id: int, state: str, reason: str = "", page: int = 1, printer: str = "zd420") -> dict[str, Any]:
    return {"id": job_id, "state": state, "reason": reason, "printer": printer, "label": {"page": page}}


def test_verdict_all_printed_is_ok() -> None:
    """Every label printed: OK, naming the printer and the labeld jobs."""
    outcome = verdict([job(4, "printed"), job(5, "printed", page=2), job(6, "printed", page=3)], 300)
    assert outcome.code == Exit.OK and outcome.message == "printed 3 labels on zd420 (labeld jobs 4–6)"


def test_verdict_refused_label_fails_with_labeld_reason() -> None:
    """One refused label fails the CUPS job with labeld's own words; the printed count is kept."""
    reason = "barcode image at 150 dpi; Ozon requires ≥ 300 dpi"
    outcome = verdict([job(7, "printed"), job(8, "rejected", reason, page=2)], 300)
    assert outcome.code == Exit.FAILED
    assert outcome.message == f"1 of 2 labels not printed (1 printed): page 2: job 8 rejected: {reason}"
    structured = verdict([job(9, "duplicate", {"text": "same label as job 3"})], 300)  # type: ignore[arg-type]
    assert structured.code == Exit.FAILED and "job 9 duplicate: same label as job 3" in structured.message


def test_verdict_held_holds_and_waiting_retries() -> None:
    """A held label holds the CUPS job (release after labelctl release); labels still waiting retry."""
    held = verdict([job(10, "held", "label expired 5 min ago"), job(11, "printed", page=2)], 300)
    assert held.code == Exit.HOLD and "labelctl release 10" in held.message and "label expired" in held.message
    waiting = verdict([job(12, "ready"), job(13, "printed", page=2)], 300)
    assert waiting.code == Exit.RETRY
    assert "1 of 2 labels still waiting in labeld on zd420 after 300 s" in waiting.message
    both = verdict([job(14, "held", "expired"), job(15, "rejected", "too large")], 300)
    assert both.code == Exit.FAILED


def test_reporter_writes_filter_protocol_lines() -> None:
    """INFO/ERROR lines are one line each, cut to CUPS_MAX_MESSAGE (prefix and newline included);
    STATE mirrors reasons as -warning."""
    out = io.StringIO()
    report = Reporter(out, {"CUPS_MAX_MESSAGE": "40"})
    report.info("two\nlines")
    report.error("x" * 100)
    report.mirror({"media-empty"})
    report.mirror({"cover-open"})
    report.mirror(set())
    cyrillic = io.StringIO()
    Reporter(cyrillic, {"CUPS_MAX_MESSAGE": "20"}).error("метка не напечатана")
    assert len(cyrillic.getvalue().encode()) <= 20 and cyrillic.getvalue().startswith("ERROR: метк")
    assert out.getvalue().splitlines() == [
        "INFO: two lines", "ERROR: " + "x" * 32, "STATE: +media-empty-warning",
        "STATE: -media-empty-warning", "STATE: +cover-open-warning", "STATE: -cover-open-warning"]


def test_backend_needs_only_the_standard_library() -> None:
    """The backend module imports with no site-packages at all, so any Python that sees labeld runs it."""
    code = f"import sys; sys.path.insert(0, {str(REPO)!r}); import labeld.cli.cups_backend"
    result = subprocess.run([sys.executable, "-I", "-S", "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr


def test_discovery_lists_the_scheme_without_a_daemon() -> None:
    """With no arguments the backend lists its scheme (lpinfo -v), even when labeld is not running."""
    out = io.StringIO()
    assert main([], {"LABELD_SOCKET": "/nonexistent/labeld.sock"}, stdout=out) == Exit.OK
    assert out.getvalue() == 'direct labeld "Unknown" "labeld label print server"\n'


def test_ppd_passes_cupstestppd_without_warnings() -> None:
    """CUPS's own PPD checker finds no error and no warning in cups/labeld.ppd."""
    result = subprocess.run(["cupstestppd", "-W", "all", str(PPD)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and "PASS" in result.stdout and "WARN" not in result.stdout, result.stdout
