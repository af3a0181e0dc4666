"""The control socket: HTTP/1.1 over a Unix socket (docs/api.md, labeld/api/openapi.yaml)."""

from labeld.api.server import ApiServer, SocketInUse

__all__ = ["ApiServer", "SocketInUse"]
