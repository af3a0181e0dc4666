"""A Wildberries Marketplace API (FBS) for tests: assembly orders and their stickers.

Built from Wildberries' OpenAPI document (eslazarev/wildberries-sdk, ``specs/03-orders-fbs.yaml``):
``GET /api/v3/orders`` (``limit``, ``next``, ``dateFrom``), ``POST /api/v3/orders/status``,
``GET /api/marketplace/v3/supplies/{supplyId}/order-ids`` and ``POST /api/v3/orders/stickers``
(``type`` svg | zplv | zplh | png, ``width``/``height`` 58×40 or 40×30, ≤ 100 orders, stickers
only for orders in ``confirm`` or ``complete``). The token is the ``Authorization`` header; a
wrong one answers 401 as Wildberries does.

Stickers are real: a Code128 of the sticker's ``barcode`` and its ``partA partB`` number, as
an SVG of 580×400 px (10 px to the millimetre, the size the documentation gives) or as ZPL
(a ``^GF`` graphic at 203 dpi) — made with labeld's label generator and ZPL encoder.
"""

from __future__ import annotations

import base64
import itertools
import time
from dataclasses import dataclass

import numpy as np
import pymupdf

from labeld.bitmap import Bitmap, to_png
from labeld.drivers.zpl_graphics import graphic_field
from labeld.labelmaker import LabelSpec, Symbol, label_pdf, module_pattern
from labeld.media import Media, generic_geometry
from labeld.render.rasterize import render_label
from labeld.testing.marketplace import Answer, Call, MarketplaceApp

SIZES = {(58, 40), (40, 30)}
TYPES = ("svg", "zplv", "zplh", "png")
PX_PER_MM = 10
ZPL_DPI = 203


@dataclass
class Order:
    id: int
    status: str
    supply: str | None
    created: float
    part_a: str
    part_b: str

    @property
    def barcode(self) -> str:
        return f"!WB{self.id}"


