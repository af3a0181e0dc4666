"""Which shipment a label belongs to: its posting number and tracking number.

The sidecar is what the ERP knew when it fetched the label, so it wins; then a barcode value
(the marketplace encodes the posting in the label's Code128); then the page text. Tracking
numbers have no fixed form across carriers, so the text is searched for one *labelled* as such.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

#: A tracking number printed after a label word: "Tracking TRK000000001", "Трек-номер: 0012345678",
#: "Tracking No. RA123456789RU". Six or more letters/digits, dashes allowed inside.
TRACKING_PATTERN = (
    r"(?i)(?:tracking(?:\s*(?:no\.?|number|#))?|track\s*(?:no\.?|number|#)|трек(?:-?номер)?)"
    r"\s*[:№#]?\s*([A-Z0-9][A-Z0-9-]{4,}[A-Z0-9])"
)


@dataclass(frozen=True)
class Identity:
    """Posting and tracking number, each with where it came from (sidecar, barcode, text)."""

    posting: str | None
    posting_source: str | None
    tracking: str | None
    tracking_source: str | None


def find_posting(sidecar: str | None, barcode_values: Iterable[str], text: str,
                 pattern: str) -> tuple[str | None, str | None]:
    """(posting number, source) from the sidecar, else a barcode value, else the page text."""
    if sidecar:
        return sidecar, "sidecar"
    compiled = re.compile(pattern)
    for value in barcode_values:
        match = compiled.search(value)
        if match:
            return match.group(0), "barcode"
    match = compiled.search(text)
    return (match.group(0), "text") if match else (None, None)


def find_tracking(sidecar: str | None, text: str, pattern: str = TRACKING_PATTERN) -> tuple[str | None, str | None]:
    """(tracking number, source) from the sidecar, else the first labelled number in the text.

    ``pattern``'s first group, if it has one, is the number; else the whole match.
    """
    if sidecar:
        return sidecar, "sidecar"
    match = re.search(pattern, text)
    if not match:
        return None, None
    return (match.group(1) if match.groups() else match.group(0)), "text"


def identify(*, text: str, barcode_values: Iterable[str], posting_pattern: str,
             sidecar_posting: str | None = None, sidecar_tracking: str | None = None,
             tracking_pattern: str = TRACKING_PATTERN) -> Identity:
    posting, posting_source = find_posting(sidecar_posting, barcode_values, text, posting_pattern)
    tracking, tracking_source = find_tracking(sidecar_tracking, text, tracking_pattern)
    return Identity(posting, posting_source, tracking, tracking_source)
