"""The crash harness: a real labeld, a printer emulator, and SIGKILL at chosen moments.

Why it exists: labeld promises that an accepted label is never lost and never printed twice
without saying so (``uncertain``). Only killing the real daemon, over and over, while it takes
files, renders and sends, shows that the promise holds at every step and not only at the ones
someone thought of.

A run is a sequence of rounds, each planned by one seeded :class:`random.Random`: drop some
label files (some while labeld is down, some while it runs), start labeld, wait for the
round's moment (``intake``: files arriving; ``render``: a job ``queued``; ``send``: a job
``printing``; ``any``: a random delay), then SIGKILL it. Some rounds instead arm a failpoint
(``LABELD_FAILPOINT``), so that the exact steps "accepted but not yet archived" and "marked
printing but no byte sent" are hit every run. After the last kill labeld runs clean until the
spool is drained, and :meth:`CrashReport.problems` lists every broken invariant.

The plan is reproducible from the seed; the instant a kill lands inside the daemon is not (the
OS schedules), which is the point: each seed explores a slightly different neighbourhood.

Use it from a test (``CrashHarness(tmp_path, seed=7).run()``) or for a soak::

    python -m labeld.testing.crash --seed 7 --kills 200 --out /tmp/crash
"""

from __future__ import annotations

import argparse
import random
import sqlite3
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import zxingcpp

from labeld.bitmap import Bitmap
from labeld.labelmaker import batch_pdf
from labeld.testing.daemon import DaemonProcess
from labeld.testing.emulator_base import Emulator, TcpServer

PHASES = ("intake", "render", "send", "any")
FAILPOINTS = ("after-accept", "before-send")
#: States a job may end in when every input was a good label and no operator acted.
FINAL_OK = frozenset({"printed", "uncertain"})
PENDING = ("queued", "ready", "printing")
CODE128 = zxingcpp.BarcodeFormats(zxingcpp.BarcodeFormat.Code128)


@dataclass(frozen=True)
class Drop:
    """One file put into the inbox and the posting number on each of its pages."""

    name: str
    postings: tuple[str, ...]


@dataclass(frozen=True)
class Kill:
    round: int
    how: str  # "sigkill" or "failpoint:<name>"
    phase: str
    delay: float
    printing_at_kill: int
    integrity: str


@dataclass
class CrashReport:
    seed: int
    drops: list[Drop]
    kills: list[Kill]
    jobs: list[dict[str, Any]]
    printed: Counter[str]
    undecodable: int
    leftovers: dict[str, list[str]]
    documents: Counter[str]
    integrity: str
    seconds: float
    #: How many labels may be ``printing`` on the printer at once: 2 where batches are pipelined
    #: (``pipeline = true`` on a ZPL printer: one printing, one queued behind it), else 1.
    in_flight: int = 1
    problems: list[str] = field(default_factory=list)

    @property
    def uncertain(self) -> list[dict[str, Any]]:
        return [j for j in self.jobs if j["state"] == "uncertain"]

    def summary(self) -> str:
        phases = Counter(k.phase if k.how == "sigkill" else k.how for k in self.kills)
        labels = sum(len(d.postings) for d in self.drops)
        return (f"seed {self.seed}: {len(self.kills)} kills {dict(phases)}, {len(self.drops)} files, {labels} labels, "
                f"{sum(self.printed.values())} printed, {len(self.uncertain)} uncertain, {self.seconds:.1f} s")


