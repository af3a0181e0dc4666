"""Labels that arrive as a link or a code: the one place labeld fetches, verifies and spools them.

A *link job* (a ``*.json`` file in the hot folder, ``POST /v1/jobs``, ``labelctl print --url``)
carries the sidecar's fields plus ``label_url`` or ``label_code``:

- ``label_code`` is decoded strictly (Base64, line breaks allowed) and must be a PDF, PNG, SVG or
  ZPL; then it is accepted like a dropped file (:meth:`labeld.intake.accept.Acceptor.accept`).
- ``label_url`` is accepted at once as a durable job of a document still to fetch
  (:meth:`~labeld.intake.accept.Acceptor.accept_link`); :class:`RemoteIntake` fetches it:

  1. the label's 4-hour validity (``issued_at``, else when the link arrived): an expired link is
     not fetched;
  2. the clock: while the monitor says the offset is beyond ``[clock] max_offset`` the job waits,
     saying so with the offset (a signed link breaks beyond ~5 s); after a long pause the clock is
     measured afresh before the first fetch (``[links] clock_recheck_after``);
  3. ``HEAD``: 200 is required; a 3xx is refused naming its target (never followed), 401/403 means
     the link expired or its signature failed; 5xx and timeouts are retried with backoff;
  4. ``GET`` with connect/read timeouts, ``intake.max_file_size`` and a content check (a PDF or an
     image, complete to its end);
  5. :meth:`~labeld.intake.accept.Acceptor.complete_link`: inspected (a PDF whose every page is
     blank is refused with the clock's offset: the signature probably failed), stored
     content-addressed and fsynced, then made the job's document in one transaction.

  A kill -9 anywhere before step 5's commit leaves the job waiting: it is fetched again after the
  restart, into the same job, so it prints once. TLS is always verified (``[links] ca_bundle``
  adds a private CA); logs name a link without its query string, which carries the signature.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any
from urllib.parse import urljoin, urlsplit

import httpx
import structlog

from labeld import failpoints
from labeld.clock.monitor import ClockMonitor
from labeld.config import Config
from labeld.errors import RejectedInput, SpoolFull
from labeld.intake.accept import Accepted, Acceptor
from labeld.intake.images import PNG_MAGIC, crc_ok, sniff_image
from labeld.intake.inspect import DocumentInfo, sniff_kind
from labeld.intake.sidecar import MAX_SIDECAR_BYTES, Sidecar, sidecar_from_mapping
from labeld.intake.web import tls_context, tls_refused, transport_words, without_query
from labeld.reasons import Reason
from labeld.spool.links import LinkRow
from labeld.spool.spool import Spool
from labeld.spool.states import JobState

log = structlog.get_logger("labeld.links")

LINK_KEYS = frozenset({"label_url", "label_code"})
#: A label_code may be as long as intake.max_file_size in Base64 (4 characters per 3 bytes).
CODE_OVERHEAD = 4 / 3
#: How long a link waits when the spool disk is full.
FULL_RETRY = 5.0
CHUNK = 64 * 1024


@dataclass(frozen=True)
class LinkJob:
    """A parsed link job: exactly one of ``url`` and ``code`` (decoded bytes), and its sidecar."""

    url: str | None
    code: bytes | None
    sidecar: Sidecar

    def name(self, fallback: str) -> str:
        """What the job is called in the spool: the link's file name (without its query), else ``fallback``."""
        if self.url:
            tail = urlsplit(self.url).path.rsplit("/", 1)[-1]
            return tail[:200] or fallback
        return fallback


def is_link_job(raw: object) -> bool:
    return isinstance(raw, dict) and bool(LINK_KEYS & raw.keys())


def job_limit(config: Config) -> int:
    """The largest link job labeld reads: a label_code of intake.max_file_size, and the sidecar."""
    return int(config.intake.max_file_size * CODE_OVERHEAD) + MAX_SIDECAR_BYTES


def parse_job_bytes(data: bytes, limit: int) -> LinkJob:
    if len(data) > limit:
        raise RejectedInput(Reason("intake.too_big", size=len(data), limit=limit))
    try:
        raw = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise RejectedInput(Reason("link.bad_job", error=f"not JSON: {error}")) from error
    return parse_job(raw)


