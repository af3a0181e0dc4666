"""Link jobs (#16) in the engine, in process: what the render pipeline, the rules and the operations do
with a label that is still a link, before and after labeld fetched it.

The link intake's fetches run in the test's thread (:meth:`Engine.fetch_links`) against a loopback
HTTPS server with a CA made for the run; time is the engine's fake clock.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from labeld.cli.formatting import job_detail
from labeld.config import LinksConfig
from labeld.daemon.operations import Refused, ReprintRequest
from labeld.errors import RejectedInput
from labeld.intake.remote import parse_job, redact_job_bytes
from labeld.spool.states import JobState
from labeld.testing.engine import Engine
from labeld.testing.link_server import LinkServer, Serve
from labeld.web.views import Views
from tests.conftest import cached_label, decode

S = JobState
HOUR = 3600.0
POSTING = "73000001-0001-1"


@pytest.fixture(scope="module")
def links(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LinkServer]:
    server = LinkServer(tmp_path_factory.mktemp("link-tls"))
    yield server
    server.stop()


@pytest.fixture
def engine(memory_dir: Path, links: LinkServer) -> Iterator[Engine]:
    config = LinksConfig(ca_bundle=links.ca_bundle, tries=2, backoff=1.0, read_timeout=5.0, connect_timeout=5.0)
    with Engine(memory_dir, links=config) as assembled:
        yield assembled


def served(links: LinkServer, name: str, how: Serve | None = None) -> str:
    return links.serve(f"/engine/{name}", how or Serve(cached_label(posting=POSTING, tracking="TRK073000001")))


def test_a_queued_link_is_not_rendered_until_fetched(engine: Engine, links: LinkServer) -> None:
    """Accepted at once as a queued job; the pipeline passes it by while it is a link; once fetched it
    is rendered and printed like a dropped file, its barcode decoded."""
    url = served(links, "wait.pdf")
    [job] = engine.submit_link(url, posting=POSTING)
    engine.run()
    assert engine.state(job) is S.QUEUED and engine.printer().received == []
    assert links.count("/engine/wait.pdf") == 0
    assert engine.fetch_links() == 1
    assert engine.job(job).reason.code == "link.fetched"
    engine.run()
    assert engine.state(job) is S.PRINTED
    assert POSTING in decode(engine.printer().labels[0])
    assert engine.fetch_links() == 0, "a fetched link is not fetched again"
    assert links.count("/engine/wait.pdf") == 1


def test_a_fetch_that_keeps_failing_fails_the_job_with_the_last_error(engine: Engine, links: LinkServer) -> None:
    """503 twice (tries = 2): retried after the backoff by the fake clock, then failed saying so."""
    url = served(links, "down.pdf", Serve(b"busy", status=503, content_type="text/plain"))
    [job] = engine.submit_link(url)
    engine.fetch_links()
    assert engine.state(job) is S.QUEUED and engine.job(job).reason.code == "link.retrying"
    assert engine.fetch_links() == 0, "not again before the backoff"
    engine.time.advance(1.5)
    engine.fetch_links()
    engine.run()
    reason = engine.job(job).reason
    assert engine.state(job) is S.FAILED and reason.code == "link.failed"
    assert dict(reason.params)["tries"] == 2 and "503" in reason.text()
    assert engine.printer().received == []


def test_a_refused_link_is_rejected_with_its_reason(engine: Engine, links: LinkServer) -> None:
    """403: rejected at once as expired or a failed signature, the link named without its query."""
    url = served(links, "denied.pdf", Serve(b"<Error/>", status=403, content_type="application/xml"))
    [job] = engine.submit_link(url)
    engine.fetch_links()
    reason = engine.job(job).reason
    assert engine.state(job) is S.REJECTED and reason.code == "link.expired_or_signature"
    assert "/engine/denied.pdf" in reason.text() and "Signature" not in reason.text()


def test_an_expired_link_is_not_fetched(engine: Engine, links: LinkServer) -> None:
    """Issued 5 h ago: past the 4 h validity, rejected without a request."""
    url = served(links, "old.pdf")
    [job] = engine.submit_link(url, issued_at=engine.time.time() - 5 * HOUR)
    engine.fetch_links()
    assert engine.state(job) is S.REJECTED and engine.job(job).reason.code == "link.expired"
    assert links.count("/engine/old.pdf", "HEAD") == 0


def test_reprint_preview_and_show_before_the_fetch(engine: Engine, links: LinkServer) -> None:
    """Before the fetch a reprint is refused (nothing was fetched to print again), the preview says the
    label is not fetched yet, and show tells the link's state without its signed query."""
    url = served(links, "early.pdf")
    [job] = engine.submit_link(url, posting=POSTING)
    ops = engine.operations
    with pytest.raises(Refused) as refused:
        ops.reprint_job(job, ReprintRequest())
    assert refused.value.code == "label_invalid"
    assert refused.value.reason.params["why"]["code"] == "reprint.not_fetched"
    assert "never fetched" in refused.value.reason.text()
    with pytest.raises(Refused) as no_picture:
        ops.preview_png(job)
    assert no_picture.value.reason.code == "op.preview_not_fetched" and "not fetched yet" in str(no_picture.value)
    detail = ops.job_detail(job)
    assert detail["link"]["state"] == "waiting" and detail["link"]["url"] == url.split("?")[0]
    assert "?" not in json.dumps(detail) and "Signature" not in json.dumps(detail)
    shown = job_detail(detail, engine.time.time())
    assert f"link {url.split('?')[0]}: not fetched yet" in shown and "Signature" not in shown
    page = Views(ops, "en", now=engine.time.time).job_page(job)
    assert page["not_fetched"] and not page["has_picture"]
    with pytest.raises(Refused):
        ops.reprint_posting(POSTING, ReprintRequest())
    with pytest.raises(Refused, match="never fetched"):
        ops.reprint_job(job, ReprintRequest(force=True))

    engine.fetch_links()
    engine.run()
    assert engine.state(job) is S.PRINTED
    assert ops.job_detail(job)["link"]["state"] == "fetched"
    assert ops.preview_png(job).startswith(b"\x89PNG")
    [again] = ops.reprint_job(job, ReprintRequest())
    engine.run()
    assert engine.state(again) is S.PRINTED and len(engine.printer().labels) == 2