class CrashHarness:
    """Runs labeld against an emulator on TCP and kills it ``kills`` times (plus failpoints)."""

    def __init__(self, root: Path, *, seed: int, kills: int = 20, first_batch: int = 12,
                 language: str = "zpl", speed_mm_s: float = 600.0, use_failpoints: bool = True) -> None:
        self.root = root
        self.seed = seed
        self.rng = random.Random(seed)
        self.kills_wanted = kills
        self.first_batch = first_batch
        self.use_failpoints = use_failpoints
        self.label_size = (75.0, 120.0) if language == "zpl" else (58.0, 40.0)
        self.in_flight = 1  # the harness's printer is not pipelined (2 with [[printer]] pipeline = true)
        self.emulator = make_tcp_emulator(language, root / "printer", speed_mm_s)
        self.server = TcpServer(self.emulator)
        self.daemon = DaemonProcess(root / "labeld", printers=[printer_table(language, self.server.uri)])
        self.drops: list[Drop] = []
        self.kills: list[Kill] = []
        self._next_posting = 10_000_000 + seed % 1000 * 10_000

    # ----- the run ------------------------------------------------------------------------

    def run(self) -> CrashReport:
        started = time.monotonic()
        try:
            self.drop(self.first_batch)
            plan = [("sigkill", "")] * self.kills_wanted
            if self.use_failpoints:
                plan += [("failpoint", name) for name in FAILPOINTS]
            self.rng.shuffle(plan)
            for number, (how, failpoint) in enumerate(plan):
                if how == "failpoint":
                    self._failpoint_round(number, failpoint)
                else:
                    self._kill_round(number)
            self._drain()
        finally:
            self.daemon.kill()
            self.server.stop()
            self.emulator.close()
        return self._report(time.monotonic() - started)

    def drop(self, pages: int) -> Drop:
        """A new file of ``pages`` labels, each for a posting never used before in this run."""
        first = self._next_posting
        self._next_posting += pages
        data = batch_pdf(pages, first_posting=first, size_mm=self.label_size)
        drop = Drop(f"r{len(self.drops):03d}-{pages}p.pdf", tuple(f"{first + i:08d}-0001-1" for i in range(pages)))
        self.drops.append(drop)
        self.daemon.drop(drop.name, data)
        return drop

    def _drop_some(self) -> None:
        for _ in range(self.rng.randint(0, 2)):
            self.drop(self.rng.randint(1, 3))

    def _kill_round(self, number: int) -> None:
        phase = self.rng.choice(PHASES)
        delay = self.rng.uniform(0.0, 0.3)
        self._drop_some()
        if not self._start():
            self._record(number, "sigkill", phase, 0.0)
            return
        if phase == "intake":
            self._drop_some()
            self.drop(self.rng.randint(1, 4))
            delay = delay / 3
        elif phase == "render":
            self._wait_until(lambda: self._count("queued") > 0, 3.0)
            delay = delay / 6
        elif phase == "send":
            self._wait_until(lambda: self._count("printing") > 0, 5.0)
        else:
            delay = self.rng.uniform(0.0, 1.5)
        time.sleep(delay)
        self.daemon.kill()
        self._record(number, "sigkill", phase, delay)

    def _failpoint_round(self, number: int, name: str) -> None:
        self.daemon.env["LABELD_FAILPOINT"] = name
        try:
            if self._start():
                if name == "after-accept" or self._count("ready") + self._count("queued") == 0:
                    self.drop(self.rng.randint(1, 3))
                self._wait_until(lambda: self.daemon.process is None or self.daemon.process.poll() is not None, 20.0)
            self.daemon.kill()
            exit_code = self.daemon.process.returncode if self.daemon.process else None
            self._record(number, f"failpoint:{name}" + ("" if exit_code == -9 else f"(exit {exit_code})"), name, 0.0)
        finally:
            self.daemon.env.pop("LABELD_FAILPOINT", None)

    def _drain(self) -> None:
        """Run clean until every file is taken and every job has left the pending states."""
        self._start()
        expected = len(self.drops)
        self.daemon.wait_for(
            lambda: self._documents() >= expected and all(self._count(s) == 0 for s in PENDING)
            and not self._inbox_left(), timeout=60 + 3 * sum(len(d.postings) for d in self.drops),
            what="the spool to drain")
        self.daemon.stop()

    # ----- helpers ------------------------------------------------------------------------

    def _start(self) -> bool:
        """Start labeld; False when it died during start-up (a failpoint hit while recovering)."""
        try:
            self.daemon.start()
        except RuntimeError:
            if self.daemon.process is not None and self.daemon.process.poll() is not None:
                self.daemon.kill()
                return False
            raise
        return True

    def _record(self, number: int, how: str, phase: str, delay: float) -> None:
        printing = self._count("printing")
        self.kills.append(Kill(number, how, phase, round(delay, 3), printing, self._integrity()))

    def _wait_until(self, predicate: Callable[[], bool], timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while not predicate() and time.monotonic() < deadline:
            time.sleep(0.01)

    def _count(self, state: str) -> int:
        try:
            return int(self.daemon.query("SELECT COUNT(*) FROM jobs WHERE state = ?", (state,))[0][0])
        except sqlite3.Error:
            return 0

    def _documents(self) -> int:
        try:
            return int(self.daemon.query("SELECT COUNT(*) FROM documents")[0][0])
        except sqlite3.Error:
            return 0

    def _integrity(self) -> str:
        path = self.daemon.state_dir / "spool.db"
        if not path.exists():
            return "ok"
        db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10)
        try:
            return str(db.execute("PRAGMA integrity_check").fetchone()[0])
        finally:
            db.close()

    def _inbox_left(self) -> list[str]:
        inbox = self.daemon.inbox
        left = [p.name for p in inbox.glob("*.pdf")]
        claimed = inbox / ".labeld" / "claimed"
        left += [p.name for p in claimed.iterdir()] if claimed.exists() else []
        return left

    # ----- the verdict --------------------------------------------------------------------

    def _report(self, seconds: float) -> CrashReport:
        printed, undecodable = count_postings(self.emulator.labels)
        archived = [p.name for p in self.daemon.archive.rglob("*.pdf")]
        rows = self.daemon.query("SELECT name FROM documents")
        report = CrashReport(
            seed=self.seed, drops=self.drops, kills=self.kills, jobs=self.daemon.jobs(), printed=printed,
            undecodable=undecodable, leftovers={"inbox": self._inbox_left(), "archive": archived},
            documents=Counter(r[0] for r in rows), integrity=self._integrity(), seconds=seconds,
            in_flight=self.in_flight,
        )
        report.problems = check_invariants(report)
        return report