def parse_job(raw: object) -> LinkJob:
    """A link job from its JSON object; :class:`RejectedInput` names what is wrong."""
    if not isinstance(raw, dict):
        raise RejectedInput(Reason("link.bad_job", error='must be a JSON object like {"label_url": "https://…"}'))
    given = sorted(LINK_KEYS & raw.keys())
    if len(given) != 1:
        raise RejectedInput(Reason("link.bad_job", error="give exactly one of label_url and label_code"))
    rest = {k: v for k, v in raw.items() if k not in LINK_KEYS}
    sidecar = sidecar_from_mapping(rest)
    if given == ["label_url"]:
        return LinkJob(check_url(raw["label_url"]), None, sidecar)
    return LinkJob(None, decode_code(raw["label_code"]), sidecar)


_VISIBLE_ASCII = re.compile(r"[!-~]+")


def check_url(url: object) -> str:
    """An https:// link as RFC 3986 writes it: visible ASCII, no spaces (anything else percent-encoded)."""
    if not isinstance(url, str) or len(url) > 8192 or not _VISIBLE_ASCII.fullmatch(url):
        raise RejectedInput(Reason("link.bad_url", url=repr(url)[:80]))
    try:
        parts = urlsplit(url)
    except ValueError:  # e.g. an unclosed [IPv6 literal
        raise RejectedInput(Reason("link.bad_url", url=repr(url)[:80])) from None
    if parts.scheme != "https" or not parts.hostname:
        raise RejectedInput(Reason("link.bad_url", url=without_query(url)[:200]))
    return url


def decode_code(code: object) -> bytes:
    """Strict Base64 (line breaks allowed, nothing else) of a PDF, PNG, SVG or ZPL label."""
    if not isinstance(code, str) or not code:
        raise RejectedInput(Reason("link.bad_code", error="label_code must be a non-empty string"))
    text = code.replace("\r", "").replace("\n", "")
    try:
        data = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as error:
        raise RejectedInput(Reason("link.bad_code", error=str(error))) from error
    check_label_bytes(data)
    return data


class IncompleteLabel(RejectedInput):
    """Label bytes that start well but are not whole (an answer cut short): worth asking for again."""


def check_label_bytes(data: bytes) -> str:
    """The kind of a label handed over as bytes (a label_code's, a marketplace's PDF body or sticker):
    :class:`RejectedInput` if it is no PDF, PNG, SVG nor ZPL, :class:`IncompleteLabel` if it is cut short."""
    kind = label_kind(data)
    if kind is None:
        raise RejectedInput(Reason("link.code_not_label", size=len(data), head=repr(data[:8])))
    broken = incomplete(data, kind)
    if broken:
        raise IncompleteLabel(Reason("link.code_incomplete", error=broken))
    return kind


def code_job(data: bytes, sidecar: Sidecar) -> LinkJob:
    """A label handed over as bytes, as a ``label_code`` job (checked as one)."""
    check_label_bytes(data)
    return LinkJob(None, data, sidecar)


def url_job(url: str, sidecar: Sidecar) -> LinkJob:
    """A label handed over as a link, as a ``label_url`` job (checked as one)."""
    return LinkJob(check_url(url), None, sidecar)


def label_kind(data: bytes) -> str | None:
    """"pdf", "zpl", "png" or "svg" from a label's first bytes, else None."""
    head = data[:4096]
    return sniff_kind(head) or sniff_image(head)


def incomplete(data: bytes, kind: str) -> str | None:
    """Why a file that starts well is not whole (a download cut short), else None."""
    tail = data[-2048:]
    if kind == "pdf" and b"%%EOF" not in tail:
        return "the PDF has no end-of-file marker"
    if kind == "svg" and b"</svg>" not in tail:
        return "the SVG is not closed"
    if kind == "zpl" and b"^XZ" not in tail.upper():
        return "the ZPL has no ^XZ"
    if kind == "png" and not (data.startswith(PNG_MAGIC) and crc_ok(data)):
        return "the PNG is cut short or damaged"
    return None


_SIGNED = re.compile(rb"(https?://[^\s\"'?#]+)[?#][^\s\"']*", re.IGNORECASE)


