"""Wildberries Marketplace API (FBS orders): endpoints, one pure parser per answer, a thin client.

Implemented from Wildberries' OpenAPI document as mirrored in eslazarev/wildberries-sdk
(``specs/03-orders-fbs.yaml``, December 2025):

- ``GET /api/v3/orders?limit=…&next=…&dateFrom=…`` lists assembly orders (``orders[].id``,
  ``supplyId``) without their status; ``next`` pages on (at most 30 days per request).
- ``POST /api/v3/orders/status`` ``{"orders": [ids ≤ 1000]}`` answers
  ``orders[{id, supplierStatus: new|confirm|complete|cancel, wbStatus}]``.
- ``GET /api/marketplace/v3/supplies/{supplyId}/order-ids`` answers ``orderIds[]``.
- ``POST /api/v3/orders/stickers?type=svg|zplv|zplh|png&width=58&height=40`` (or 40×30)
  ``{"orders": [ids ≤ 100]}`` answers ``stickers[{orderId, partA, partB, barcode, file}]``,
  ``file`` in Base64. Stickers exist only for orders in ``confirm`` or ``complete``.

The token goes in the ``Authorization`` header. Limits: 300 requests a minute, 200 ms apart,
bursts of 20; a 409 answer counts as ten requests.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from labeld.sources.http import ApiClient, Endpoint

DEFAULT_BASE_URL = "https://marketplace-api.wildberries.ru"
ORDERS = Endpoint("/api/v3/orders", "GET", "/api/v3/orders")
STATUS = Endpoint("/api/v3/orders/status", "POST", "/api/v3/orders/status")
SUPPLY_ORDERS = Endpoint("/api/marketplace/v3/supplies/{supplyId}/order-ids", "GET",
                         "/api/marketplace/v3/supplies/{supplyId}/order-ids")
STICKERS = Endpoint("/api/v3/orders/stickers", "POST", "/api/v3/orders/stickers")
STICKER_STATUSES = frozenset({"confirm", "complete"})
#: What counts as an order waiting for its sticker (issue #17: orders on assembly).
WAITING_STATUS = "confirm"
ORDERS_PAGE = 1000
STATUS_CHUNK = 1000
STICKER_CHUNK = 100
#: A 409 costs as much as ten requests.
PENALTY = {409: 9.0}
SIZES = {"58x40": (58, 40), "40x30": (40, 30)}


class AnswerError(ValueError):
    """An answer that does not have the shape the documentation gives."""


@dataclass(frozen=True)
class Sticker:
    order_id: int
    part_a: str
    part_b: str
    barcode: str
    file: bytes

    @property
    def sticker_id(self) -> str:
        """The sticker's number as printed under its barcode."""
        return f"{self.part_a}-{self.part_b}" if self.part_a or self.part_b else self.barcode


def _object(body: Any) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise AnswerError("not a JSON object")
    return body


def _order_id(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise AnswerError(f"order id {value!r} is not a positive number")
    return value


def parse_orders(body: Any) -> tuple[list[int], int]:
    """``GET /api/v3/orders`` → the order ids on this page and the ``next`` cursor."""
    data = _object(body)
    orders = data.get("orders")
    if not isinstance(orders, list):
        raise AnswerError('"orders" is not a list')
    ids = [_order_id(o.get("id") if isinstance(o, dict) else None) for o in orders]
    cursor = data.get("next", 0)
    if isinstance(cursor, bool) or not isinstance(cursor, int):
        raise AnswerError('"next" is not a number')
    return ids, cursor


def parse_statuses(body: Any) -> dict[int, str]:
    """``POST /api/v3/orders/status`` → supplierStatus by order id."""
    orders = _object(body).get("orders")
    if not isinstance(orders, list):
        raise AnswerError('"orders" is not a list')
    found = {}
    for order in orders:
        if not isinstance(order, dict):
            raise AnswerError("an order that is not an object")
        found[_order_id(order.get("id"))] = str(order.get("supplierStatus") or "")
    return found


def parse_supply_orders(body: Any) -> list[int]:
    """``GET …/supplies/{supplyId}/order-ids`` → the order ids of the supply."""
    ids = _object(body).get("orderIds")
    if not isinstance(ids, list):
        raise AnswerError('"orderIds" is not a list')
    return [_order_id(i) for i in ids]


def parse_stickers(body: Any) -> list[Sticker]:
    """``POST /api/v3/orders/stickers`` → one sticker per order, its file decoded from Base64."""
    stickers = _object(body).get("stickers")
    if not isinstance(stickers, list):
        raise AnswerError('"stickers" is not a list')
    found = []
    for item in stickers:
        if not isinstance(item, dict) or not isinstance(item.get("file"), str):
            raise AnswerError("a sticker without a file")
        try:
            data = base64.b64decode(item["file"], validate=True)
        except (binascii.Error, ValueError):
            raise AnswerError(f"the sticker of order {item.get('orderId')} is not Base64") from None
        found.append(Sticker(_order_id(item.get("orderId")), str(item.get("partA") or ""),
                             str(item.get("partB") or ""), str(item.get("barcode") or ""), data))
    return found


def sticker_type(driver: str, media_width_mm: float, raw_format: str = "") -> str:
    """``zplh``/``zplv`` for a ZPL printer (horizontal when the medium is at least 58 mm wide),
    ``svg`` for every printer labeld renders for (Brother, preview, a PDF CUPS queue)."""
    if driver == "zpl" or (driver == "cups" and raw_format == "zpl"):
        return "zplh" if media_width_mm >= 58 else "zplv"
    return "svg"


class WildberriesApi:
    """The calls, on an :class:`ApiClient` that carries the token in ``Authorization``."""

    def __init__(self, client: ApiClient) -> None:
        self.client = client

    def orders(self, *, since: float, cursor: int) -> tuple[list[int], int]:
        params = {"limit": ORDERS_PAGE, "next": cursor, "dateFrom": int(since)}
        return parse_orders(_json(self.client.call(ORDERS, params=params).content))

    def statuses(self, order_ids: Sequence[int]) -> dict[int, str]:
        found: dict[int, str] = {}
        for start in range(0, len(order_ids), STATUS_CHUNK):
            chunk = list(order_ids[start:start + STATUS_CHUNK])
            found.update(parse_statuses(_json(self.client.call(STATUS, body={"orders": chunk}).content)))
        return found

    def supply_orders(self, supply_id: str) -> list[int]:
        path = SUPPLY_ORDERS.path.replace("{supplyId}", supply_id)
        return parse_supply_orders(_json(self.client.call(SUPPLY_ORDERS, path=path).content))

    def stickers(self, order_ids: Sequence[int], kind: str, size: str) -> list[Sticker]:
        width, height = SIZES[size]
        params = {"type": kind, "width": width, "height": height}
        answer = self.client.call(STICKERS, body={"orders": list(order_ids)}, params=params)
        return parse_stickers(_json(answer.content))


def _json(content: bytes) -> Any:
    try:
        return json.loads(content)
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise AnswerError(f"not JSON: {error}") from None
