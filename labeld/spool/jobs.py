"""The rows the spool hands out: a job with its label and document, and what goes in to make one."""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass, field
from typing import Any

from labeld.reasons import Reason
from labeld.spool.events import reason_json, stored_reason
from labeld.spool.states import JobState

JOB_SELECT = """
    SELECT j.id, j.label_id, j.printer, j.copies, j.state, j.reason_code, j.reason_params, j.confirmed,
           j.created_at, j.updated_at, j.attempts, j.reprint_of, j.duplicate_of, j.forced, j.interrupted,
           j.override, j.needs_ack,
           l.document_id, l.page, l.posting, l.tracking, l.issued_at, l.expires_at, l.content_hash,
           l.width_mm, l.height_mm, l.posting_mismatch, d.name AS document_name, d.sha256 AS document_sha256,
           d.kind AS document_kind, d.source AS document_source, l.preflight,
           json_extract(d.sidecar, '$.requested_by') AS requested_by
    FROM jobs j JOIN labels l ON l.id = j.label_id JOIN documents d ON d.id = l.document_id
"""


@dataclass(frozen=True)
class NewDocument:
    sha256: str
    name: str
    source: str
    size: int
    pages: int
    kind: str = "pdf"
    intake_key: str | None = None
    sidecar: dict[str, Any] | None = None
    folder: str | None = None


@dataclass(frozen=True)
class NewLabel:
    page: int
    printer: str
    issued_at: float
    expires_at: float
    copies: int = 1
    width_mm: float | None = None
    height_mm: float | None = None
    posting: str | None = None
    tracking: str | None = None
    posting_mismatch: str = "refuse"


@dataclass(frozen=True)
class Job:
    """A job with its label and document, as one row."""

    id: int
    label_id: int
    printer: str
    copies: int
    state: JobState
    reason: Reason
    confirmed: bool
    created_at: float
    updated_at: float
    attempts: int
    reprint_of: int | None
    duplicate_of: int | None
    forced: bool
    interrupted: bool
    document_id: int
    page: int
    posting: str | None
    tracking: str | None
    issued_at: float
    expires_at: float
    content_hash: str | None
    width_mm: float | None
    height_mm: float | None
    document_name: str
    document_sha256: str
    document_kind: str
    document_source: str
    preflight: dict[str, Any] = field(default_factory=dict)
    #: Released past the label rules by an operator, once: {"by", "uid", "why"}.
    override: dict[str, Any] | None = None
    #: Voided by a newer label after it printed: a person must relabel the parcel and acknowledge it.
    needs_ack: bool = False
    posting_mismatch: str = "refuse"
    #: Who asked for the print, where the upload or sidecar said (a CUPS job's user@host).
    requested_by: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "state": self.state.value,
            **reason_json(self.reason),
            "printer": self.printer,
            "copies": self.copies,
            "confirmed": self.confirmed,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
            "attempts": self.attempts,
            "reprint_of": self.reprint_of,
            "duplicate_of": self.duplicate_of,
            "forced": self.forced,
            "interrupted": self.interrupted,
            "override": self.override,
            "needs_ack": self.needs_ack,
            "label": {
                "id": self.label_id,
                "page": self.page + 1,
                "posting_number": self.posting,
                "tracking_number": self.tracking,
                "issued_at": self.issued_at,
                "expires_at": self.expires_at,
                "size_mm": [self.width_mm, self.height_mm] if self.width_mm else None,
                "preflight": self.preflight,
            },
            "document": {
                "id": self.document_id,
                "name": self.document_name,
                "sha256": self.document_sha256,
                "kind": self.document_kind,
                "source": self.document_source,
                "requested_by": self.requested_by,
            },
        }


def job_from_row(row: sqlite3.Row) -> Job:
    return Job(
        id=row["id"], label_id=row["label_id"], printer=row["printer"], copies=row["copies"],
        state=JobState(row["state"]), reason=stored_reason(row), confirmed=bool(row["confirmed"]),
        created_at=row["created_at"], updated_at=row["updated_at"], attempts=row["attempts"],
        reprint_of=row["reprint_of"], duplicate_of=row["duplicate_of"], forced=bool(row["forced"]),
        interrupted=bool(row["interrupted"]), document_id=row["document_id"], page=row["page"],
        posting=row["posting"], tracking=row["tracking"], issued_at=row["issued_at"],
        expires_at=row["expires_at"], content_hash=row["content_hash"], width_mm=row["width_mm"],
        height_mm=row["height_mm"], document_name=row["document_name"],
        document_sha256=row["document_sha256"], document_kind=row["document_kind"],
        document_source=row["document_source"],
        preflight=json.loads(row["preflight"]) if row["preflight"] else {},
        override=json.loads(row["override"]) if row["override"] else None, needs_ack=bool(row["needs_ack"]),
        posting_mismatch=row["posting_mismatch"], requested_by=row["requested_by"],
    )


def accepted_reason(doc: NewDocument, where: str, page: int, pages: int) -> Reason:
    """A new job's first reason; it names who asked for the print when the upload or sidecar said."""
    requested_by = (doc.sidecar or {}).get("requested_by")
    if requested_by:
        return Reason("job.accepted_for", name=doc.name, where=where, requested_by=requested_by, page=page,
                      pages=pages)
    return Reason("job.accepted", name=doc.name, where=where, page=page, pages=pages)


def state_marks(states: frozenset[JobState]) -> tuple[str, list[str]]:
    """``?,?,?`` and the state values, for ``state IN (…)``."""
    values = sorted(s.value for s in states)
    return ",".join("?" * len(values)), values