def check_invariants(report: CrashReport) -> list[str]:
    """Every broken promise as a sentence; empty when the run kept all of them."""
    problems: list[str] = []
    where = {(d.name, page): posting for d in report.drops for page, posting in enumerate(d.postings)}
    expected = Counter(where.values())
    by_label: dict[str, list[dict[str, Any]]] = {}
    for job in report.jobs:
        posting = where.get((job["document"], job["page"]))
        if posting is None:
            problems.append(f"job {job['id']} belongs to no dropped label ({job['document']} page {job['page']})")
            continue
        by_label.setdefault(posting, []).append(job)
    for posting in expected:
        jobs = by_label.get(posting, [])
        count = report.printed.get(posting, 0)
        if len(jobs) != 1:
            problems.append(f"label {posting} has {len(jobs)} jobs, expected exactly 1 (missing or accepted twice)")
            continue
        state = jobs[0]["state"]
        if state not in FINAL_OK:
            problems.append(f"label {posting} ended {state}: {jobs[0]['reason']}")
        elif state == "printed" and count != 1:
            problems.append(f"label {posting} is printed but came out {count} times")
        elif state == "uncertain" and count > 1:
            problems.append(f"label {posting} is uncertain but came out {count} times")
    for posting in set(report.printed) - set(expected):
        problems.append(f"the printer printed {posting}, which nobody dropped")
    if report.undecodable:
        problems.append(f"{report.undecodable} printed label(s) carry no readable posting barcode")
    problems += _check_files(report)
    for kill in report.kills:
        if kill.printing_at_kill > report.in_flight:
            problems.append(f"kill {kill.round}: {kill.printing_at_kill} jobs were printing on one printer "
                            f"(at most {report.in_flight})")
        if kill.integrity != "ok":
            problems.append(f"kill {kill.round}: integrity_check says {kill.integrity}")
    if len(report.uncertain) > sum(kill.printing_at_kill for kill in report.kills):
        problems.append(f"{len(report.uncertain)} uncertain jobs after {len(report.kills)} kills, more than were "
                        "printing when they struck")
    if report.integrity != "ok":
        problems.append(f"PRAGMA integrity_check: {report.integrity}")
    return problems


def _check_files(report: CrashReport) -> list[str]:
    problems = []
    archived = Counter(report.leftovers["archive"])
    for drop in report.drops:
        if report.documents[drop.name] != 1:
            problems.append(f"{drop.name} became {report.documents[drop.name]} documents, expected 1")
        if archived[drop.name] != 1:
            problems.append(f"{drop.name} is in the archive {archived[drop.name]} times")
    known = {d.name for d in report.drops}
    problems += [f"{name} was archived under a second name" for name in archived if name not in known]
    problems += [f"{name} was left in the inbox" for name in report.leftovers["inbox"]]
    return problems


def count_postings(labels: list[Bitmap]) -> tuple[Counter[str], int]:
    """How often each posting number came out of the printer, read back from its Code128 with zxing-cpp."""
    printed: Counter[str] = Counter()
    unreadable = 0
    for bitmap in labels:
        gray = np.where(bitmap, 0, 255).astype(np.uint8)
        codes = [b.text for b in zxingcpp.read_barcodes(gray, formats=CODE128)]
        if codes:
            printed[codes[0]] += 1
        else:
            unreadable += 1
    return printed, unreadable


def make_tcp_emulator(language: str, out: Path, speed_mm_s: float) -> Emulator:
    if language == "zpl":
        from labeld.testing.zpl_emulator import ZplCore

        return Emulator(ZplCore(dpi=203), out, speed_mm_s=speed_mm_s, name="zpl")
    from labeld.testing.brother_emulator import BrotherQLCore

    return Emulator(BrotherQLCore(media="62"), out, speed_mm_s=speed_mm_s, name="ql")


def printer_table(language: str, uri: str) -> dict[str, Any]:
    """The ``[[printer]]`` table for an emulator of ``language`` at ``uri``."""
    if language == "zpl":
        return {"name": "zebra", "driver": "zpl", "uri": uri, "media": "75x120mm", "dpi": 203, "default": True}
    return {"name": "ql", "driver": "brother_ql", "uri": uri, "model": "QL-820NWB", "media": "62", "default": True}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m labeld.testing.crash", description=__doc__.split("\n")[0])
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--kills", type=int, default=20)
    parser.add_argument("--batch", type=int, default=12, help="pages of the first multi-page file")
    parser.add_argument("--language", choices=("zpl", "brother_ql"), default="zpl")
    parser.add_argument("--out", type=Path, required=True, help="scratch folder (must not exist)")
    args = parser.parse_args(argv)
    report = CrashHarness(args.out, seed=args.seed, kills=args.kills, first_batch=args.batch,
                          language=args.language).run()
    print(report.summary())
    for problem in report.problems:
        print("PROBLEM:", problem)
    return 1 if report.problems else 0


if __name__ == "__main__":
    sys.exit(main())
