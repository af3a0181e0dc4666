"""``POST /v1/web/login``: socket access is authority, so the socket hands out one-time login links
to the station page (``labelctl web``), the Jupyter way.

The API does not import the page: it asks the running frontends for one that can make a login link.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Protocol, runtime_checkable

from labeld.daemon.operations import Refused
from labeld.reasons import Reason


@runtime_checkable
class LoginPage(Protocol):
    """A frontend that can make a one-time login link (the station page)."""

    def login_link(self) -> tuple[str, float]:
        """The link and how many seconds it stays valid."""
        ...


def login_answer(frontends: Iterable[Any]) -> dict[str, Any]:
    for frontend in frontends:
        if isinstance(frontend, LoginPage):
            url, lifetime = frontend.login_link()
            return {"url": url, "expires_in": lifetime}
    raise Refused(Reason("op.web_off"), "web_off")
