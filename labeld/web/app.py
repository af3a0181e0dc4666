"""The station page's routes: Starlette endpoints that read :class:`Views` and call :class:`Operations`.

Every state-changing endpoint is an :func:`action`: it checks the CSRF token, runs the operation in
a worker thread, turns a refusal into a message in the reader's language, and answers 303 back to
the page it came from (post/redirect/get), so a reload never repeats a reprint.
"""

from __future__ import annotations

import hmac
import ipaddress
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import jinja2
import structlog
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from labeld.api.metrics import Metrics
from labeld.config import WebConfig
from labeld.daemon.operations import Actor, NotFound, OperationError, Operations, ReprintRequest
from labeld.i18n import N_
from labeld.reasons import Reason
from labeld.spool.states import JobState
from labeld.web.events import EventStream
from labeld.web.language import LANGUAGES, negotiate, translator
from labeld.web.security import Guard, SecurityHeaders, Tickets, check_password, csrf_checked, csrf_token, logged_in
from labeld.web.views import Filters, Views

log = structlog.get_logger("labeld.web")

PACKAGE = resources.files("labeld.web")
SESSION_COOKIE = "labeld_session"
#: The longest scan kept (a scanner whose trigger sticks types on and on).
MAX_SCAN = 512

Endpoint = Callable[[Request], Awaitable[Response]]


@dataclass
class Site:
    """What the endpoints share: the operations, the config, the login tickets and secrets."""

    ops: Operations
    web: WebConfig
    tickets: Tickets
    metrics: Metrics
    password_hash: str | None = None
    metrics_token: str | None = None
    templates: jinja2.Environment = field(default_factory=lambda: jinja2.Environment(
        loader=jinja2.PackageLoader("labeld.web", "templates"), autoescape=True,
        undefined=jinja2.StrictUndefined))

    # ----- helpers ------------------------------------------------------------------------

    def lang(self, request: Request) -> str:
        chosen = request.session.get("lang")
        return chosen if chosen in LANGUAGES else negotiate(request.headers.get("accept-language", ""))

    def views(self, request: Request) -> Views:
        return Views(self.ops, self.lang(request))

    def page(self, request: Request, template: str, status: int = 200, **context: Any) -> HTMLResponse:
        lang = self.lang(request)
        flash = request.session.pop("flash", None)
        html = self.templates.get_template(template).render(
            _=translator(lang), lang=lang, languages=LANGUAGES, csrf=csrf_token(request), flash=flash,
            logged_in=logged_in(request), path=request.url.path, **context)
        return HTMLResponse(html, status, headers={"Cache-Control": "no-store"})

    def fragment(self, template: str, lang: str, context: dict[str, Any]) -> str:
        return self.templates.get_template(template).render(_=translator(lang), lang=lang, **context)

    def flash(self, request: Request, kind: str, text: str) -> None:
        request.session["flash"] = {"kind": kind, "text": text}


def back(form: FormData, default: str = "/") -> str:
    """Where to go after an action: a path on this page only (never another site)."""
    target = form.get("back")
    if isinstance(target, str) and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return default


def action(site: Site, run: Callable[[Request, FormData], str | None]) -> Endpoint:
    """A state-changing endpoint: CSRF checked, ``run`` in a worker thread (it returns the message
    to show, in the reader's language), refusals shown as messages, then 303 back."""

    @csrf_checked
    async def endpoint(request: Request, form: FormData) -> Response:
        try:
            done = await run_in_threadpool(run, request, form)
            if done:
                site.flash(request, "ok", done)
        except OperationError as error:
            site.flash(request, "error", error.reason.text(site.lang(request)))
        return RedirectResponse(back(form), 303)

    return endpoint


def build_app(site: Site, stream: EventStream, allowed_hosts: list[str], secret: str) -> Starlette:
    routes = station_routes(site, stream) + job_routes(site) + login_routes(site) + [
        Route("/metrics", metrics_endpoint(site)),
        Mount("/static", StaticFiles(directory=str(Path(str(PACKAGE)) / "static")), name="static"),
    ]
    middleware = [
        Middleware(SecurityHeaders),
        Middleware(TrustedHostMiddleware, allowed_hosts=allowed_hosts, www_redirect=False),
        Middleware(SessionMiddleware, secret_key=secret, session_cookie=SESSION_COOKIE,
                   max_age=int(site.web.session_lifetime), same_site="strict", https_only=False),
        Middleware(Guard),
    ]
    return Starlette(routes=routes, middleware=middleware)


# ----- the station ---------------------------------------------------------------------------------


