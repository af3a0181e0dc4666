"""What every HTTPS fetch of labeld shares: verified TLS, and URLs fit for a log line.

Used by the link intake (:mod:`labeld.intake.remote`) and the marketplace sources
(:mod:`labeld.sources.http`), which sits above intake.
"""

from __future__ import annotations

import ssl
from pathlib import Path
from urllib.parse import urlsplit

import httpx

MESSAGE_CHARS = 200


def tls_context(ca_bundle: Path | None) -> ssl.SSLContext:
    """Verification always on: the system's trust store, or only ``ca_bundle`` when given. httpx takes
    the context itself (its ``verify=<path>`` is deprecated)."""
    return ssl.create_default_context(cafile=str(ca_bundle) if ca_bundle else None)


def without_query(url: str) -> str:
    """A URL fit for a log line: signed links carry their signature in the query."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}{parts.path}"


def transport_words(error: httpx.TransportError) -> str:
    """What went wrong on the wire, without the URL (it may carry a signed query)."""
    words = str(error) or type(error).__name__
    cause = error.__context__
    if isinstance(cause, ssl.SSLCertVerificationError):
        words = f"TLS certificate not trusted ({cause.verify_message})"
    return words.split(" for url ")[0][:MESSAGE_CHARS]


def tls_refused(error: httpx.TransportError) -> str | None:
    """The verification failure behind ``error`` (an untrusted certificate), else None."""
    cause: BaseException | None = error
    while cause is not None:
        if isinstance(cause, ssl.SSLCertVerificationError):
            return str(cause.verify_message or cause)
        cause = cause.__context__ or cause.__cause__
    return None
