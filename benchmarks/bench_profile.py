"""Where the convert time goes: cProfile of ``convert_document`` on one 20-page document.

The functions with the most own time (``tottime``) are what a faster labeld would attack
first; they are reported for pre-flight off and on, ZPL and Brother, so that the table in
BENCHMARKS.md can say what the remaining time is spent on.
"""

from __future__ import annotations

import cProfile
import pstats
from pathlib import Path
from typing import Any

from benchmarks.bench_convert import DEFAULTS, NO_VERIFY, Case, labeld_convert
from benchmarks.corpus import Corpus

TOP = 12


def profile(case: Case, path: Path, out: Path, verify: bool) -> dict[str, Any]:
    preflight = DEFAULTS if verify else NO_VERIFY
    labeld_convert(path, case, out, preflight)
    profiler = cProfile.Profile()
    profiler.enable()
    labeld_convert(path, case, out, preflight)
    profiler.disable()
    stats = pstats.Stats(profiler)
    total = stats.total_tt  # type: ignore[attr-defined]  # pstats keeps it as an attribute
    rows = sorted(stats.stats.items(), key=lambda item: item[1][2], reverse=True)[:TOP]  # type: ignore[attr-defined]
    return {"case": case.name, "verify": verify, "total_ms": round(total * 1000, 1), "top_own_time": [
        {"function": _name(key), "calls": value[1], "own_ms": round(value[2] * 1000, 1),
         "share": round(value[2] / total, 3)} for key, value in rows]}


def _name(key: tuple[str, int, str]) -> str:
    filename, line, function = key
    if filename == "~":
        return function
    short = filename.split("site-packages/")[-1].split("/labeld/")[-1]
    return f"{short}:{line}({function})"


def run(corpus: Corpus, scratch: Path, quick: bool) -> dict[str, Any]:
    pages = 1 if quick else 20
    cases = (Case("brother_ql", "58x40", "vector"), Case("zpl", "75x120", "vector"), Case("zpl", "75x120", "rich", 300))
    out = scratch / "profile.bin"
    return {"pages": pages, "profiles": [profile(c, corpus.file(c.size, c.kind, pages).path, out, v)
                                         for c in cases for v in (False, True)]}
