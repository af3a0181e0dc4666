"""Who may use the station page, and the fences around it.

Loopback TCP is open to every local user (the control socket only to its group), so nothing on the
page answers without a session: a one-time login link from ``labelctl web`` (socket access is the
authority) or, for a supervisor's tablet on the LAN, a password checked against an scrypt hash.

Fences, outermost first: response headers (a Content-Security-Policy without inline script, no
framing, no referrer to other sites), the Host check (DNS rebinding: a page of evil.example resolving to 127.0.0.1
still sends ``Host: evil.example``), the signed session cookie (HttpOnly, SameSite=Strict), then
:class:`Guard`: no session → 303 to the login page, never data; a state-changing request from
another origin → 403. Each state-changing endpoint also checks the session's CSRF token
(:func:`require_csrf`).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
import threading
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from urllib.parse import quote

from starlette.datastructures import FormData
from starlette.requests import HTTPConnection, Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from labeld.errors import LabeldError

SECRET_FILE = "web.secret"
TICKET_LIFETIME = 300.0
CSRF_FIELD = "csrf"
CSRF_HEADER = "x-csrf-token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
#: Reachable without a session: the login page, the stylesheet and script, and /metrics (its own check).
PUBLIC_PREFIXES = ("/login", "/static/", "/metrics")
CONTENT_SECURITY_POLICY = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
                           "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'")
SECURITY_HEADERS = [
    (b"content-security-policy", CONTENT_SECURITY_POLICY.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"same-origin"),  # "no-referrer" would make the browser send Origin: null
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"cross-origin-resource-policy", b"same-origin"),
]
SCRYPT = {"n": 2**15, "r": 8, "p": 1}
SCRYPT_MAXMEM = 64 * 1024 * 1024


class BadSecretFile(LabeldError):
    """A secret file of [web] (password_file, metrics_token_file) is missing or malformed."""


# ----- secrets and passwords ---------------------------------------------------------------------


def session_secret(state_dir: Path) -> str:
    """The key that signs session cookies: made once, kept in the state directory (mode 0600), so
    that a restart does not log the station out."""
    path = state_dir / SECRET_FILE
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text(encoding="ascii").strip()
    with os.fdopen(fd, "w", encoding="ascii") as out:
        out.write(secrets.token_hex(32))
        out.flush()
        os.fsync(out.fileno())
    return path.read_text(encoding="ascii").strip()


def hash_password(password: str, salt: bytes | None = None) -> str:
    """``scrypt$N$r$p$salt$hash`` (base64): what ``labeld hash-password`` writes to the password file."""
    salt = salt or os.urandom(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, maxmem=SCRYPT_MAXMEM, dklen=32, **SCRYPT)
    return "$".join(["scrypt", str(SCRYPT["n"]), str(SCRYPT["r"]), str(SCRYPT["p"]), _b64(salt), _b64(digest)])


def read_password_hash(path: Path) -> str:
    try:
        text = path.read_text(encoding="utf-8").strip()
    except OSError as error:
        raise BadSecretFile(f"cannot read [web] password_file {path}: {error.strerror}") from None
    parts = text.split("$")
    if len(parts) != 6 or parts[0] != "scrypt" or not all(p.isdigit() for p in parts[1:4]):
        raise BadSecretFile(f"{path} does not hold an scrypt hash; write one with `labeld hash-password > {path}`")
    return text


def check_password(password: str, stored: str) -> bool:
    _, n, r, p, salt, digest = stored.split("$")
    try:
        mine = hashlib.scrypt(password.encode(), salt=_unb64(salt), n=int(n), r=int(r), p=int(p),
                              maxmem=SCRYPT_MAXMEM, dklen=len(_unb64(digest)))
    except ValueError:
        return False
    return hmac.compare_digest(mine, _unb64(digest))


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.b64decode(text + "=" * (-len(text) % 4))


# ----- one-time login tickets -----------------------------------------------------------------------


class Tickets:
    """One-time login tickets, kept in memory: each works once, within ``lifetime`` seconds."""

    def __init__(self, lifetime: float = TICKET_LIFETIME, clock: Callable[[], float] = time.monotonic) -> None:
        self.lifetime = lifetime
        self.clock = clock
        self._open: dict[str, float] = {}
        self._lock = threading.Lock()

    def issue(self) -> str:
        ticket = secrets.token_urlsafe(32)
        with self._lock:
            now = self.clock()
            self._open = {t: until for t, until in self._open.items() if until > now}
            self._open[ticket] = now + self.lifetime
        return ticket

    def redeem(self, ticket: str) -> bool:
        with self._lock:
            until = self._open.pop(ticket, None)
        return until is not None and until > self.clock()


# ----- CSRF -------------------------------------------------------------------------------------------


def csrf_token(connection: HTTPConnection) -> str:
    """The session's CSRF token, made on first use (also before login: the login form has one)."""
    token = connection.session.get(CSRF_FIELD)
    if not isinstance(token, str):
        token = secrets.token_urlsafe(24)
        connection.session[CSRF_FIELD] = token
    return token