def test_a_link_that_gave_no_label_cannot_be_reprinted(engine: Engine, links: LinkServer) -> None:
    """The link failed: the reprint is refused saying there is no label to print again."""
    url = served(links, "gone.pdf", Serve(b"", status=404, content_type="text/plain"))
    [job] = engine.submit_link(url)
    engine.fetch_links()
    assert engine.state(job) is S.REJECTED
    with pytest.raises(Refused) as refused:
        engine.operations.reprint_job(job, ReprintRequest())
    why = refused.value.reason.params["why"]
    assert why["code"] == "reprint.not_fetched" and why["params"]["state"] == "failed"


def test_a_job_file_is_kept_without_its_query() -> None:
    """What the hot folder archives of a *.json link job: the label_url without its query (the
    signature), every other byte as written; a job file that is not JSON loses every link's query."""
    written = b'{\n  "label_url": "https://cdn.example/l/1.pdf?X-Amz-Signature=abc&e=1",\n  "copies": 2\n}\n'
    assert redact_job_bytes(written) == b'{\n  "label_url": "https://cdn.example/l/1.pdf",\n  "copies": 2\n}\n'
    escaped = json.dumps({"label_url": "https://cdn.example/a\u00e9.pdf?sig=s", "note": "x"}).encode()
    assert json.loads(redact_job_bytes(escaped) or b"") == {"label_url": "https://cdn.example/a\u00e9.pdf", "note": "x"}
    assert redact_job_bytes(b'{"label_url": "https://cdn.example/plain.pdf"}') is None
    assert redact_job_bytes(b'{"label_code": "JVBERi0="}') is None
    cut = b'{"label_url": "https://h/x.pdf?sig=1", "copies": '
    assert redact_job_bytes(cut) == b'{"label_url": "https://h/x.pdf", "copies": '


@pytest.mark.parametrize("url", ["https://3j\ud992\udeed]{\u00a3", "https://пример.рф/label.pdf", "https://[::1/x.pdf",
                                 "http://example.com/label.pdf", "https:///label.pdf", "https://a b/label.pdf"])
def test_a_label_url_that_is_not_an_https_link_is_refused_as_such(url: str) -> None:
    """Not https, no host, not printable ASCII (RFC 3986 percent-encodes the rest: schemathesis found
    a lone surrogate crashing the API), an unclosed IPv6 literal: each is refused with the reason."""
    with pytest.raises(RejectedInput) as refused:
        parse_job({"label_url": url})
    assert refused.value.reason.code == "link.bad_url"
    assert parse_job({"label_url": "https://example.com/l.pdf?sig=x"}).url == "https://example.com/l.pdf?sig=x"
