"""The edge where labeld talks HTTPS to a marketplace: httpx, TLS verified, paced, retried.

Every request waits its turn in a :class:`Pacer` (a token bucket: ``rate`` requests per second,
bursts of ``burst``), so a source stays far under the marketplace's limit. 429 is retried after
``Retry-After`` or a doubling pause; Wildberries' 409, which it counts as ten requests, is not
retried at once but ends the poll (the source backs off); 5xx and network failures are retried
a few times. What still fails becomes an
:class:`ApiFailure` with a ``kind`` the coordinator acts on and the metrics count.

TLS is always verified, against the system's trust store or the configured ``ca_bundle``. Label
files the marketplace hands out as links are not fetched here: they go to the link intake
(:mod:`labeld.sources.handoff`).
Nothing here logs or raises a header: the key travels in headers only, and error texts carry
the endpoint's name and the server's own words, cut short, never the request.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx

from labeld.errors import LabeldError
from labeld.intake.web import MESSAGE_CHARS, tls_context, transport_words

#: The kinds of failure, as counted per source in the metrics.
KINDS = ("auth", "rate", "server", "network", "gone", "answer", "refused")
MAX_RATE_TRIES = 4
MAX_SERVER_TRIES = 3
MAX_PAUSE = 60.0


class ApiFailure(LabeldError):
    """A request failed for good (after retries). ``kind`` is one of :data:`KINDS`."""

    def __init__(self, kind: str, endpoint: str, *, status: int | None = None, message: str = "",
                 retry_after: float | None = None, tries: int = 1) -> None:
        self.kind = kind
        self.endpoint = endpoint
        self.status = status
        self.message = message
        self.retry_after = retry_after
        self.tries = tries
        super().__init__(f"{endpoint}: {kind}" + (f" (HTTP {status})" if status else "") + f": {message}")


class Stopped(LabeldError):
    """The daemon is stopping: the request was abandoned."""


class Pacer:
    """A token bucket: at most ``rate`` requests per second on average, ``burst`` at once."""

    def __init__(self, rate: float, burst: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.rate = rate
        self.burst = max(1, burst)
        self.clock = clock
        self.tokens = float(self.burst)
        self.stamp = clock()
        self.lock = threading.Lock()

    def delay(self, cost: float = 1.0) -> float:
        """Take ``cost`` tokens; how long to wait before the request may go (0 = now)."""
        with self.lock:
            now = self.clock()
            self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
            self.stamp = now
            self.tokens -= cost
            return 0.0 if self.tokens >= 0 else -self.tokens / self.rate

    def charge(self, cost: float) -> None:
        """Count extra requests (Wildberries counts a 409 as ten)."""
        with self.lock:
            self.tokens -= cost


@dataclass(frozen=True)
class Endpoint:
    """A named request: ``name`` shows in errors and logs, ``path`` is what is sent."""

    name: str
    method: str
    path: str


def server_words(response: httpx.Response) -> str:
    """The server's own message in an error answer (JSON ``message``/``detail``/``title``), cut short."""
    try:
        body = response.json()
    except (json.JSONDecodeError, UnicodeDecodeError, ValueError):
        return response.reason_phrase or ""
    if isinstance(body, dict):
        for key in ("message", "detail", "error", "title"):
            value = body.get(key)
            if isinstance(value, str) and value:
                return value[:MESSAGE_CHARS]
    return response.reason_phrase or ""


def retry_after(response: httpx.Response) -> float | None:
    """Seconds from ``Retry-After`` (or Wildberries' ``X-Ratelimit-Retry``), if the server said."""
    for header in ("Retry-After", "X-Ratelimit-Retry"):
        raw = response.headers.get(header)
        if raw is not None:
            try:
                return max(0.0, min(MAX_PAUSE, float(raw)))
            except ValueError:
                continue
    return None


class ApiClient:
    """One marketplace account's HTTPS connection pool; ``headers`` carry its key."""

    def __init__(self, base_url: str, headers: Mapping[str, str], *, ca_bundle: Path | None, timeout: float,
                 pacer: Pacer, stop: threading.Event, penalty: Mapping[int, float] | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self.host = urlsplit(self.base_url).netloc
        self.pacer = pacer
        self.stop = stop
        #: Extra cost of an answer by status (Wildberries: 409 counts as ten requests).
        self.penalty = dict(penalty or {})
        tls = tls_context(ca_bundle)
        self.http = httpx.Client(base_url=self.base_url, headers=dict(headers), verify=tls, timeout=timeout,
                                 follow_redirects=False, trust_env=False)

    def close(self) -> None:
        self.http.close()

    def call(self, endpoint: Endpoint, *, body: Any = None, params: Mapping[str, Any] | None = None,
             path: str | None = None) -> httpx.Response:
        """Send ``endpoint`` (paced, retried); the 2xx answer, else :class:`ApiFailure`."""
        return self._exchange(endpoint, path or endpoint.path, body, params)

    def _exchange(self, endpoint: Endpoint, target: str, body: Any,
                  params: Mapping[str, Any] | None) -> httpx.Response:
        rate_tries = server_tries = 0
        while True:
            self.pause(self.pacer.delay())
            try:
                response = self.http.request(endpoint.method, target, json=body, params=params)
                response.read()
            except httpx.TransportError as error:
                server_tries += 1
                if server_tries >= MAX_SERVER_TRIES:
                    raise ApiFailure("network", endpoint.name, message=transport_words(error),
                                     tries=server_tries) from None
                self.pause(0.5 * 2 ** server_tries)
                continue
            status = response.status_code
            if status in self.penalty:
                self.pacer.charge(self.penalty[status])
            if 200 <= status < 300:
                return response
            if status == 429 or (status == 409 and 409 in self.penalty):
                rate_tries += 1
                pause = retry_after(response)
                if rate_tries >= MAX_RATE_TRIES or status == 409:
                    raise ApiFailure("rate", endpoint.name, status=status, message=server_words(response),
                                     retry_after=pause, tries=rate_tries)
                self.pause(pause if pause is not None else min(MAX_PAUSE, 0.5 * 2 ** (rate_tries - 1)))
                continue
            if status >= 500:
                server_tries += 1
                if server_tries >= MAX_SERVER_TRIES:
                    raise ApiFailure("server", endpoint.name, status=status, message=server_words(response),
                                     tries=server_tries)
                self.pause(0.5 * 2 ** server_tries)
                continue
            raise ApiFailure(_client_kind(status), endpoint.name, status=status, message=server_words(response))

    def pause(self, seconds: float) -> None:
        """Sleep ``seconds`` unless the daemon stops meanwhile (then :class:`Stopped`)."""
        if seconds > 0 and self.stop.wait(seconds):
            raise Stopped("labeld is stopping")
        if self.stop.is_set():
            raise Stopped("labeld is stopping")


def _client_kind(status: int) -> str:
    if status in (401, 403):
        return "auth"
    if status == 404:
        return "gone"
    return "refused"
