"""Sidecar JSON beside a PDF: printer, copies, posting and tracking numbers, issue time, and who
asked for the print (``requested_by``: a person or system, shown in the job's history)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from labeld.errors import RejectedInput
from labeld.reasons import Reason

MAX_SIDECAR_BYTES = 64 * 1024
MAX_COPIES = 100
#: What to do when a given posting number and the label's own barcodes or text disagree.
POSTING_MISMATCH = ("refuse", "accept")


@dataclass(frozen=True)
class Sidecar:
    printer: str | None = None
    copies: int = 1
    posting_number: str | None = None
    tracking_number: str | None = None
    issued_at: float | None = None
    requested_by: str | None = None
    posting_mismatch: str = "refuse"

    def to_json(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if v is not None and (k, v) != ("posting_mismatch", "refuse")}


def parse_sidecar(data: bytes) -> Sidecar:
    """Read a sidecar; every problem is a :class:`RejectedInput` naming the key."""
    if len(data) > MAX_SIDECAR_BYTES:
        raise RejectedInput(Reason("sidecar.too_big", size=len(data), limit=MAX_SIDECAR_BYTES))
    try:
        raw = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise RejectedInput(Reason("sidecar.not_json", error=str(error))) from error
    if not isinstance(raw, dict):
        raise RejectedInput(Reason("sidecar.not_object"))
    return sidecar_from_mapping(raw)


def sidecar_from_mapping(raw: dict[str, Any]) -> Sidecar:
    known = {"printer", "copies", "posting_number", "tracking_number", "issued_at", "requested_by", "posting_mismatch"}
    unknown = sorted(set(raw) - known)
    if unknown:
        raise RejectedInput(Reason("sidecar.unknown_keys", keys=unknown, known=sorted(known)))
    problems: list[Reason] = []
    copies = raw.get("copies", 1)
    if isinstance(copies, bool) or not isinstance(copies, int) or not 1 <= copies <= MAX_COPIES:
        problems.append(Reason("sidecar.bad_copies", limit=MAX_COPIES, value=repr(copies)))
    for key in ("printer", "posting_number", "tracking_number", "requested_by"):
        value = raw.get(key)
        if value is not None and (not isinstance(value, str) or not value or len(value) > 200):
            problems.append(Reason("sidecar.bad_string", key=key, value=repr(value)))
        elif isinstance(value, str) and not value.isprintable():
            problems.append(Reason("sidecar.not_printable", key=key, value=repr(value)))
    issued: float | None = None
    if raw.get("issued_at") is not None:
        try:
            issued = parse_timestamp(raw["issued_at"])
        except ValueError as error:
            problems.append(Reason("sidecar.bad_issued_at", error=str(error)))
    mismatch = raw.get("posting_mismatch", "refuse")
    if mismatch not in POSTING_MISMATCH:
        problems.append(Reason("sidecar.bad_choice", key="posting_mismatch", value=repr(mismatch),
                               choices=list(POSTING_MISMATCH)))
    if problems:
        raise RejectedInput(Reason("sidecar.invalid", problems=problems), {"sidecar": raw})
    return Sidecar(raw.get("printer"), copies, raw.get("posting_number"), raw.get("tracking_number"), issued,
                   raw.get("requested_by"), mismatch)


def parse_timestamp(value: object) -> float:
    """Unix seconds from an ISO 8601 string with a zone (``2026-11-26T01:02:03Z``) or a number."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if not isinstance(value, str):
        raise ValueError(f"{value!r} is not a time; write it like \"2026-11-26T01:02:03Z\"")
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"{value!r} is not an ISO 8601 time like \"2026-11-26T01:02:03Z\"") from None
    if moment.tzinfo is None:
        raise ValueError(f"{value!r} has no time zone; add Z for UTC or +03:00")
    return moment.timestamp()
