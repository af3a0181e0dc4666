"""labeld's benchmark suite: ``python -m benchmarks.run [--quick] [--out FILE]`` (see BENCHMARKS.md).

Each ``bench_*`` module measures one thing and returns plain JSON-able dicts; ``run`` strings them
together, prints the tables and writes the JSON. Timings are medians of several rounds, because a
shared machine makes single runs noisy and the median is the honest middle of that noise.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable


def median_ms(action: Callable[[], object], rounds: int, per: int = 1) -> float:
    """Median wall time of ``action`` over ``rounds`` runs, in ms, divided by ``per`` (labels).

    One untimed run goes first: imports, caches and the first open of a file are start-up
    costs, not throughput."""
    action()
    samples = []
    for _ in range(rounds):
        start = time.perf_counter()
        action()
        samples.append((time.perf_counter() - start) * 1000 / per)
    return round(statistics.median(samples), 3)


def ratio(numerator: float, denominator: float) -> float | None:
    return round(numerator / denominator, 2) if denominator > 0 else None
