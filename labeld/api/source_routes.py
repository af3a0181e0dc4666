"""The control socket's endpoints for marketplace sources (docs/api.md, "Sources")."""

from __future__ import annotations

from labeld.api.routes import Request, Response, Router, only_params
from labeld.daemon.source_operations import SourceOperations


def register_source_routes(router: Router) -> None:
    """``GET /v1/sources``, ``POST /v1/sources/{name}/pause|resume``, ``POST /v1/postings/{posting}/fetch``."""
    ops = SourceOperations(router.ops.daemon)

    def fetch(request: Request) -> Response:
        query = only_params(request, {"source"})
        return Response.json(ops.fetch(request.params["posting"], query.get("source") or None))

    router.add("GET", "/v1/sources", lambda r: Response.json({"sources": ops.sources()}))
    router.add("POST", "/v1/sources/{name}/pause", lambda r: Response.json(ops.pause(r.params["name"])))
    router.add("POST", "/v1/sources/{name}/resume", lambda r: Response.json(ops.resume(r.params["name"])))
    router.add("POST", "/v1/postings/{posting}/fetch", fetch)
