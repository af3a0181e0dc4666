"""The OpenAPI document is valid and matches the running daemon: schemathesis generates requests
for every operation from it and checks each answer (status, content type, body schema, no 5xx)."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml
from hypothesis import HealthCheck, given, settings
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection
from urllib3.connectionpool import HTTPConnectionPool

import labeld.api
from labeld.testing.daemon import DaemonProcess

schemathesis = pytest.importorskip("schemathesis")
from schemathesis.checks import not_a_server_error  # noqa: E402
from schemathesis.specs.openapi.checks import (  # noqa: E402  # after the importorskip on purpose
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

OPENAPI = Path(labeld.api.__file__).parent / "openapi.yaml"
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
#: Long-polls wait by design; /v1/events is exercised below with short timeouts instead.
LONG_POLL = "/v1/events"
BASE_URL = "http://labeld"


@schemathesis.serializer("application/pdf")
def pdf_body(context: Any, value: Any) -> bytes:
    """Generated PDF bodies are arbitrary bytes: the daemon must refuse them with a documented 4xx."""
    return value if isinstance(value, bytes) else str(value).encode()


class UnixConnection(HTTPConnection):
    def __init__(self, path: str, **kwargs: Any) -> None:
        super().__init__("labeld", **kwargs)
        self.socket_path = path

    def _new_conn(self) -> socket.socket:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(30)
        sock.connect(self.socket_path)
        return sock


class UnixPool(HTTPConnectionPool):
    def __init__(self, path: str) -> None:
        super().__init__("labeld")
        self.socket_path = path

    def _new_conn(self) -> UnixConnection:
        return UnixConnection(self.socket_path)


class UnixAdapter(HTTPAdapter):
    """requests over the control socket, so schemathesis talks to the real daemon."""

    def __init__(self, path: Path) -> None:
        super().__init__()
        self.pool = UnixPool(str(path))

    def get_connection_with_tls_context(self, *args: Any, **kwargs: Any) -> UnixPool:
        return self.pool


@pytest.fixture(scope="module")
def session(tmp_path_factory: pytest.TempPathFactory) -> Iterator[requests.Session]:
    with DaemonProcess(tmp_path_factory.mktemp("openapi")) as daemon, requests.Session() as session:
        session.mount("http://labeld", UnixAdapter(daemon.socket))
        yield session


def test_document_is_valid_openapi() -> None:
    """The document parses, is OpenAPI 3, and lists every endpoint of the contract."""
    document = yaml.safe_load(OPENAPI.read_text(encoding="utf-8"))
    assert document["openapi"].startswith("3.")
    expected = {"/v1/status", "/v1/jobs", "/v1/jobs/{id}", "/v1/jobs/{id}/preview.png", "/v1/documents",
                "/v1/jobs/{id}/reprint", "/v1/postings/{posting}/reprint", "/v1/jobs/{id}/cancel",
                "/v1/jobs/{id}/hold", "/v1/jobs/{id}/release", "/v1/printers", "/v1/printers/{name}/pause",
                "/v1/printers/{name}/resume", "/v1/printers/{name}/test", "/v1/clock", "/v1/events", "/metrics",
                "/v1/web/login",
                "/v1/sources", "/v1/sources/{name}/pause", "/v1/sources/{name}/resume", "/v1/postings/{posting}/fetch",
                "/v1/alarms", "/v1/jobs/{id}/ack", "/v1/rejected", "/v1/rejected/{id}/ack", "/v1/lookup",
                "/v1/reprint"}
    assert expected <= set(document["paths"])
    schema = schemathesis.openapi.from_path(str(OPENAPI))
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) == len(expected) + 2  # two paths have two operations; one is /v1/jobs (GET, POST: #16)


def test_daemon_matches_document(session: requests.Session) -> None:
    """A few generated requests per operation; every answer must conform to the document."""
    schema = schemathesis.openapi.from_path(str(OPENAPI))
    statuses: dict[str, set[int]] = {}
    for result in schema.get_all_operations():
        operation = result.ok()
        if operation.path == LONG_POLL:
            continue
        statuses[operation.label] = set()

        @settings(max_examples=25, deadline=None, database=None,
                  suppress_health_check=list(HealthCheck))
        @given(case=operation.as_strategy())
        def check(case: Any) -> None:
            response = case.call_and_validate(base_url=BASE_URL, session=session, checks=CHECKS)
            statuses[case.operation.label].add(response.status_code)

        check()
    assert all(statuses.values()), statuses
    assert any(code < 300 for code in statuses["POST /v1/jobs/{id}/reprint"] | statuses["GET /v1/status"])
    assert all(400 <= code < 500 for code in statuses["POST /v1/documents"])


def test_events_match_document(session: requests.Session) -> None:
    """The long-poll answers in the documented shape, at once when events exist."""
    schema = schemathesis.openapi.from_path(str(OPENAPI))
    operation = schema["/v1/events"]["GET"]
    for query in ({"after": 0, "timeout": 0}, {"timeout": 0.2}):
        case = operation.Case(query=query)
        response = case.call_and_validate(base_url=BASE_URL, session=session, checks=CHECKS)
        assert set(response.json()) == {"events", "last"}
