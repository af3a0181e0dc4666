"""Measurement 6: bytes on the wire per label, labeld against the peers, same pages.

The wire matters on Wi-Fi printers and USB 1.1-speed QLs: a label that takes longer to send
than to print stalls the head. Brother is compared with brother_ql's compressed raster; ZPL
with zebrafy's Z64 (the form labeld sends by default), its compressed ASCII and its
default plain hex.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from benchmarks.bench_convert import DEFAULTS, Case, brother_ql_convert, labeld_convert, zebrafy_convert
from benchmarks.corpus import Corpus


def per_label(data_bytes: int, pages: int) -> int:
    return round(data_bytes / pages)


def measure(case: Case, path: Path, pages: int, scratch: Path) -> dict[str, Any]:
    out = scratch / f"wire-{case.driver}-{case.size}-{case.kind}.bin"
    ours = per_label(labeld_convert(path, case, out, DEFAULTS), pages)
    row: dict[str, Any] = {"case": case.name, "driver": case.driver, "size": case.size, "kind": case.kind,
                           "labeld_bytes": ours}
    if case.driver == "brother_ql":
        row["brother_ql_bytes"] = per_label(len(brother_ql_convert(path)), pages)
    else:
        row["zebrafy_z64_bytes"] = per_label(len(zebrafy_convert(path, "Z64")), pages)
        row["zebrafy_ascii_compressed_bytes"] = per_label(len(zebrafy_convert(path, "ASCII_COMPRESSED")), pages)
        row["zebrafy_ascii_hex_bytes"] = per_label(len(zebrafy_convert(path, "ASCII")), pages)
    return row


def run(corpus: Corpus, scratch: Path, quick: bool) -> dict[str, Any]:
    pages = 1 if quick else 20
    sizes = ("58x40",) if quick else ("58x40", "75x120")
    kinds = ("vector",) if quick else ("vector", "raster")
    cases = [Case(d, s, k) for d in ("brother_ql", "zpl") for s in sizes for k in kinds]
    return {"pages": pages, "cases": [measure(c, corpus.file(c.size, c.kind, pages).path, pages, scratch)
                                      for c in cases]}
