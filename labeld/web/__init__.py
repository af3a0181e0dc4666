"""The packing station's page: a small server-rendered web page on a TCP listener ([web]).

Starlette on uvicorn, Jinja2 templates, one stylesheet, a little plain JavaScript, live updates
by Server-Sent Events; sessions from a one-time login link (``labelctl web``) or a password.
Every view reads the same :class:`labeld.daemon.operations.Operations` the control socket uses.
"""

from labeld.web.server import WebServer

__all__ = ["WebServer"]
