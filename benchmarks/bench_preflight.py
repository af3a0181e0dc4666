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
from labeld.labelmaker import LabelSpec, Symbol, label_pdf
from labeld.media import generic_geometry, parse_media
from labeld.preflight import check_page
from labeld.preflight.barcodes import TRUTH_DPI, find_truth, module_dots, verify
from labeld.preflight.repair import faithful, repair
from labeld.render.rasterize import render_label

MODULES_MM = (0.15, 0.2, 0.25, 0.3, 0.33, 0.4, 0.5)


def corpus() -> list[LabelSpec]:
    specs = []
    for mm in MODULES_MM:
        for size in ((58.0, 40.0), (75.0, 120.0)):
            symbols = [
                Symbol("code128", "12345678-0012-1", 3, 3, mm, 10),
                Symbol("qr", "https://ozon.example/t/TRK1", size[0] - 20, 3, mm),
                Symbol("datamatrix", "TRK000000001", size[0] - 14, 3, mm),
            ]
            if 95 * mm + 8 < size[0]:
                symbols.append(Symbol("ean13", "4006381333931", 4, 3, mm, 10))
            specs += [LabelSpec(size_mm=size, symbols=(symbol,)) for symbol in symbols]
    return specs


def main() -> None:
    plain_cfg = PreflightConfig(barcode_repair="off")
    auto_cfg = PreflightConfig()
    items = corpus()
    print(f"corpus: {len(items)} labels, one barcode each, modules {MODULES_MM} mm")
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
        n = len(items)
        cells = [f"{c}/{n} ({c / n:.0%})" for c in counts[:3]]
        print(f"| {dpi} | {' | '.join(cells)} | {counts[3]} | {statistics.median(times):.1f} |")
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
    print(f"  truth decode (render {TRUTH_DPI} dpi + zxing-cpp): {truth_ms:.1f} ms")
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
