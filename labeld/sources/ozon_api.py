"""Ozon Seller API: the endpoints labeld uses, one pure parser per answer, and a thin client.

Implemented from Ozon's OpenAPI document as mirrored in salacoste/ozon-daytona-seller-api
(``ozon-swagger-docs/swagger.json``, info.version 2.1, September 2025) and cross-checked with
the clients a-ulianov/OzonAPI (Python) and diPhantxm/ozon-api-client (Go):

- ``POST /v3/posting/fbs/unfulfilled/list``: ``filter.cutoff_from``/``cutoff_to`` are required
  (at most a year apart), ``filter.status``, ``filter.warehouse_id[]``, ``limit``, ``offset``;
  answers ``result.postings[]`` (``posting_number``, ``status``, ``tracking_number``) and
  ``result.count``.
- ``POST /v2/posting/fbs/package-label/create`` ``{"posting_number": [...]}`` answers
  ``result.tasks[] {task_id, task_type: big_label|small_label}``; the older
  ``/v1/.../create`` answers a single ``result.task_id`` (read too).
- ``POST /v1/posting/fbs/package-label/get`` ``{"task_id": N}`` answers ``result.status``
  (pending | in_progress | completed | error), ``file_url``, ``error``; the a-ulianov client
  also reads ``unprinted_postings[{posting_number, msg}]``, which is honoured when present.
- ``POST /v2/posting/fbs/package-label`` ``{"posting_number": [...]}`` (≤ 20, all or nothing)
  answers the PDF; it is declared ``application/pdf`` but described with JSON fields
  ``content_type``, ``file_name``, ``file_content``, so the answer is read by its Content-Type.
  "The next postings aren't ready" means: ask again later (labels exist 45–60 s after packing).

Ozon has moved these endpoints more than once: :data:`PATHS` is the one table of them, and a
source's ``paths`` in the config overrides any entry.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from labeld.sources.http import ApiClient, Endpoint
from labeld.spool.source_state import Seen

DEFAULT_BASE_URL = "https://api-seller.ozon.ru"
#: Name → path of every Ozon endpoint labeld calls (override per source with ``paths = {…}``).
PATHS: dict[str, str] = {
    "postings": "/v3/posting/fbs/unfulfilled/list",
    "label_create": "/v2/posting/fbs/package-label/create",
    "label_get": "/v1/posting/fbs/package-label/get",
    "label_sync": "/v2/posting/fbs/package-label",
}
LABEL_STATUS = "awaiting_deliver"
PAGE_LIMIT = 1000
NOT_READY_WORDS = ("aren't ready", "are not ready", "not ready", "NOT_READY")
TASK_TYPES = {"big": "big_label", "small": "small_label"}


class AnswerError(ValueError):
    """An answer that does not have the shape the documentation gives."""


@dataclass(frozen=True)
class PostingsPage:
    postings: tuple[Seen, ...]
    more: bool


@dataclass(frozen=True)
class TaskState:
    status: str  # pending | in_progress | completed | error
    file_url: str | None = None
    error: str = ""
    unprinted: Mapping[str, str] = field(default_factory=dict)

    @property
    def finished(self) -> bool:
        return self.status in ("completed", "error")


@dataclass(frozen=True)
class LabelAnswer:
    """A label answer: the PDF itself, or a link to it."""

    pdf: bytes | None = None
    url: str | None = None


def merged_paths(overrides: Sequence[tuple[str, str]]) -> tuple[dict[str, str], list[str]]:
    """:data:`PATHS` with the config's overrides; and the override names that are not endpoints."""
    paths = dict(PATHS)
    unknown = [name for name, _ in overrides if name not in PATHS]
    paths.update((name, path) for name, path in overrides if name in PATHS)
    return paths, unknown


def iso(moment: float) -> str:
    return datetime.fromtimestamp(moment, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def postings_request(*, cutoff_from: float, cutoff_to: float, warehouse_ids: Sequence[int], limit: int,
                     offset: int) -> dict[str, Any]:
    """The body of ``unfulfilled/list`` for postings that wait for their label."""
    return {"dir": "ASC", "limit": limit, "offset": offset,
            "filter": {"cutoff_from": iso(cutoff_from), "cutoff_to": iso(cutoff_to), "status": LABEL_STATUS,
                       "warehouse_id": list(warehouse_ids)}}


def _result(body: Any) -> dict[str, Any]:
    if not isinstance(body, dict) or not isinstance(body.get("result"), dict):
        raise AnswerError('no "result" object')
    result: dict[str, Any] = body["result"]
    return result


def parse_postings(body: Any, *, limit: int, offset: int) -> PostingsPage:
    """``unfulfilled/list`` → the postings on this page, and whether more pages follow."""
    result = _result(body)
    raw = result.get("postings")
    if not isinstance(raw, list):
        raise AnswerError('"result.postings" is not a list')
    seen = []
    for item in raw:
        if not isinstance(item, dict) or not isinstance(item.get("posting_number"), str) or not item["posting_number"]:
            raise AnswerError("a posting without a posting_number")
        seen.append(Seen(item["posting_number"], str(item.get("tracking_number") or ""), str(item.get("status") or "")))
    count = result.get("count")
    if isinstance(result.get("has_next"), bool):
        more = result["has_next"]
    elif isinstance(count, int):
        more = offset + len(seen) < count
    else:
        more = len(seen) >= limit
    return PostingsPage(tuple(seen), more and bool(seen))


def parse_tasks(body: Any) -> dict[str, int]:
    """``package-label/create`` → task id by type (``big_label``, ``small_label``).

    The v1 answer has a single ``task_id``: that is the (only, big) label."""
    result = _result(body)
    if "task_id" in result and "tasks" not in result:
        return {"big_label": _task_id(result.get("task_id"))}
    tasks = result.get("tasks")
    if not isinstance(tasks, list) or not tasks:
        raise AnswerError('"result.tasks" is empty or missing')
    found: dict[str, int] = {}
    for task in tasks:
        if not isinstance(task, dict):
            raise AnswerError("a task that is not an object")
        found[str(task.get("task_type") or "big_label")] = _task_id(task.get("task_id"))
    return found


def _task_id(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, str)) or not str(value).isdigit():
        raise AnswerError(f"task_id {value!r} is not a number")
    return int(value)


