"""Measurement 9: what the render sandbox costs per call, against a fresh process per call.

Every page labeld renders goes through ``labeld.render.sandbox.RenderSandbox``: one long-lived
worker process with a time and a memory limit. A call costs a pickle round trip over a pipe; the
alternative it replaced, a new process per page, costs a fork and the imports. Both are timed on a
trivial function, so what is measured is the sandbox alone (``tests/test_sandbox.py`` checks that
the worker is reused, by counting workers, and leaves the time to this file).
"""

from __future__ import annotations

import operator
import statistics
import time
from pathlib import Path
from typing import Any

from benchmarks import median_ms
from benchmarks.corpus import Corpus
from labeld.render.sandbox import RenderSandbox


def run(corpus: Corpus, scratch: Path, quick: bool) -> dict[str, Any]:
    del corpus, scratch
    calls, fresh_rounds = (20, 2) if quick else (2000, 10)
    with RenderSandbox(timeout=60.0, memory_limit=None) as box:
        per_call_ms = median_ms(lambda: [box.run(operator.add, 2, 3) for _ in range(calls)], rounds=5, per=calls)
        workers = box.workers_started
    fresh: list[float] = []
    for _ in range(fresh_rounds):
        started = time.perf_counter()
        with RenderSandbox(timeout=60.0, memory_limit=None) as box:
            box.run(operator.add, 2, 3)
        fresh.append((time.perf_counter() - started) * 1000)
    fresh_ms = statistics.median(fresh)
    return {"calls": calls, "per_call_us": round(per_call_ms * 1000, 1), "workers_started": workers,
            "fresh_worker_ms": round(fresh_ms, 1), "fresh_over_reused": round(fresh_ms / per_call_ms, 0)}