def filters_of(request: Request) -> Filters:
    query = request.query_params
    return Filters(state=query.get("state", ""), printer=query.get("printer", ""), text=query.get("q", ""))


def station_routes(site: Site, stream: EventStream) -> list[BaseRoute]:
    async def station(request: Request) -> Response:
        views = site.views(request)
        filters = filters_of(request)
        panel, lists = await run_in_threadpool(lambda: (views.panel(), views.lists(filters)))
        scanned = await run_in_threadpool(scanned_view, site, views, request)
        return site.page(request, "station.html", panel=panel, lists=lists, filters=filters, scanned=scanned,
                         state_choices=[(s.value, views.state_word(s.value)) for s in JobState],
                         printers=[p.name for p in site.ops.daemon.config.printers],
                         query=urlencode({k: v for k, v in request.query_params.items()
                                          if k in ("state", "printer", "q")}))

    async def events(request: Request) -> Response:
        return stream.response(request, site.lang(request), filters_of(request), csrf_token(request))

    @csrf_checked
    async def language(request: Request, form: FormData) -> Response:
        chosen = form.get("lang")
        if chosen in LANGUAGES:
            request.session["lang"] = chosen
        return RedirectResponse(back(form), 303)

    def scan(request: Request, form: FormData) -> str | None:
        """Remember the scan (the page shows its label); reprint at once where scan_action says so."""
        code = str(form.get("code", ""))[:MAX_SCAN]
        request.session["scan"] = code
        return reprint_scanned(request, code) if site.web.scan_action == "reprint" else None

    def scan_reprint(request: Request, form: FormData) -> str:
        return reprint_scanned(request, str(form.get("code", ""))[:MAX_SCAN])

    def reprint_scanned(request: Request, code: str) -> str:
        """The posting's newest label for a scanned code (saying so when the scanned one was older)."""
        views = site.views(request)
        answer = views.station.reprint_code(code, ReprintRequest())
        done = views._(N_("Reprint queued as job {job}")).format(job=answer["job_ids"][0])
        if "reason_code" in answer:
            done += " — " + views.words(Reason.from_json({"code": answer["reason_code"],
                                                          "params": answer["reason_params"]}))
        return done

    def ack(request: Request, form: FormData) -> str:
        """"Done" on an alarm: the parcel was relabelled, or the rejected file was seen to."""
        views, what = site.views(request), request.url.path.split("/")[2]
        number = job_id_of(request)
        actor = Actor(None, f"station page ({_client(request)})")
        if what == "jobs":
            views.station.ack_job(number, actor)
        else:
            views.station.ack_rejected(number, actor)
        return views._(N_("Done: the alarm is cleared"))

    def printer_action(request: Request, form: FormData) -> str:
        name, what = request.path_params["name"], request.url.path.rsplit("/", 1)[1]
        _ = translator(site.lang(request))
        if what == "pause":
            site.ops.pause(name)
            return _(N_("Printer {printer} paused")).format(printer=name)
        if what == "resume":
            site.ops.resume(name)
            return _(N_("Printer {printer} resumed")).format(printer=name)
        accepted = site.ops.test_page(name)
        return _(N_("Test label queued as job {job}")).format(job=accepted.job_ids[0])

    return [
        Route("/", station),
        Route("/events", events),
        Route("/language", language, methods=["POST"]),
        Route("/scan", action(site, scan), methods=["POST"]),
        Route("/scan/reprint", action(site, scan_reprint), methods=["POST"]),
        *(Route(f"/alarms/{what}/{{id}}/ack", action(site, ack), methods=["POST"]) for what in ("jobs", "rejected")),
        *(Route(f"/printers/{{name}}/{what}", action(site, printer_action), methods=["POST"])
          for what in ("pause", "resume", "test")),
    ]


def scanned_view(site: Site, views: Views, request: Request) -> dict[str, Any] | None:
    """The label that was scanned last (shown until the next scan)."""
    code = request.session.get("scan")
    if not isinstance(code, str) or not code:
        return None
    return views.scanned(code)


# ----- one job ---------------------------------------------------------------------------------------


def job_id_of(request: Request) -> int:
    raw = str(request.path_params["id"])
    if not raw.isdigit() or len(raw) > 12:
        raise NotFound(Reason("op.bad_job_id", value=raw))
    return int(raw)