def redact_job_bytes(data: bytes) -> bytes | None:
    """A ``*.json`` job file fit to archive: its ``label_url`` without the query (the signature, a
    secret), everything else kept as written; None when there is nothing to remove. A file that is
    not a JSON object (it was refused) has the query cut from every link found in its text."""
    try:
        raw = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        cut = _SIGNED.sub(rb"\1", data)
        return cut if cut != data else None
    url = raw.get("label_url") if isinstance(raw, dict) else None
    if not isinstance(url, str) or without_query(url) == url:
        return None
    written = json.dumps(url, ensure_ascii=False).encode("utf-8")
    if written in data:
        return data.replace(written, json.dumps(without_query(url), ensure_ascii=False).encode("utf-8"))
    return (json.dumps({**raw, "label_url": without_query(url)}, ensure_ascii=False, indent=2) + "\n").encode("utf-8")


def accept_job(acceptor: Acceptor, job: LinkJob, *, name: str, source: str, folder: str | None = None,
               intake_key: str | None = None, received: float | None = None) -> Accepted:
    """Hand a parsed link job to the one accept path: a code's bytes now, a link as a job to fetch."""
    if job.code is not None:
        return acceptor.accept(job.code, name=name, source=source, folder=folder, sidecar=job.sidecar,
                               intake_key=intake_key, mtime=received)
    assert job.url is not None
    return acceptor.accept_link(job.url, name=job.name(name), source=source, folder=folder, sidecar=job.sidecar,
                                intake_key=intake_key, received=received)


class Refused(Exception):
    """The link cannot give a label: the job is given up with ``reason`` (``state``: rejected | failed)."""

    def __init__(self, reason: Reason, state: JobState = JobState.REJECTED) -> None:
        super().__init__(reason.text())
        self.reason = reason
        self.state = state


class Transient(Exception):
    """Worth another try (5xx, a timeout, a dropped connection): ``error`` says what happened."""

    def __init__(self, error: str) -> None:
        super().__init__(error)
        self.error = error


class Fetcher:
    """HEAD, then GET, of one signed link over verified TLS; no redirect is followed."""

    def __init__(self, config: Config, clock_reason: Callable[[], Reason]) -> None:
        links = config.links
        self.limit = config.intake.max_file_size
        self.clock_reason = clock_reason
        timeout = httpx.Timeout(connect=links.connect_timeout, read=links.read_timeout, write=links.read_timeout,
                                pool=links.connect_timeout)
        self.http = httpx.Client(verify=tls_context(links.ca_bundle), timeout=timeout, follow_redirects=False,
                                 trust_env=False, limits=httpx.Limits(max_connections=links.concurrency * 2))

    def close(self) -> None:
        self.http.close()

    def fetch(self, url: str, stop: threading.Event) -> bytes:
        """The label behind ``url``; :class:`Refused` or :class:`Transient` if there is none now."""
        shown = without_query(url)
        started = time.perf_counter()
        status: int | None = None
        size = 0
        try:
            head = self.http.head(url)
            status = head.status_code
            if status not in (405, 501):  # a server that does not answer HEAD is asked with GET alone
                self._check_status(head, url)
            with self.http.stream("GET", url) as answer:
                status = answer.status_code
                self._check_status(answer, url)
                expected = _length(answer.headers.get("Content-Length"))
                if expected is not None and expected > self.limit:
                    raise Refused(Reason("link.too_big", url=shown, limit=self.limit))
                chunks, size = [], 0
                try:
                    for chunk in answer.iter_bytes(CHUNK):
                        size += len(chunk)
                        if size > self.limit:
                            raise Refused(Reason("link.too_big", url=shown, limit=self.limit))
                        chunks.append(chunk)
                        failpoints.hit("link-download")
                        if stop.is_set():
                            raise Transient("labeld is stopping")
                except httpx.RemoteProtocolError as error:
                    if expected is not None and size < expected:
                        raise Refused(Reason("link.truncated", url=shown, got=size, expected=expected)) from error
                    raise
                data = b"".join(chunks)
                if expected is not None and len(data) < expected:
                    raise Refused(Reason("link.truncated", url=shown, got=len(data), expected=expected))
                content_type = answer.headers.get("Content-Type", "")
        except httpx.TransportError as error:
            self._log(shown, status, size, started, error=transport_words(error))
            untrusted = tls_refused(error)
            if untrusted is not None:
                raise Refused(Reason("link.tls", host=urlsplit(url).hostname or "", error=untrusted),
                              JobState.FAILED) from error
            raise Transient(transport_words(error)) from error
        except (Refused, Transient) as error:
            self._log(shown, status, size, started, error=str(error))
            raise
        self._log(shown, status, len(data), started)
        kind = label_kind(data)
        if kind is None or kind == "zpl":
            raise Refused(Reason("link.not_label", url=shown, content_type=content_type or "untyped",
                                 head=repr(data[:8])))
        broken = incomplete(data, kind)
        if broken:
            raise Refused(Reason("link.incomplete", url=shown, error=broken))
        return data

    def _check_status(self, answer: httpx.Response, url: str) -> None:
        status, shown = answer.status_code, without_query(url)
        if status == 200:
            return
        if 300 <= status < 400:
            target = answer.headers.get("Location", "")
            where = without_query(urljoin(url, target)) if target else "nowhere (no Location)"
            raise Refused(Reason("link.redirect", url=shown, status=status, target=where))
        if status in (401, 403):
            raise Refused(Reason("link.expired_or_signature", url=shown, status=status, clock=self.clock_reason()))
        if status >= 500 or status in (408, 429):
            raise Transient(f"HTTP {status}")
        raise Refused(Reason("link.refused", url=shown, status=status))

    @staticmethod
    def _log(url: str, status: int | None, size: int, started: float, error: str | None = None) -> None:
        seconds = round(time.perf_counter() - started, 3)
        if error is None:
            log.info("link_fetched", url=url, status=status, bytes=size, seconds=seconds)
        else:
            log.warning("link_fetch_failed", url=url, status=status, bytes=size, seconds=seconds, error=error)


