"""Pre-flight benchmark: how many barcodes survive 203 and 300 dpi plain vs repaired, and what it costs.

Corpus: 58×40 and 75×120 mm labels with one Code128, QR, DataMatrix or EAN-13 each, module sizes
0.15–0.5 mm (vector), as labeld.labelmaker makes them. "Decodes" means zxing-cpp reads the
value on the final 1-bit bitmap and also with one dot of print gain and one of loss.
Run: python benchmarks/bench_preflight.py
"""

from __future__ import annotations

import statistics
import time

import pymupdf

from labeld.config import PreflightConfig
from labeld.labelmaker import LabelSpec, Symbol, label_pdf, symbol_rect_mm
from labeld.media import generic_geometry, parse_media
from labeld.preflight import check_page
from labeld.preflight.barcodes import TRUTH_DPI, find_truth, module_dots, verify
from labeld.preflight.repair import faithful, repair
from labeld.render.rasterize import render_label

MODULES_MM = (0.15, 0.2, 0.25, 0.3, 0.33, 0.4, 0.5)
#: Symbols drawn at an angle: 90° (reads downwards) for every size, and askew by a few degrees at
#: the sizes where a producer's slip would still leave a code a scanner reads.
TURNS = ((90.0, MODULES_MM), (3.0, (0.33, 0.4, 0.5)), (-2.0, (0.33, 0.4, 0.5)))
MARGIN_MM = 3.0
#: Two dots at 203 dpi, in millimetres.
GRID_203 = 2 * 25.4 / 203


def corpus() -> list[LabelSpec]:
    """One symbol a label: Code128, QR, DataMatrix, EAN-13, PDF417 and Aztec at every module size,
    and Code128 and QR turned (``TURNS``); a symbol that would not fit on the label is left out
    (drawn past the edge, it is not on the label at all: there is nothing to decode)."""
    specs = []
    for size in ((58.0, 40.0), (75.0, 120.0)):
        for mm in MODULES_MM:
            for symbol in (Symbol("code128", "12345678-0012-1", 0, 0, mm, 10), Symbol("qr", LINK, 0, 0, mm),
                           Symbol("datamatrix", "TRK000000001", 0, 0, mm),
                           Symbol("ean13", "4006381333931", 0, 0, mm, 10),
                           Symbol("pdf417", "12345678-0012-1", 0, 0, mm), Symbol("aztec", "TRK000000001", 0, 0, mm)):
                specs += _fitted(symbol, 0.0, size)
        for angle, sizes in TURNS:
            for mm in sizes:
                for symbol in (Symbol("code128", "12345678-0012-1", 0, 0, mm, 10), Symbol("qr", LINK, 0, 0, mm)):
                    specs += _fitted(symbol, angle, size)
    return specs


LINK = "https://ozon.example/t/TRK1"


def _fitted(symbol: Symbol, angle: float, size: tuple[float, float]) -> list[LabelSpec]:
    """``symbol`` turned by ``angle`` with its corner ``MARGIN_MM`` in from the label's, on a label of
    ``size`` if it fits there (with room for the quiet zone), else nothing."""
    _, _, width, height = symbol_rect_mm(symbol)
    turn = pymupdf.Matrix(angle)  # as labelmaker's morph turns it on the page
    corners = [pymupdf.Point(x, y) * turn for x, y in ((0, 0), (width, 0), (width, height), (0, height))]
    x0, y0 = min(p.x for p in corners), min(p.y for p in corners)
    x1, y1 = max(p.x for p in corners), max(p.y for p in corners)
    if x1 - x0 + 2 * MARGIN_MM > size[0] or y1 - y0 + 2 * MARGIN_MM > size[1]:
        return []
    if angle == 90 and symbol.height_mm and width / symbol.module_mm * GRID_203 + 2 * MARGIN_MM > size[1]:
        return []  # turned, it would not fit along the label at 2 dots a module, the least that holds up
    placed = Symbol(symbol.kind, symbol.value, MARGIN_MM - x0, MARGIN_MM - y0, symbol.module_mm, symbol.height_mm,
                    angle)
    return [LabelSpec(size_mm=size, symbols=(placed,))]