def parse_task_state(body: Any) -> TaskState:
    """``package-label/get`` → the task's status, file link, error and unprinted postings."""
    result = _result(body)
    status = result.get("status")
    if status not in ("pending", "in_progress", "completed", "error"):
        raise AnswerError(f"unknown task status {status!r}")
    unprinted = {}
    for item in result.get("unprinted_postings") or []:
        if isinstance(item, dict) and isinstance(item.get("posting_number"), str):
            unprinted[item["posting_number"]] = str(item.get("msg") or item.get("error") or "")
    url = result.get("file_url") or None
    if status == "completed" and not unprinted and not isinstance(url, str):
        raise AnswerError("a completed task without file_url")
    return TaskState(status, url if isinstance(url, str) else None, str(result.get("error") or ""), unprinted)


def parse_label(content_type: str, body: bytes) -> LabelAnswer:
    """The synchronous label answer, read by its Content-Type: the PDF itself, or JSON with
    ``file_content`` (Base64, or the PDF's bytes as a string) or ``file_url``."""
    media = content_type.split(";")[0].strip().lower()
    if media == "application/pdf" or body.startswith(b"%PDF-"):
        return LabelAnswer(pdf=body)
    if media != "application/json" and not body.lstrip().startswith(b"{"):
        raise AnswerError(f"unexpected Content-Type {media or 'none'}")
    try:
        data = json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise AnswerError(f"not JSON ({error.msg if isinstance(error, json.JSONDecodeError) else error})") from None
    data = data.get("result", data) if isinstance(data, dict) else data
    if not isinstance(data, dict):
        raise AnswerError("not a JSON object")
    if isinstance(data.get("file_url"), str) and data["file_url"]:
        return LabelAnswer(url=data["file_url"])
    content = data.get("file_content")
    if not isinstance(content, str) or not content:
        raise AnswerError("neither file_content nor file_url")
    if content.startswith("%PDF-"):
        return LabelAnswer(pdf=content.encode("latin-1", errors="replace"))
    try:
        return LabelAnswer(pdf=base64.b64decode(content, validate=True))
    except (binascii.Error, ValueError):
        raise AnswerError("file_content is neither a PDF nor Base64") from None


def is_not_ready(message: str) -> bool:
    """Ozon's way of saying "this label does not exist yet; ask again later"."""
    return any(words.lower() in message.lower() for words in NOT_READY_WORDS)


class OzonApi:
    """The calls, on an :class:`ApiClient` that carries ``Client-Id`` and ``Api-Key``."""

    def __init__(self, client: ApiClient, paths: Mapping[str, str]) -> None:
        self.client = client
        self.paths = dict(paths)

    def endpoint(self, name: str) -> Endpoint:
        return Endpoint(self.paths[name], "POST", self.paths[name])

    def postings(self, *, cutoff_from: float, cutoff_to: float, warehouse_ids: Sequence[int],
                 offset: int, limit: int = PAGE_LIMIT) -> PostingsPage:
        body = postings_request(cutoff_from=cutoff_from, cutoff_to=cutoff_to, warehouse_ids=warehouse_ids,
                                limit=limit, offset=offset)
        answer = self.client.call(self.endpoint("postings"), body=body)
        return parse_postings(_json(answer.content), limit=limit, offset=offset)

    def create_task(self, posting: str) -> dict[str, int]:
        answer = self.client.call(self.endpoint("label_create"), body={"posting_number": [posting]})
        return parse_tasks(_json(answer.content))

    def task(self, task_id: int) -> TaskState:
        answer = self.client.call(self.endpoint("label_get"), body={"task_id": task_id})
        return parse_task_state(_json(answer.content))

    def label_now(self, posting: str) -> LabelAnswer:
        answer = self.client.call(self.endpoint("label_sync"), body={"posting_number": [posting]})
        return parse_label(answer.headers.get("Content-Type", ""), answer.content)


def _json(content: bytes) -> Any:
    try:
        return json.loads(content)
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise AnswerError(f"not JSON: {error}") from None
