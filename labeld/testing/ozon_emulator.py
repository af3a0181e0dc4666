"""An Ozon Seller API for tests: FBS postings, their labels, and the faults Ozon is known for.

Built from Ozon's OpenAPI document (salacoste/ozon-daytona-seller-api,
``ozon-swagger-docs/swagger.json``), not from labeld's client:

- ``POST /v3/posting/fbs/unfulfilled/list``: ``filter.cutoff_from``/``cutoff_to`` required,
  ``filter.status``, ``filter.warehouse_id``, ``limit`` (1–1000) and ``offset``; answers
  ``result.postings`` and ``result.count``.
- ``POST /v2/posting/fbs/package-label/create`` → ``result.tasks`` (``big_label`` and
  ``small_label``); ``/v1/posting/fbs/package-label/create`` → ``result.task_id``.
- ``POST /v1/posting/fbs/package-label/get`` → ``result.status`` pending → in_progress →
  completed (one step per ask, ``task_steps`` asks in all), ``file_url`` on a signed link
  (``/files/…pdf?sig=…``, no key needed, ``HEAD`` answered, a bad signature is refused), or ``error`` with
  ``unprinted_postings`` while a posting's label is not ready.
- ``POST /v2/posting/fbs/package-label``: ≤ 20 postings, all or nothing, the PDF
  (``application/pdf``; or JSON with Base64 ``file_content`` when ``sync_json``); 400 "The next
  postings aren't ready" while any is not ready.

Postings are ``awaiting_deliver`` and their labels ready ``ready_after`` seconds after they are
added (Ozon: 45–60 s after packing). Labels are real PDFs from :mod:`labeld.labelmaker`: a
Code128 of the posting number and a QR of the tracking number, 75×120 mm (big) or 58×40 mm
(small). :meth:`OzonMarketplace.regenerate` gives a posting a new tracking number, as
generating its label again does at Ozon.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import itertools
import secrets
import time
from dataclasses import dataclass, field

from labeld.labelmaker import LabelSpec, label_pdf
from labeld.testing.marketplace import Answer, Call, MarketplaceApp

BIG = (75.0, 120.0)
SMALL = (58.0, 40.0)
MAX_SYNC = 20


@dataclass
class Posting:
    number: str
    tracking: str
    ready_at: float
    status: str = "awaiting_deliver"
    warehouse_id: int = 1020000000001000
    cutoff: float = field(default_factory=lambda: time.time() + 86400)


@dataclass
class Task:
    postings: tuple[str, ...]
    size: tuple[float, float]
    asks: int = 0


class OzonMarketplace(MarketplaceApp):
    name = "ozon"

    def __init__(self, client_id: str, api_key: str, *, ready_after: float = 0.0, task_steps: int = 2,
                 sync_json: bool = False) -> None:
        super().__init__()
        self.client_id = client_id
        self.api_key = api_key
        self.ready_after = ready_after
        self.task_steps = task_steps
        self.sync_json = sync_json
        self.postings: dict[str, Posting] = {}
        self.tasks: dict[int, Task] = {}
        self.files: dict[str, bytes] = {}
        #: How many label files were made per posting (each one a generation at Ozon).
        self.labels_made: dict[str, int] = {}
        self._task_ids = itertools.count(5819327210248)
        self._tracking = itertools.count(1)
        self._signing = secrets.token_bytes(16)

    # ----- the seller's side ----------------------------------------------------------------------

    def add_postings(self, count: int, first: int = 40000000, ready_after: float | None = None) -> list[str]:
        """``count`` postings awaiting delivery, numbered from ``first`` (``40000000-0001-1``, …)."""
        delay = self.ready_after if ready_after is None else ready_after
        numbers = []
        with self.lock:
            for n in range(first, first + count):
                number = f"{n:08d}-0001-1"
                self.postings[number] = Posting(number, self._new_tracking(), time.time() + delay)
                numbers.append(number)
        return numbers

    def regenerate(self, posting: str) -> str:
        """A new label for ``posting`` (the seller generated it again): a new tracking number."""
        with self.lock:
            self.postings[posting].tracking = self._new_tracking()
            return self.postings[posting].tracking

    def ship(self, posting: str) -> None:
        """The posting left (it is no longer listed)."""
        with self.lock:
            self.postings[posting].status = "delivering"

    def _new_tracking(self) -> str:
        return f"OZ{next(self._tracking):010d}"

    # ----- the API --------------------------------------------------------------------------------

    def authorised(self, call: Call) -> bool:
        return call.headers.get("Client-Id") == self.client_id and call.headers.get("Api-Key") == self.api_key

    def carries_key(self, call: Call) -> bool:
        return self.api_key in call.headers.values()

    def public(self, call: Call) -> bool:
        return call.path.startswith("/files/")

    def route(self, call: Call) -> Answer:
        routes = {
            ("POST", "/v3/posting/fbs/unfulfilled/list"): self._list,
            ("POST", "/v2/posting/fbs/package-label/create"): self._create_v2,
            ("POST", "/v1/posting/fbs/package-label/create"): self._create_v1,
            ("POST", "/v1/posting/fbs/package-label/get"): self._get,
            ("POST", "/v2/posting/fbs/package-label"): self._sync,
        }
        handler = routes.get((call.method, call.path))
        if handler is not None:
            return handler(call)
        if call.method in ("GET", "HEAD") and call.path.startswith("/files/"):
            return self._file(call)
        return self.error(404, "Not Found")

    def _list(self, call: Call) -> Answer:
        body = call.json()
        flt = body.get("filter") or {}
        if not flt.get("cutoff_from") or not flt.get("cutoff_to"):
            return self.error(400, "INVALID_ARGUMENT: filter.cutoff_from and filter.cutoff_to are required")
        limit, offset = body.get("limit"), body.get("offset")
        if not isinstance(limit, int) or not 1 <= limit <= 1000 or not isinstance(offset, int) or offset < 0:
            return self.error(400, "INVALID_ARGUMENT: limit must be 1..1000, offset ≥ 0")
        warehouses = set(flt.get("warehouse_id") or [])
        with self.lock:
            matching = [p for p in sorted(self.postings.values(), key=lambda p: p.number)
                        if (not flt.get("status") or p.status == flt["status"])
                        and (not warehouses or p.warehouse_id in warehouses)]
            page = matching[offset:offset + limit]
            items = [{"posting_number": p.number, "order_id": int(p.number[:8]), "status": p.status,
                      "tracking_number": p.tracking, "delivery_method": {"warehouse_id": p.warehouse_id}}
                     for p in page]
        return Answer.json({"result": {"postings": items, "count": len(matching)}})

    def _postings_of(self, call: Call) -> list[str] | Answer:
        numbers = call.json().get("posting_number")
        if not isinstance(numbers, list) or not numbers:
            return self.error(400, "INVALID_ARGUMENT: posting_number is required")
        unknown = [n for n in numbers if n not in self.postings]
        if unknown:
            return self.error(404, f"POSTING_NOT_FOUND: {', '.join(map(str, unknown))}")
        return [str(n) for n in numbers]

    def _create_v2(self, call: Call) -> Answer:
        numbers = self._postings_of(call)
        if isinstance(numbers, Answer):
            return numbers
        tasks = []
        with self.lock:
            for kind, size in (("big_label", BIG), ("small_label", SMALL)):
                task_id = next(self._task_ids)
                self.tasks[task_id] = Task(tuple(numbers), size)
                tasks.append({"task_id": task_id, "task_type": kind})
        return Answer.json({"result": {"tasks": tasks}})

    def _create_v1(self, call: Call) -> Answer:
        numbers = self._postings_of(call)
        if isinstance(numbers, Answer):
            return numbers
        with self.lock:
            task_id = next(self._task_ids)
            self.tasks[task_id] = Task(tuple(numbers), BIG)
        return Answer.json({"result": {"task_id": task_id}})

    def _get(self, call: Call) -> Answer:
        task_id = call.json().get("task_id")
        with self.lock:
            task = self.tasks.get(task_id) if isinstance(task_id, int) else None
            if task is None:
                return self.error(404, f"TASK_NOT_FOUND: {task_id}")
            task.asks += 1
            if task.asks < self.task_steps:
                return Answer.json({"result": {"status": "pending" if task.asks == 1 else "in_progress"}})
            waiting = [n for n in task.postings if self.postings[n].ready_at > time.time()]
        if waiting:
            unprinted = [{"posting_number": n, "msg": "The next postings aren't ready"} for n in waiting]
            return Answer.json({"result": {"status": "error", "error": "POSTINGS_NOT_READY",
                                           "unprinted_postings": unprinted}})
        token = secrets.token_hex(8)
        self.files[token] = self._labels(task.postings, task.size)
        url = f"{self.base_url}/files/{token}.pdf?sig={self._sign(token)}"
        return Answer.json({"result": {"status": "completed", "file_url": url, "unprinted_postings": []}})

    def _sync(self, call: Call) -> Answer:
        numbers = self._postings_of(call)
        if isinstance(numbers, Answer):
            return numbers
        if len(numbers) > MAX_SYNC:
            return self.error(400, f"INVALID_ARGUMENT: at most {MAX_SYNC} postings")
        if any(self.postings[n].ready_at > time.time() for n in numbers):
            return self.error(400, "The next postings aren't ready")
        pdf = self._labels(numbers, BIG)
        if self.truncate_next():
            pdf = pdf[: len(pdf) // 2]
        if self.sync_json:
            return Answer.json({"content_type": "application/pdf", "file_name": "ticket.pdf",
                                "file_content": base64.b64encode(pdf).decode()})
        return Answer(200, pdf, "application/pdf")

    def _file(self, call: Call) -> Answer:
        token = call.path.removeprefix("/files/").removesuffix(".pdf")
        if token not in self.files or not hmac.compare_digest(call.query.get("sig", ""), self._sign(token)):
            return Answer(403, b"<Error><Code>AccessDenied</Code></Error>", "application/xml")
        data = self.files[token]
        if self.redirect_next():
            return Answer(302, b"", "text/plain", {"Location": f"https://cdn.example.invalid/moved/{token}.pdf"
                                                   f"?sig={call.query.get('sig', '')}"})
        if call.method == "HEAD":
            return Answer(200, data, "application/pdf")
        if self.truncate_next():
            data = data[: len(data) // 2]
        return Answer(200, data, "application/pdf")

    def _sign(self, token: str) -> str:
        return hmac.new(self._signing, token.encode(), hashlib.sha256).hexdigest()[:32]

    def _labels(self, numbers: tuple[str, ...] | list[str], size: tuple[float, float]) -> bytes:
        with self.lock:
            specs = [LabelSpec(posting=n, tracking=self.postings[n].tracking, size_mm=size) for n in numbers]
            for n in numbers:
                self.labels_made[n] = self.labels_made.get(n, 0) + 1
        return label_pdf(specs)