def job_routes(site: Site) -> list[BaseRoute]:
    async def job_page(request: Request) -> Response:
        views = site.views(request)
        try:
            job = await run_in_threadpool(views.job_page, job_id_of(request))
        except OperationError as error:
            return site.page(request, "error.html", 404, message=error.reason.text(views.lang))
        return site.page(request, "job.html", job=job)

    async def picture(request: Request) -> Response:
        try:
            png = await run_in_threadpool(site.ops.preview_png, job_id_of(request))
        except OperationError as error:
            return PlainTextResponse(error.reason.text(site.lang(request)), 404)
        return Response(png, media_type="image/png", headers={"Cache-Control": "private, max-age=3600"})

    def job_action(request: Request, form: FormData) -> str:
        job_id, what = job_id_of(request), request.url.path.rsplit("/", 1)[1]
        _ = translator(site.lang(request))
        if what == "reprint":
            new = site.ops.reprint_job(job_id, ReprintRequest(force=form.get("force") == "1"))
            return _(N_("Reprint of job {job} queued as job {new}")).format(job=job_id, new=new[0])
        moved = {"release": site.ops.release, "hold": site.ops.hold, "cancel": site.ops.cancel}[what](job_id)
        return _(N_("Job {job}: {state}")).format(job=job_id, state=Views(site.ops, site.lang(request))
                                                   .state_word(moved.state.value))

    return [
        Route("/jobs/{id}", job_page),
        Route("/jobs/{id}/picture.png", picture),
        *(Route(f"/jobs/{{id}}/{what}", action(site, job_action), methods=["POST"])
          for what in ("reprint", "release", "hold", "cancel")),
    ]


# ----- login -------------------------------------------------------------------------------------------


def login_routes(site: Site) -> list[BaseRoute]:
    async def login_form(request: Request) -> Response:
        ticket = request.query_params.get("ticket")
        if ticket is not None:
            if site.tickets.redeem(ticket):
                return _logged_in(request, "ticket")
            log.warning("web_login_refused", how="ticket", client=_client(request))
            return site.page(request, "login.html", 403, error=True, has_password=site.password_hash is not None)
        if logged_in(request):
            return RedirectResponse("/", 303)
        return site.page(request, "login.html", error=False, has_password=site.password_hash is not None)

    @csrf_checked
    async def login_password(request: Request, form: FormData) -> Response:
        password = form.get("password")
        ok = (site.password_hash is not None and isinstance(password, str)
              and await run_in_threadpool(check_password, password, site.password_hash))
        if not ok:
            log.warning("web_login_refused", how="password", client=_client(request))
            return site.page(request, "login.html", 403, error=True, has_password=site.password_hash is not None)
        return _logged_in(request, "password")

    @csrf_checked
    async def logout(request: Request, form: FormData) -> Response:
        request.session.clear()
        return RedirectResponse("/login", 303)

    return [
        Route("/login", login_form),
        Route("/login", login_password, methods=["POST"]),
        Route("/logout", logout, methods=["POST"]),
    ]


def _logged_in(request: Request, how: str) -> Response:
    """A fresh session (new CSRF token) on every login; the ticket leaves the address bar by the redirect."""
    lang = request.session.get("lang")
    request.session.clear()
    request.session.update({"auth": how, "at": time.time()})
    if lang:
        request.session["lang"] = lang
    log.info("web_login", how=how, client=_client(request))
    return RedirectResponse("/", 303)


def _client(request: Request) -> str:
    return request.client.host if request.client else "?"


# ----- Prometheus ------------------------------------------------------------------------------------


def metrics_endpoint(site: Site) -> Endpoint:
    networks = [ipaddress.ip_network(n, strict=False) for n in site.web.metrics_networks]

    async def metrics(request: Request) -> Response:
        if site.metrics_token is None and not networks:
            return PlainTextResponse("metrics are not served on this listener: set [web] metrics_token_file or "
                                     "metrics_networks", 403)
        if not (_bearer_ok(request, site.metrics_token) or _from(request, networks)):
            return PlainTextResponse("send the metrics token: Authorization: Bearer <token>", 401,
                                     headers={"WWW-Authenticate": 'Bearer realm="labeld"'})
        body, content_type = await run_in_threadpool(site.metrics.exposition)
        return Response(body, headers={"Content-Type": content_type})

    return metrics


def _bearer_ok(request: Request, token: str | None) -> bool:
    sent = request.headers.get("authorization", "")
    return token is not None and sent.startswith("Bearer ") and hmac.compare_digest(sent[7:].strip(), token)


def _from(request: Request, networks: list[ipaddress.IPv4Network | ipaddress.IPv6Network]) -> bool:
    if request.client is None or not networks:
        return False
    try:
        address = ipaddress.ip_address(request.client.host)
    except ValueError:
        return False
    return any(address in network for network in networks)
