"""The control socket's endpoints: HTTP requests in, :class:`Operations` calls, JSON out.

Routes are matched on the raw path split into segments, so a ``..`` segment never matches
anything and a path parameter is decoded and validated before any code sees it. Nothing here
opens a file by a name from a request.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import resources
from typing import Any
from urllib.parse import parse_qsl, unquote

from labeld.api.web_login import login_answer
from labeld.daemon.operations import (
    MAX_OVERRIDE_WHY,
    Actor,
    BadRequest,
    NotFound,
    OperationError,
    Operations,
    ReprintRequest,
)
from labeld.daemon.station import Station
from labeld.errors import RejectedInput, SpoolFull
from labeld.intake.accept import Accepted
from labeld.intake.remote import job_limit
from labeld.reasons import Reason
from labeld.service.peercred import PeerCredentials
from labeld.spool.spool import Job, reason_json

JSON_BODY_LIMIT = 64 * 1024
MAX_EVENT_WAIT = 60.0
JOB_ID = re.compile(r"^[0-9]{1,12}$")
REPRINT_KEYS = frozenset({"copies", "printer", "force"})
RELEASE_KEYS = frozenset({"override"})
UPLOAD_TYPES = frozenset({"application/pdf", "application/octet-stream", "application/zpl"})
#: What a ``submit``-scope peer (daemon.submit_users, e.g. CUPS's lp) may do: hand a document
#: over and follow its jobs. Not: previews (label content), job lists, or changing anything.
SUBMIT_ROUTES = frozenset({("POST", "v1/documents"), ("POST", "v1/jobs"), ("GET", "v1/jobs/{id}"), ("GET", "v1/events"),
                           ("GET", "v1/printers"), ("GET", "v1/status")})


class ApiError(Exception):
    """An HTTP-level refusal: ``status``, a stable ``code`` and a sentence (and, where labeld said
    why in its own terms, the :class:`Reason`, so clients can show it in their reader's language)."""

    def __init__(self, status: int, code: str, message: str, headers: dict[str, str] | None = None,
                 reason: Reason | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers or {}
        self.reason = reason


STATUS_OF = {"not_found": 404, "bad_request": 400}


@dataclass
class Request:
    """What a handler sees; ``read_body(limit)`` refuses a too-large body before reading it."""

    method: str
    path: str
    query: dict[str, str]
    content_type: str
    read_body: Callable[[int], bytes]
    params: dict[str, str] = field(default_factory=dict)
    scope: str = "control"
    #: Who is on the other end (``SO_PEERCRED``), where the transport can tell.
    peer: PeerCredentials | None = None

    @property
    def actor(self) -> Actor:
        return Actor.from_uid(self.peer.uid) if self.peer is not None else Actor(None, "an unidentified caller")


@dataclass(frozen=True)
class Response:
    status: int
    body: bytes
    content_type: str = "application/json"

    @classmethod
    def json(cls, value: Any, status: int = 200) -> Response:
        return cls(status, json.dumps(value, ensure_ascii=False).encode() + b"\n")


Handler = Callable[[Request], Response]


def error_response(error: ApiError) -> Response:
    body: dict[str, Any] = {"code": error.code, "message": error.message}
    if error.reason is not None:
        body.update(reason_code=error.reason.code, reason_params=dict(error.reason.params))
    return Response.json({"error": body}, error.status)


class Router:
    def __init__(self, operations: Operations, metrics: Callable[[], tuple[bytes, str]]) -> None:
        self.ops = operations
        self.station = Station(operations)
        self.metrics = metrics
        self.routes: list[tuple[str, tuple[str, ...], Handler]] = []
        self._register()

    def add(self, method: str, pattern: str, handler: Handler) -> None:
        self.routes.append((method, tuple(pattern.strip("/").split("/")), handler))

    def dispatch(self, request: Request) -> Response:
        try:
            handler = self._find(request)
            return handler(request)
        except ApiError as error:
            return error_response(error)
        except OperationError as error:
            status = STATUS_OF.get(error.code, 409)
            return error_response(ApiError(status, error.code, error.message, reason=error.reason))
        except RejectedInput as error:
            return error_response(ApiError(422, "rejected_input", error.reason.text(), reason=error.reason))
        except SpoolFull as error:
            return error_response(ApiError(507, "spool_full", error.reason.text(), reason=error.reason))

    def _find(self, request: Request) -> Handler:
        segments = tuple(request.path.strip("/").split("/"))
        allowed = []
        for method, pattern, handler in self.routes:
            params = _match(pattern, segments)
            if params is None:
                continue
            if method != request.method:
                allowed.append(method)
                continue
            if request.scope != "control" and (method, "/".join(pattern)) not in SUBMIT_ROUTES:
                only = Reason("op.submit_only")
                raise ApiError(403, "forbidden", only.text(), reason=only)
            request.params = params
            return handler
        if allowed:
            raise ApiError(405, "method_not_allowed", f"{request.path} answers {', '.join(sorted(set(allowed)))}, "
                           f"not {request.method}", {"Allow": ", ".join(sorted(set(allowed)))})
        raise ApiError(404, "no_such_endpoint", f"there is no endpoint {request.path}; see GET /openapi.yaml")

    # ----- the table ----------------------------------------------------------------------

    def _register(self) -> None:
        add = self.add
        add("GET", "/v1/status", lambda r: Response.json(self.station.status()))
        add("GET", "/v1/jobs", self.list_jobs)
        add("GET", "/v1/jobs/{id}", lambda r: Response.json(self.ops.job_detail(_job_id(r))))
        add("GET", "/v1/jobs/{id}/preview.png", lambda r: Response(200, self.ops.preview_png(_job_id(r)),
                                                                    "image/png"))
        add("POST", "/v1/documents", self.upload)
        add("POST", "/v1/jobs", self.submit_job)
        add("POST", "/v1/jobs/{id}/reprint", self.reprint_job)
        add("POST", "/v1/postings/{posting}/reprint", self.reprint_posting)
        add("POST", "/v1/jobs/{id}/cancel", lambda r: _job_answer(self.ops.cancel(_job_id(r))))
        add("POST", "/v1/jobs/{id}/hold", lambda r: _job_answer(self.ops.hold(_job_id(r))))
        add("POST", "/v1/jobs/{id}/release", self.release)
        add("GET", "/v1/printers", lambda r: Response.json({"printers": self.ops.printers()}))
        add("POST", "/v1/printers/{name}/pause", lambda r: Response.json(self.ops.pause(r.params["name"])))
        add("POST", "/v1/printers/{name}/resume", lambda r: Response.json(self.ops.resume(r.params["name"])))
        add("POST", "/v1/printers/{name}/test", lambda r: _accepted(self.ops.test_page(r.params["name"])))
        add("GET", "/v1/clock", self.clock)
        add("GET", "/v1/events", self.events)
        add("POST", "/v1/web/login", lambda r: Response.json(login_answer(self.ops.daemon.frontends)))
        # the packing station (#20): alarms, files rejected whole, scanned codes
        add("GET", "/v1/alarms", lambda r: Response.json({"alarms": self.station.alarms()}))
        add("POST", "/v1/jobs/{id}/ack", lambda r: _job_answer(self.station.ack_job(_job_id(r), r.actor)))
        add("GET", "/v1/rejected", self.rejected)
        add("POST", "/v1/rejected/{id}/ack",
            lambda r: Response.json(self.station.ack_rejected(_job_id(r), r.actor).to_json()))
        add("GET", "/v1/lookup", self.lookup)
        add("POST", "/v1/reprint", self.reprint_code)
        add("GET", "/metrics", self.metrics_text)
        add("GET", "/openapi.yaml", lambda r: Response(200, openapi_document(), "application/yaml"))

    # ----- handlers with more than one line ---------------------------------------------------

    def list_jobs(self, request: Request) -> Response:
        query = only_params(request, {"state", "printer", "posting", "document", "code", "limit"})
        limit = _int(query.get("limit", "50"), "limit")
        if query.get("code"):
            if set(query) - {"code", "limit"}:
                raise BadRequest(Reason("op.code_alone"))
            jobs = self.station.jobs_for_code(query["code"], limit)
        else:
            jobs = self.ops.jobs(state=query.get("state") or None, printer=query.get("printer") or None,
                                 posting=query.get("posting") or None, document=query.get("document") or None,
                                 limit=limit)
        return Response.json({"jobs": [job.to_json() for job in jobs]})

    def release(self, request: Request) -> Response:
        body = _json_body(request, RELEASE_KEYS)
        override = body.get("override")
        if override is not None and not isinstance(override, str):
            raise BadRequest(Reason("op.bad_override", limit=MAX_OVERRIDE_WHY))
        return _job_answer(self.ops.release(_job_id(request), override, request.actor))

    def rejected(self, request: Request) -> Response:
        query = only_params(request, {"limit", "today"})
        today = query.get("today", "false")
        if today not in ("true", "false"):
            raise BadRequest(Reason("op.bad_bool", name="today", value=repr(today)))
        records = self.station.rejected(_int(query.get("limit", "100"), "limit"), today=today == "true")
        return Response.json({"rejected": [record.to_json() for record in records],
                              "today": self.station.rejected_today()})

    def lookup(self, request: Request) -> Response:
        query = only_params(request, {"code"})
        if "code" not in query:
            raise BadRequest(Reason("op.missing_param", name="code"))
        return Response.json(self.station.lookup(query["code"]))

    def reprint_code(self, request: Request) -> Response:
        body = _json_body(request, REPRINT_KEYS | {"code"})
        code = body.pop("code", None)
        if not isinstance(code, str):
            raise BadRequest(Reason("op.missing_param", name="code"))
        return Response.json(self.station.reprint_code(code, _reprint_request(body)), 201)

    def upload(self, request: Request) -> Response:
        media_type = request.content_type.split(";")[0].strip().lower()
        if media_type and media_type not in UPLOAD_TYPES:
            raise ApiError(415, "unsupported_media_type",
                           f"upload a PDF with Content-Type: application/pdf, not {media_type}")
        limit = self.ops.daemon.config.intake.max_file_size
        data = request.read_body(limit)
        if not data:
            raise ApiError(400, "empty_body", "the request has no document; send the PDF as the request body")
        accepted = self.ops.upload(data, request.query)
        return _accepted(accepted, status=200 if accepted.repeat else 201)

    def submit_job(self, request: Request) -> Response:
        """A label as a link or a code, in JSON (docs/api.md)."""
        media_type = request.content_type.split(";")[0].strip().lower()
        if media_type and media_type != "application/json":
            raise ApiError(415, "unsupported_media_type",
                           f"send the job as JSON with Content-Type: application/json, not {media_type}")
        raw = request.read_body(job_limit(self.ops.daemon.config))
        try:
            body = json.loads(raw) if raw.strip() else None
        except (UnicodeDecodeError, json.JSONDecodeError) as error:
            raise ApiError(400, "bad_json", f"the request body is not valid JSON: {error}") from None
        if not isinstance(body, dict):
            raise ApiError(400, "bad_json", 'the request body must be a JSON object like {"label_url": "https://…"}')
        accepted = self.ops.submit_job(body)
        return _accepted(accepted, status=200 if accepted.repeat else 201)

    def reprint_job(self, request: Request) -> Response:
        new = self.ops.reprint_job(_job_id(request), _reprint_body(request))
        return Response.json({"job_ids": new}, 201)

    def reprint_posting(self, request: Request) -> Response:
        """A posting number, or anything a scanner reads off a label (``OZON:…``, a tracking number)."""
        return Response.json(self.station.reprint_code(request.params["posting"], _reprint_body(request)), 201)

    def clock(self, request: Request) -> Response:
        snapshot = self.ops.clock()
        if snapshot is None:
            snapshot = {"state": "unknown", "offset": None, "threshold": self.ops.daemon.config.clock.max_offset,
                        "checked_at": None, "correction": 0.0, "sources": [], **reason_json(Reason("clock.off"))}
        return Response.json(snapshot)

    def events(self, request: Request) -> Response:
        query = only_params(request, {"after", "timeout"})
        after = _int(query["after"], "after") if "after" in query else None
        timeout = _float(query.get("timeout", "25"), "timeout")
        if not 0 <= timeout <= MAX_EVENT_WAIT:
            raise BadRequest(Reason("op.bad_timeout", limit=MAX_EVENT_WAIT, value=timeout))
        return Response.json(self.ops.events(after, timeout))

    def metrics_text(self, request: Request) -> Response:
        body, content_type = self.metrics()
        return Response(200, body, content_type)


def _match(pattern: tuple[str, ...], segments: tuple[str, ...]) -> dict[str, str] | None:
    if len(pattern) != len(segments):
        return None
    params = {}
    for want, got in zip(pattern, segments, strict=True):
        if want.startswith("{"):
            try:
                value = unquote(got, errors="strict")
            except UnicodeDecodeError:
                raise BadRequest(Reason("op.bad_utf8", value=got)) from None
            if not value or "/" in value or "\x00" in value or value in (".", ".."):
                raise BadRequest(Reason("op.bad_path_part", value=got, what=want.strip("{}")))
            params[want.strip("{}")] = value
        elif want != got:
            return None
    return params


def _job_id(request: Request) -> int:
    raw = request.params["id"]
    if not JOB_ID.match(raw):
        raise BadRequest(Reason("op.bad_job_id", value=raw))
    return int(raw)


def only_params(request: Request, known: set[str]) -> dict[str, str]:
    unknown = sorted(set(request.query) - known)
    if unknown:
        raise BadRequest(Reason("op.unknown_params", names=unknown, known=sorted(known)))
    return request.query


def _int(raw: str, name: str) -> int:
    if not re.fullmatch(r"-?[0-9]{1,15}", raw):
        raise BadRequest(Reason("op.bad_number", name=name, value=raw))
    return int(raw)


def _float(raw: str, name: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        raise BadRequest(Reason("op.bad_number", name=name, value=raw)) from None
    if value != value:
        raise BadRequest(Reason("op.bad_number", name=name, value=raw))
    return value


def _json_body(request: Request, known: frozenset[str]) -> dict[str, Any]:
    """The request's JSON object (empty when there is no body), with only ``known`` keys."""
    raw = request.read_body(JSON_BODY_LIMIT)
    if not raw.strip():
        return {}
    try:
        body = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ApiError(400, "bad_json", f"the request body is not valid JSON: {error}") from None
    if not isinstance(body, dict):
        raise ApiError(400, "bad_json", 'the request body must be a JSON object like {"copies": 1}')
    unknown = sorted(set(body) - known)
    if unknown:
        raise BadRequest(Reason("op.unknown_params", names=unknown, known=sorted(known)))
    return body


def _reprint_body(request: Request) -> ReprintRequest:
    return _reprint_request(_json_body(request, REPRINT_KEYS))


def _reprint_request(body: dict[str, Any]) -> ReprintRequest:
    copies, printer, force = body.get("copies", 1), body.get("printer"), body.get("force", False)
    if isinstance(copies, bool) or not isinstance(copies, int):
        raise BadRequest(Reason("op.bad_number", name="copies", value=copies))
    if printer is not None and not isinstance(printer, str):
        raise BadRequest(Reason("op.bad_printer_name", printer=repr(printer)))
    if not isinstance(force, bool):
        raise BadRequest(Reason("op.bad_bool", name="force", value=repr(force)))
    return ReprintRequest(copies=copies, printer=printer, force=force)


def _job_answer(job: Job) -> Response:
    return Response.json(job.to_json())


def _accepted(accepted: Accepted, status: int = 201) -> Response:
    return Response.json({"document": accepted.document_name, "job_ids": list(accepted.job_ids),
                          "printers": list(accepted.printers), "repeat": accepted.repeat}, status)


def parse_query(raw: str) -> dict[str, str]:
    """Query parameters; a repeated one is ambiguous and refused."""
    try:
        pairs = parse_qsl(raw, keep_blank_values=True, strict_parsing=False, errors="strict")
    except UnicodeDecodeError:
        raise ApiError(400, "bad_query", "the query string is not valid UTF-8") from None
    query: dict[str, str] = {}
    for key, value in pairs:
        if key in query:
            raise ApiError(400, "bad_query", f"parameter {key!r} is given more than once")
        query[key] = value
    return query


def openapi_document() -> bytes:
    return resources.files("labeld.api").joinpath("openapi.yaml").read_bytes()


__all__ = ["ApiError", "NotFound", "Request", "Response", "Router", "error_response", "parse_query"]
