"""Bad requests to the control socket get a 4xx with a reason, and the daemon keeps serving."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from labeld.cli.client import UnixHTTPConnection
from labeld.labelmaker import batch_pdf
from labeld.testing.daemon import DaemonProcess


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DaemonProcess]:
    with DaemonProcess(tmp_path_factory.mktemp("api")) as running:
        yield running


def request(daemon: DaemonProcess, method: str, target: str, body: bytes | None = None,
            headers: dict[str, str] | None = None) -> tuple[int, str, bytes]:
    connection = UnixHTTPConnection(daemon.socket, timeout=30)
    try:
        connection.request(method, target, body=body, headers=headers or {})
        response = connection.getresponse()
        return response.status, response.getheader("Content-Type", ""), response.read()
    finally:
        connection.close()


def error_of(daemon: DaemonProcess, method: str, target: str, body: bytes | None = None,
             headers: dict[str, str] | None = None) -> tuple[int, dict[str, Any]]:
    status, content_type, raw = request(daemon, method, target, body, headers)
    assert content_type == "application/json"
    return status, json.loads(raw)["error"]


def assert_serving(daemon: DaemonProcess) -> None:
    status, _, raw = request(daemon, "GET", "/v1/status")
    assert status == 200 and json.loads(raw)["version"]


def test_unknown_job_and_endpoint(daemon: DaemonProcess) -> None:
    """Unknown things are 404 with a sentence; a wrong method is 405."""
    status, error = error_of(daemon, "GET", "/v1/jobs/424242")
    assert (status, error["code"]) == (404, "not_found") and "no job 424242" in error["message"]
    assert error_of(daemon, "GET", "/v1/nothing")[0] == 404
    assert error_of(daemon, "POST", "/v1/jobs/424242/reprint")[0] == 404
    assert error_of(daemon, "DELETE", "/v1/status")[0] == 405
    assert error_of(daemon, "POST", "/v1/printers/nosuch/pause")[0] == 404
    assert error_of(daemon, "GET", "/v1/jobs?state=lost")[0] == 400
    assert error_of(daemon, "GET", "/v1/jobs?limit=lots")[0] == 400
    assert_serving(daemon)


def test_malformed_json_and_bad_fields(daemon: DaemonProcess) -> None:
    """Reprint bodies are checked: broken JSON, wrong types and unknown keys are 400."""
    status, _, raw = request(daemon, "POST", "/v1/documents", batch_pdf(1, first_posting=81000000),
                             {"Content-Type": "application/pdf"})
    assert status == 201
    job = json.loads(raw)["job_ids"][0]
    for body, code in ((b"{not json", "bad_json"), (b"[1]", "bad_json"), (b'{"copies": "two"}', "bad_request"),
                       (b'{"colour": true}', "bad_request"), (b'{"copies": 0}', "bad_request")):
        status, error = error_of(daemon, "POST", f"/v1/jobs/{job}/reprint", body,
                                 {"Content-Type": "application/json"})
        assert (status, error["code"]) == (400, code), error
    assert_serving(daemon)


def test_non_pdf_and_wrong_type_uploads(daemon: DaemonProcess) -> None:
    """A text file is refused as unprintable (422); a form upload is the wrong media type (415)."""
    status, error = error_of(daemon, "POST", "/v1/documents", b"hello, this is not a PDF",
                             {"Content-Type": "application/pdf"})
    assert status == 422 and error["code"] == "rejected_input" and error["message"]
    status, error = error_of(daemon, "POST", "/v1/documents", b"a=b",
                             {"Content-Type": "application/x-www-form-urlencoded"})
    assert status == 415
    assert error_of(daemon, "POST", "/v1/documents", b"", {"Content-Type": "application/pdf"})[0] == 400
    assert error_of(daemon, "POST", "/v1/documents?copies=0", b"%PDF", {"Content-Type": "application/pdf"})[0] == 400
    assert_serving(daemon)


def test_two_gigabyte_upload_refused_by_its_length(daemon: DaemonProcess) -> None:
    """Content-Length: 2 GB is answered 413 without the daemon waiting for the body: the body is
    never sent, so an answer at all (before the client's 30 s and the server's 120 s idle limit) proves it."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(30)
        sock.connect(str(daemon.socket))
        sock.sendall(b"POST /v1/documents HTTP/1.1\r\nHost: labeld\r\nContent-Type: application/pdf\r\n"
                     b"Content-Length: 2147483648\r\n\r\n%PDF-1.7\n")
        answer = b""
        while b"}}" not in answer:
            chunk = sock.recv(4096)
            if not chunk:
                break
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 413 ")
    assert b'"too_large"' in answer and b"2147483648" in answer
    assert_serving(daemon)


