"""Shared pieces of the reliability suite (tests/test_reliability_*.py).

``LABELD_SOAK=1`` turns the release-check soak on: more kills, more labels, more files. The
default sizes keep the whole suite under three minutes on two cores.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable

from labeld.testing.emulator_base import Emulator, Fault

SOAK = os.environ.get("LABELD_SOAK", "") not in ("", "0")


def sized(ci: int, soak: int) -> int:
    """``soak`` under LABELD_SOAK=1, else ``ci``."""
    return soak if SOAK else ci


def inject_fault(emulator: Emulator, kind: str, after_more: int = 0) -> None:
    """Arm a fault ``after_more`` labels from now, while the emulator runs.

    The emulator takes its faults at construction; a test that drives faults over time adds
    them to the same pending list under the emulator's lock (see the report: a public
    ``Emulator.add_fault`` would make this unnecessary).
    """
    with emulator._lock:
        emulator._pending.append(Fault(kind, len(emulator.labels) + after_more))
        emulator._apply_due_faults()


def wait_until(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.02)