class WildberriesMarketplace(MarketplaceApp):
    name = "wildberries"

    def __init__(self, token: str) -> None:
        super().__init__()
        self.token = token
        self.orders: dict[int, Order] = {}
        self.stickers_made: dict[int, int] = {}
        self._ids = itertools.count(5346346)

    def add_orders(self, count: int, status: str = "confirm", supply: str | None = None) -> list[int]:
        ids = []
        with self.lock:
            for _ in range(count):
                order_id = next(self._ids)
                self.orders[order_id] = Order(order_id, status, supply, time.time(), f"{order_id % 1000000:06d}",
                                              f"{order_id % 10000:04d}")
                ids.append(order_id)
        return ids

    # ----- the API --------------------------------------------------------------------------------

    def authorised(self, call: Call) -> bool:
        return call.headers.get("Authorization") == self.token

    def carries_key(self, call: Call) -> bool:
        return self.token in call.headers.values()

    def error(self, status: int, message: str) -> Answer:
        if status in (401, 429):
            return Answer.json({"title": message, "detail": message, "status": status}, status)
        return Answer.json({"code": "Error", "message": message}, status)

    def route(self, call: Call) -> Answer:
        if call.method == "GET" and call.path == "/api/v3/orders":
            return self._orders(call)
        if call.method == "POST" and call.path == "/api/v3/orders/status":
            return self._status(call)
        if call.method == "POST" and call.path == "/api/v3/orders/stickers":
            return self._stickers(call)
        prefix, suffix = "/api/marketplace/v3/supplies/", "/order-ids"
        if call.method == "GET" and call.path.startswith(prefix) and call.path.endswith(suffix):
            supply = call.path[len(prefix):-len(suffix)]
            with self.lock:
                ids = sorted(o.id for o in self.orders.values() if o.supply == supply)
            return Answer.json({"orderIds": ids})
        return self.error(404, "Not Found")

    def _orders(self, call: Call) -> Answer:
        try:
            limit, cursor = int(call.query["limit"]), int(call.query["next"])
            since = int(call.query.get("dateFrom", 0))
        except (KeyError, ValueError):
            return self.error(400, "Передан некорректный параметр")
        if not 1 <= limit <= 1000:
            return self.error(400, "Передан некорректный параметр")
        with self.lock:
            page = [o for o in sorted(self.orders.values(), key=lambda o: o.id) if o.id > cursor and o.created >= since]
            page = page[:limit]
        items = [{"id": o.id, "supplyId": o.supply or "", "createdAt": time.strftime(
            "%Y-%m-%dT%H:%M:%SZ", time.gmtime(o.created)), "deliveryType": "fbs"} for o in page]
        return Answer.json({"next": page[-1].id if page else cursor, "orders": items})

    def _status(self, call: Call) -> Answer:
        ids = call.json().get("orders")
        if not isinstance(ids, list) or not 1 <= len(ids) <= 1000:
            return self.error(400, "Некорректное тело запроса")
        with self.lock:
            found = [{"id": i, "supplierStatus": self.orders[i].status, "wbStatus": "waiting"}
                     for i in ids if i in self.orders]
        return Answer.json({"orders": found})

    def _stickers(self, call: Call) -> Answer:
        kind = call.query.get("type", "")
        try:
            size = (int(call.query.get("width", "")), int(call.query.get("height", "")))
        except ValueError:
            return self.error(400, "Передан некорректный параметр")
        ids = call.json().get("orders")
        if kind not in TYPES or size not in SIZES or not isinstance(ids, list) or not 1 <= len(ids) <= 100:
            return self.error(400, "Переданы некорректные данные")
        stickers = []
        with self.lock:
            orders = [self.orders[i] for i in ids if i in self.orders and self.orders[i].status in ("confirm",
                                                                                                      "complete")]
            for order in orders:
                self.stickers_made[order.id] = self.stickers_made.get(order.id, 0) + 1
        for order in orders:
            data = sticker_file(order, kind, size)
            if self.truncate_next():
                data = data[: len(data) // 2]
            stickers.append({"orderId": order.id, "partA": order.part_a, "partB": order.part_b,
                             "barcode": order.barcode, "file": base64.b64encode(data).decode()})
        return Answer.json({"stickers": stickers})


def sticker_file(order: Order, kind: str, size: tuple[int, int]) -> bytes:
    if kind == "svg":
        return sticker_svg(order, size)
    if kind in ("zplv", "zplh"):
        return sticker_zpl(order, size, vertical=kind == "zplv")
    return sticker_png(order, size)


def _sticker_spec(order: Order, size: tuple[int, int]) -> LabelSpec:
    width, height = size
    module = min(0.3, round((width - 6) / module_pattern("code128", order.barcode).shape[1], 3))
    return LabelSpec(posting=f"{order.part_a} {order.part_b}", tracking=f"order {order.id}",
                     size_mm=(float(width), float(height)),
                     symbols=(Symbol("code128", order.barcode, 3.0, 3.0, module, height_mm=height * 0.4),))


def sticker_svg(order: Order, size: tuple[int, int]) -> bytes:
    """The sticker as Wildberries' SVG: ``width × height`` mm at 10 px to the millimetre."""
    width, height = size[0] * PX_PER_MM, size[1] * PX_PER_MM
    spec = _sticker_spec(order, size)
    symbol = spec.resolved_symbols()[0]
    pattern = module_pattern("code128", order.barcode)[0]
    module, x0, y0 = symbol.module_mm * PX_PER_MM, symbol.x_mm * PX_PER_MM, symbol.y_mm * PX_PER_MM
    bar_h = (symbol.height_mm or 10.0) * PX_PER_MM
    rects = []
    run_start = None
    for i, dark in enumerate([*pattern.tolist(), False]):
        if dark and run_start is None:
            run_start = i
        elif not dark and run_start is not None:
            rects.append(f'<rect x="{x0 + run_start * module:.2f}" y="{y0:.2f}" width="{(i - run_start) * module:.2f}"'
                         f' height="{bar_h:.2f}" fill="#000"/>')
            run_start = None
    text_y = y0 + bar_h + 60
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
            f'viewBox="0 0 {width} {height}"><rect width="{width}" height="{height}" fill="#fff"/>'
            + "".join(rects)
            + f'<text x="{x0:.0f}" y="{text_y:.0f}" font-family="sans-serif" font-size="56">{order.part_a} '
              f'{order.part_b}</text></svg>').encode()


def _bitmap(order: Order, size: tuple[int, int], dpi: int) -> Bitmap:
    page = pymupdf.open("pdf", label_pdf(_sticker_spec(order, size)))[0]
    media = Media(f"{size[0]}x{size[1]}mm", float(size[0]), float(size[1]))
    return render_label(page, generic_geometry(media, dpi)).bitmap


def sticker_zpl(order: Order, size: tuple[int, int], vertical: bool = False) -> bytes:
    """The sticker as ZPL for a 203-dpi printer: one ``^GF`` graphic (``zplv`` turned a quarter)."""
    bitmap = _bitmap(order, size, ZPL_DPI)
    if vertical:
        bitmap = np.rot90(bitmap)
    height, width = bitmap.shape
    return f"^XA^PW{width}^LL{height}^FO0,0{graphic_field(bitmap)}^FS^XZ\n".encode()


def sticker_png(order: Order, size: tuple[int, int]) -> bytes:
    return to_png(_bitmap(order, size, 254), dpi=254)