def _length(raw: str | None) -> int | None:
    try:
        return int(raw) if raw is not None else None
    except ValueError:
        return None


class RemoteIntake:
    """Fetches the links the spool holds, a few at a time, gated by the clock (module docstring)."""

    def __init__(self, config: Config, spool: Spool, acceptor: Acceptor, clock: ClockMonitor | None,
                 now: Callable[[], float] = time.time) -> None:
        self.config = config
        self.spool = spool
        self.acceptor = acceptor
        self.clock = clock
        self.now = now
        self.fetcher = Fetcher(config, self.clock_reason)
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._busy: set[int] = set()
        self._busy_lock = threading.Lock()
        self._pool = ThreadPoolExecutor(max_workers=config.links.concurrency, thread_name_prefix="link")
        self._thread = threading.Thread(target=self._run, name="links", daemon=True)
        self._last_fetch = float("-inf")
        self._recheck_lock = threading.Lock()

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        self._thread.join(timeout=10)
        self._pool.shutdown(wait=True, cancel_futures=True)
        self.fetcher.close()

    def wake(self) -> None:
        """A link was accepted: look now."""
        self._wake.set()

    def clock_reason(self) -> Reason:
        if self.clock is None:
            return Reason("clock.off")
        return self.clock.snapshot().reason

    # ----- the scheduler -------------------------------------------------------------------

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self._round()
            except Exception:  # the scheduler must outlive any single failure
                log.exception("link_loop_error")
            self._wake.wait(0.5)
            self._wake.clear()

    def _round(self) -> None:
        for row in self.take_due():
            self._pool.submit(self.fetch_one, row)

    def take_due(self) -> list[LinkRow]:
        """The links to fetch now, marked busy: due, not expired (those are refused here) and not
        held by the clock (those say so); at most twice ``concurrency`` in flight."""
        with self._busy_lock:
            room = self.config.links.concurrency * 2 - len(self._busy)
            busy = set(self._busy)
        if room <= 0:
            return []
        taken = []
        for row in self.spool.links_due(self.now(), limit=room + len(busy)):
            if row.document_id in busy:
                continue
            if self._expired(row) or self._clock_holds(row):
                continue
            with self._busy_lock:
                self._busy.add(row.document_id)
            taken.append(row)
        return taken

    def _expired(self, row: LinkRow) -> bool:
        now = self.now()
        if now <= row.expires_at:
            return False
        reason = Reason("link.expired", age=now - row.issued_at, ttl=self.config.preflight.label_ttl)
        self.spool.link_failed(row.document_id, JobState.REJECTED, reason)
        log.warning("link_expired", job=row.job_id, url=without_query(row.url))
        return True

    def _clock_holds(self, row: LinkRow) -> bool:
        if self.clock is None:
            return False
        snapshot = self.clock.snapshot()
        if snapshot.state != "drifting" or snapshot.offset is None:
            return False
        reason = Reason("link.waiting_clock", url=without_query(row.url), offset=abs(snapshot.offset),
                        threshold=snapshot.threshold)
        if self.spool.set_job_reason(row.job_id, reason):
            log.warning("link_waits_for_clock", job=row.job_id, offset=snapshot.offset)
        return True

    # ----- one fetch --------------------------------------------------------------------------

    def fetch_one(self, row: LinkRow) -> None:
        """Fetch one link taken by :meth:`take_due` (on a pool thread; in tests, in the caller's)."""
        try:
            self._recheck_clock()
            if self._clock_holds(row):
                return
            self.spool.set_job_reason(row.job_id, Reason("link.waiting", url=without_query(row.url)))
            self._fetch(row)
        except Exception:
            log.exception("link_fetch_error", job=row.job_id)
            self.spool.link_retry(row.document_id, self.now() + FULL_RETRY, "unexpected error")
        finally:
            with self._busy_lock:
                self._busy.discard(row.document_id)
            self._wake.set()

    def _recheck_clock(self) -> None:
        """After a long pause, measure the clock before the first fetch (signed links are strict)."""
        after = self.config.links.clock_recheck_after
        if self.clock is None or after <= 0:
            return
        with self._recheck_lock:
            idle = time.monotonic() - self._last_fetch
            self._last_fetch = time.monotonic()
            if idle >= after:
                self.clock.check_now()

    def _fetch(self, row: LinkRow) -> None:
        tries = self.config.links.tries
        shown = without_query(row.url)
        try:
            data = self.fetcher.fetch(row.url, self._stop)
        except Refused as refused:
            self.spool.link_failed(row.document_id, refused.state, refused.reason)
            log.warning("link_refused", job=row.job_id, url=shown, reason=refused.reason.text())
            return
        except Transient as error:
            if self._stop.is_set():
                return
            attempt = row.attempts + 1
            if attempt >= tries:
                reason = Reason("link.failed", url=shown, tries=attempt, error=error.error)
                self.spool.link_failed(row.document_id, JobState.FAILED, reason)
                log.error("link_failed", job=row.job_id, url=shown, tries=attempt, error=error.error)
                return
            wait = self.config.links.backoff * 2 ** (attempt - 1)
            self.spool.link_retry(row.document_id, self.now() + wait, error.error)
            self.spool.set_job_reason(row.job_id, Reason("link.retrying", url=shown, error=error.error,
                                                         attempt=attempt + 1, tries=tries, wait=wait))
            return
        self._complete(row, data)

    def _complete(self, row: LinkRow, data: bytes) -> None:
        shown = without_query(row.url)

        def fetched(info: DocumentInfo) -> Reason:
            return Reason("link.fetched", size=len(data), url=shown, kind=info.origin or info.kind,
                          pages=len(info.pages))

        def blank() -> Reason:
            return Reason("link.blank", clock=self.clock_reason())

        try:
            jobs = self.acceptor.complete_link(row.document_id, data, folder=row.folder,
                                               requested=row.requested_printer, reason=fetched, blank=blank)
        except RejectedInput as error:
            self.spool.link_failed(row.document_id, JobState.REJECTED, error.reason)
            log.warning("link_rejected", job=row.job_id, url=shown, reason=error.reason.text())
            return
        except SpoolFull as error:
            self.spool.link_retry(row.document_id, self.now() + FULL_RETRY, str(error))
            return
        log.info("link_spooled", job=row.job_id, jobs=jobs, url=shown, bytes=len(data))


def job_mapping(raw: Mapping[str, Any]) -> dict[str, Any]:
    """A link job as JSON keys (for ``labelctl print``), leaving out what is not given."""
    return {k: v for k, v in raw.items() if v is not None}