def test_expect_continue_refused_before_the_body(daemon: DaemonProcess) -> None:
    """curl asks first (Expect: 100-continue) for large bodies; labeld says no before it is sent."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(10)
        sock.connect(str(daemon.socket))
        sock.sendall(b"POST /v1/documents HTTP/1.1\r\nHost: labeld\r\nContent-Length: 2147483648\r\n"
                     b"Expect: 100-continue\r\n\r\n")
        answer = sock.recv(4096)
    assert answer.startswith(b"HTTP/1.1 413 ")


@pytest.mark.parametrize("target", [
    "/v1/jobs/..%2F..%2Fetc%2Fpasswd",
    "/v1/jobs/../../etc/passwd",
    "/v1/jobs/1/..%2F..%2F..%2Fetc%2Fpasswd",
    "/v1/jobs/..%2F..%2Fetc%2Fpasswd/preview.png",
    "/v1/postings/..%2F..%2Fetc%2Fpasswd/reprint",
    "/v1/printers/..%2F..%2Fetc%2Fpasswd/pause",
    "/v1/printers/..%2F..%2Fetc%2Fpasswd/test",
    "/v1/jobs?printer=../../etc/passwd",
    "/v1/jobs?posting=../../etc/passwd",
    "/v1/documents?name=../../etc/passwd",
    "/v1/documents?printer=../../etc/passwd",
])
def test_path_traversal_is_refused(daemon: DaemonProcess, target: str) -> None:
    """``../../etc/passwd`` anywhere a name is taken is a 400/404 with a reason, never a file."""
    method = "GET" if target.startswith("/v1/jobs") and not target.endswith(("reprint", "pause")) else "POST"
    body = batch_pdf(1, first_posting=82000000) if target.startswith("/v1/documents") else None
    status, error = error_of(daemon, method, target, body, {"Content-Type": "application/pdf"} if body else None)
    assert status in (400, 404), (target, status, error)
    assert error["message"] and "root:" not in error["message"]
    assert_serving(daemon)


def test_metrics_and_events(daemon: DaemonProcess, tmp_path: Path) -> None:
    """/metrics is Prometheus text with the contract's series; /v1/events waits, then answers."""
    status, _, raw = request(daemon, "POST", "/v1/documents?posting_number=83000000-0001-1",
                             batch_pdf(1, first_posting=83000000), {"Content-Type": "application/pdf"})
    job = json.loads(raw)["job_ids"][0]
    daemon.wait_for(lambda: any(j["id"] == job and j["state"] == "printed" for j in daemon.jobs()))
    status, content_type, raw = request(daemon, "GET", "/metrics")
    text = raw.decode()
    assert status == 200 and content_type.startswith("text/plain")
    assert 'labeld_jobs{state="printed"}' in text and 'labeld_printer_up{printer="preview"} 1.0' in text
    assert 'labeld_labels_printed_total{printer="preview"}' in text
    assert "labeld_render_seconds_bucket" in text
    _, _, raw = request(daemon, "GET", "/v1/events?after=0&timeout=5")
    answer = json.loads(raw)
    assert answer["events"][0]["seq"] == 1 and answer["last"] >= len(answer["events"])
    started = time.monotonic()
    _, _, raw = request(daemon, "GET", f"/v1/events?after={answer['last'] + 10**6}&timeout=0.5")
    assert json.loads(raw)["events"] == [] and 0.4 < time.monotonic() - started < 30  # it waited; 30 s: a hang
    assert error_of(daemon, "GET", "/v1/events?timeout=9999")[0] == 400


def test_upload_key_is_idempotent_and_requested_by_is_kept(daemon: DaemonProcess) -> None:
    """An upload with a key stores once: the same key again answers 200 with the first jobs;
    requested_by is shown on each job and in its history."""
    pdf = batch_pdf(2, first_posting=82000000)
    target = "/v1/documents?key=urn:uuid:1b4e28ba-2fa1-11d2-883f-0016d3cca427&requested_by=alice%40pc7&name=a.pdf"
    status, _, raw = request(daemon, "POST", target, pdf, {"Content-Type": "application/pdf"})
    first = json.loads(raw)
    assert status == 201 and first["repeat"] is False and len(first["job_ids"]) == 2
    status, _, raw = request(daemon, "POST", target.replace("a.pdf", "b.pdf"), pdf, {"Content-Type": "application/pdf"})
    again = json.loads(raw)
    assert status == 200 and again == {**first, "repeat": True}
    assert len([j for j in daemon.jobs() if j["id"] in first["job_ids"]]) == 2
    status, _, raw = request(daemon, "GET", f"/v1/jobs/{first['job_ids'][0]}")
    job = json.loads(raw)
    assert job["document"]["requested_by"] == "alice@pc7"
    assert "requested by alice@pc7" in job["history"][0]["reason"]


def test_bad_key_and_requested_by_are_refused(daemon: DaemonProcess) -> None:
    """A key with spaces and a requested_by with a control character are 400, nothing stored."""
    before = len(daemon.jobs())
    pdf = batch_pdf(1, first_posting=83000000)
    for query in ("key=two%20words", "key=" + "k" * 201, "requested_by=bob%0Aevil", "requested_by="):
        status, error = error_of(daemon, "POST", f"/v1/documents?{query}", pdf, {"Content-Type": "application/pdf"})
        assert (status, error["code"]) == (400, "bad_request"), (query, error)
    assert len(daemon.jobs()) == before
