"""Measurement 4: a 100-label batch through an emulator that prints at a real speed.

The emulator (``labeld-emulator``, a separate process) takes as long per label as the label's
length at ``--speed`` mm/s and logs each label when its head starts on it. The pure print time
is the physical limit: the sum of the label lengths over the speed. The batch time runs from
the file landing in the hot folder to the end of the last label. Their gap is labeld's
overhead: the time to the first label, plus any moment the head stood still waiting for data.
The batch goes to a daemon that has already printed one label since it started; that first
label's time (imports, the render worker's start, the printer's first status probe) is reported
on its own as the cold start.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks import ratio
from benchmarks.bench_latency import SETTLED, bench_daemon, land, stop_daemon
from benchmarks.corpus import Corpus

MM_PER_INCH = 25.4


@dataclass(frozen=True)
class BatchCase:
    driver: str
    media: str
    dpi: int
    speed_mm_s: float  # QL-820NWB 176 mm/s (Brother); ZD420 6 in/s = 152 mm/s
    size: str
    model: str = ""
    pipeline: bool = False  # [[printer]] pipeline: the next label goes out while the last prints

    def printer(self, uri: str) -> dict[str, Any]:
        printer: dict[str, Any] = {"name": "bench", "driver": self.driver, "uri": uri, "media": self.media,
                                   "dpi": self.dpi, "default": True, "pipeline": self.pipeline}
        if self.model:
            printer["model"] = self.model
        return printer

    def emulator_args(self) -> list[str]:
        args = [self.driver, "--media", self.media, "--dpi", str(self.dpi)]
        return args + (["--model", self.model] if self.model else [])


CASES = (BatchCase("zpl", "75x120mm", 203, 152.0, "75x120"),
         BatchCase("zpl", "75x120mm", 203, 152.0, "75x120", pipeline=True),
         BatchCase("brother_ql", "62", 300, 176.0, "58x40", model="QL-820NWB"))


class EmulatorProcess:
    """``labeld-emulator`` on a free port; its events.jsonl is the printer's own record."""

    def __init__(self, case: BatchCase, out: Path, speed: float) -> None:
        self.out = out
        command = [sys.executable, "-m", "labeld.testing.emulator_cli", *case.emulator_args(),
                   "--speed", str(speed), "--listen", "127.0.0.1:0", "--out", str(out)]
        self.process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        assert self.process.stdout is not None
        self.uri: str = json.loads(self.process.stdout.readline())["tcp"]

    def printed(self) -> list[dict[str, Any]]:
        lines = (self.out / "events.jsonl").read_text(encoding="utf-8").splitlines()
        return [e for e in map(json.loads, lines) if e["event"] == "printed"]

    def wait_printed(self, count: int, timeout: float) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while len(events := self.printed()) < count:
            if time.monotonic() > deadline:
                raise TimeoutError(f"the emulator printed {len(events)} of {count} labels in {timeout} s")
            time.sleep(0.1)
        return events

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(10)


def analyse(events: list[dict[str, Any]], landed_wall: float, dpi: int, speed: float) -> dict[str, Any]:
    """Batch time, pure print time and where the difference went, from the printer's own log."""
    seconds = [e["rows"] * MM_PER_INCH / dpi / speed for e in events]
    pure = sum(seconds)
    end = events[-1]["t"] + seconds[-1]
    batch = end - landed_wall
    gaps = [events[i]["t"] - (events[i - 1]["t"] + seconds[i - 1]) for i in range(1, len(events))]
    return {"labels": len(events), "pure_print_s": round(pure, 3), "batch_s": round(batch, 3),
            "overhead_s": round(batch - pure, 3), "overhead_pct": round((batch / pure - 1) * 100, 2),
            "to_first_label_s": round(events[0]["t"] - landed_wall, 3),
            "head_idle_between_labels_s": round(sum(g for g in gaps if g > 0), 3),
            "largest_gap_ms": round(max(gaps, default=0.0) * 1000, 1), "batch_over_pure": ratio(batch, pure)}


def measure(case: BatchCase, corpus: Corpus, scratch: Path, labels: int, speed: float) -> dict[str, Any]:
    """One label right after the daemon started (cold: the render worker's imports, the printer's
    first status probe), then the batch into the running daemon, as a packing station's morning
    batch meets a daemon that has been up for a while. The batch's figures are the batch's alone."""
    root = scratch / f"batch-{case.driver}" / ("pipeline" if case.pipeline else "one-at-a-time")
    emulator = EmulatorProcess(case, root / "emulator", speed)
    wall_offset = time.time() - time.monotonic()
    try:
        daemon = bench_daemon(root / "daemon", case.printer(emulator.uri)).start()
        try:
            landed = land(daemon.inbox, corpus.fresh(case.size, "vector", 1).path) + wall_offset
            cold = emulator.wait_printed(1, timeout=120)[0]["t"] - landed
            daemon.wait_states(1, SETTLED, timeout=60)
            source = corpus.fresh(case.size, "vector", labels)
            landed = land(daemon.inbox, source.path) + wall_offset
            events = emulator.wait_printed(1 + labels, timeout=120 + labels * 4)[1:]
            daemon.wait_states(1 + labels, SETTLED, timeout=60)
        finally:
            stopped = stop_daemon(daemon)
        result = analyse(events, landed, case.dpi, speed)
    finally:
        emulator.stop()
    return {"driver": case.driver, "media": case.media, "dpi": case.dpi, "speed_mm_s": speed,
            "label": f"{case.size} vector" + (", pipeline" if case.pipeline else ""),
            "cold_first_label_s": round(cold, 3), **result, **stopped}


def run(corpus: Corpus, scratch: Path, quick: bool) -> dict[str, Any]:
    rows = [measure(case, corpus, scratch, 3 if quick else 100, 1000.0 if quick else case.speed_mm_s)
            for case in CASES]
    return {"cases": rows}
