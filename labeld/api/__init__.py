"""The control socket: HTTP/1.1 over a Unix socket (contracts.md, "Control socket")."""

from labeld.api.server import ApiServer, SocketInUse

__all__ = ["ApiServer", "SocketInUse"]