def describe(spec: LabelSpec) -> str:
    (symbol,) = spec.resolved_symbols()
    turn = f" at {symbol.angle:g}°" if symbol.angle else ""
    return f"{spec.size_mm[0]:g}×{spec.size_mm[1]:g} {symbol.kind} {symbol.module_mm} mm{turn}"


def main() -> None:
    plain_cfg = PreflightConfig(barcode_repair="off")
    auto_cfg = PreflightConfig()
    items = corpus()
    print(f"corpus: {len(items)} labels, one barcode each (Code128, QR, DataMatrix, EAN-13, PDF417, Aztec; "
          f"Code128 and QR also turned 90° and askew), modules {MODULES_MM} mm")
    missed: list[str] = []
    print("| dpi | decodes plain | ±1 dot, plain | ±1 dot, repaired | redrawn | check_page ms (median) |")
    print("|---|---|---|---|---|---|")
    for dpi in (203, 300):
        counts = [0, 0, 0, 0]
        times: list[float] = []
        for spec in items:
            page = pymupdf.open(stream=label_pdf(spec))[0]
            media = parse_media(f"{spec.size_mm[0]:g}x{spec.size_mm[1]:g}mm")
            rendered = render_label(page, generic_geometry(media, dpi))
            plain = check_page(page, rendered, plain_cfg)
            start = time.perf_counter()
            auto = check_page(page, rendered, auto_cfg)
            times.append((time.perf_counter() - start) * 1000)
            one = len(plain.barcodes) == 1
            counts[0] += one and plain.barcodes[0].verified
            counts[1] += one and plain.barcodes[0].robust
            counts[2] += one and auto.barcodes[0].robust
            counts[3] += auto.repaired
            if not (one and len(auto.barcodes) == 1 and auto.barcodes[0].robust):
                missed.append(f"{dpi} dpi: {describe(spec)} "
                              f"({'; '.join(auto.barcodes[0].failures) if auto.barcodes else 'not found'})")
        n = len(items)
        cells = [f"{c}/{n} ({c / n:.0%})" for c in counts[:3]]
        print(f"| {dpi} | {' | '.join(cells)} | {counts[3]} | {statistics.median(times):.1f} |")
    print("\nnot robust after repair: " + ("; ".join(missed) if missed else "none"))
    stage_times()


def stage_times() -> None:
    """Per-label cost of each stage on the default 75×120 label (Code128 + QR) at 203 dpi."""
    spec = LabelSpec()
    page = pymupdf.open(stream=label_pdf(spec))[0]
    rendered = render_label(page, generic_geometry(parse_media("75x120mm"), 203))
    rounds = 30
    truth_ms = _time(lambda: find_truth(page), rounds)
    truth = find_truth(page)
    verify_ms = _time(lambda: [verify(rendered.bitmap, t, rendered.transform) for t in truth], rounds)
    repair_ms = _time(lambda: [repair(rendered.bitmap, t, rendered.transform) for t in truth], rounds)
    total_ms = _time(lambda: check_page(page, rendered, PreflightConfig()), rounds)
    needed = [not faithful(module_dots(t, rendered.transform), verify(rendered.bitmap, t, rendered.transform))
              for t in truth]
    print(f"\nper label (75×120 mm, Code128 + QR, 203 dpi, median of {rounds}):")
    print(f"  truth decode (each barcode's region at up to {TRUTH_DPI} dpi + zxing-cpp): {truth_ms:.1f} ms")
    print(f"  verification, plain + gain + loss, {len(truth)} barcodes: {verify_ms:.1f} ms")
    print(f"  repair (redraw + placement) of all {len(truth)}, forced: {repair_ms:.1f} ms  (needed: {needed})")
    print(f"  check_page total: {total_ms:.1f} ms")


def _time(action: object, rounds: int) -> float:
    samples = []
    for _ in range(rounds):
        start = time.perf_counter()
        action()  # type: ignore[operator]
        samples.append((time.perf_counter() - start) * 1000)
    return statistics.median(samples)


if __name__ == "__main__":
    main()