class CsrfRefused(Exception):
    """A state-changing request without the session's CSRF token."""


async def require_csrf(request: Request) -> FormData:
    """The request's form, once its CSRF token (form field or ``X-CSRF-Token``) matches the session's."""
    form = await request.form()
    sent = request.headers.get(CSRF_HEADER) or form.get(CSRF_FIELD)
    expected = request.session.get(CSRF_FIELD)
    if not isinstance(sent, str) or not isinstance(expected, str) or not hmac.compare_digest(sent, expected):
        raise CsrfRefused()
    return form


FormEndpoint = Callable[[Request, FormData], Awaitable[Response]]


def csrf_checked(handler: FormEndpoint) -> Callable[[Request], Awaitable[Response]]:
    """An endpoint that changes something: it runs only with the session's CSRF token (else 403)."""

    async def endpoint(request: Request) -> Response:
        try:
            form = await require_csrf(request)
        except CsrfRefused:
            return PlainTextResponse("refused: the form's security token is missing or stale; reload the page", 403)
        return await handler(request, form)

    return endpoint


# ----- middleware ---------------------------------------------------------------------------------


class HttpMiddleware:
    """Pure ASGI middleware that looks at HTTP requests only (``handle``); anything else passes."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        await self.handle(scope, receive, send)

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        raise NotImplementedError


class SecurityHeaders(HttpMiddleware):
    """Adds the CSP and its companions to every answer."""

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *SECURITY_HEADERS]
            await send(message)

        await self.app(scope, receive, with_headers)


class Guard(HttpMiddleware):
    """No session → 303 to the login page (never data); a state-changing request whose Origin is not
    this page's own → 403 before anything runs."""

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        connection = HTTPConnection(scope)
        path: str = scope["path"]
        if scope["method"] not in SAFE_METHODS and not same_origin(connection):
            response = PlainTextResponse("refused: this request comes from another site (Origin)", 403)
            await response(scope, receive, send)
            return
        if not path.startswith(PUBLIC_PREFIXES) and not logged_in(connection):
            target = quote(path + (f"?{scope['query_string'].decode()}" if scope.get("query_string") else ""))
            await RedirectResponse(f"/login?next={target}", 303)(scope, receive, send)
            return
        await self.app(scope, receive, send)


def logged_in(connection: HTTPConnection) -> bool:
    return connection.session.get("auth") in ("ticket", "password")


def same_origin(connection: HTTPConnection) -> bool:
    """An Origin header (browsers send one on every POST) must name this very host; Sec-Fetch-Site,
    where sent, must not say cross-site. A client without either (curl) is left to the CSRF token."""
    origin = connection.headers.get("origin")
    if origin is not None and origin != f"{connection.url.scheme}://{connection.headers.get('host', '')}":
        return False
    return connection.headers.get("sec-fetch-site", "same-origin") in ("same-origin", "none")
