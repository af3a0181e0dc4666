"""Settling ``uncertain`` labels by the page counter: each rule of labeld.daemon.settle, in process.

A real spool, a real QL emulator on TCP with its SNMP agent, the real driver reading the MIB:
only the crash is staged (a job moved to ``printing`` with the counter recorded, then
``Spool.recover`` as at start-up).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import structlog

from labeld.bitmap import to_png
from labeld.config import PrinterConfig
from labeld.daemon.printer_worker import PrinterCondition, PrinterWorker
from labeld.daemon.settle import CounterSettlement, sending_reason
from labeld.drivers.brother_ql import BrotherQLDriver
from labeld.labelmaker import LabelSpec
from labeld.reasons import Reason
from labeld.spool.spool import NewDocument, NewLabel, Spool
from labeld.spool.states import JobState
from labeld.spool.store import DocumentStore
from labeld.testing.brother_emulator import BrotherQLCore
from labeld.testing.emulator_base import Emulator, Fault, TcpServer
from labeld.testing.snmp_agent import SnmpAgent
from tests.conftest import decode, render

log = structlog.get_logger("test")


@dataclass
class Rig:
    emulator: Emulator
    tcp: TcpServer
    agent: SnmpAgent
    driver: BrotherQLDriver
    spool: Spool
    store: DocumentStore


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[Rig]:
    """A QL-820NWB (62×29) on TCP with SNMP, its driver, and an empty spool."""
    emulator = Emulator(BrotherQLCore(media="62x29"), tmp_path / "out", speed_mm_s=5000.0)
    tcp = TcpServer(emulator)
    agent = SnmpAgent(emulator, counter_start=700)
    printer = PrinterConfig(name="ql", driver="brother_ql", uri=tcp.uri, media="62x29", status="snmp",
                            snmp=agent.address, probe_interval=0.01)
    spool = Spool(tmp_path / "spool.db")
    yield Rig(emulator, tcp, agent, BrotherQLDriver(printer), spool, DocumentStore(tmp_path / "store"))
    spool.close()
    agent.stop()
    tcp.stop()
    emulator.close()


def crashed_while_sending(rig: Rig, copies: int = 1, serial_from: SnmpAgent | None = None) -> int:
    """A job that was marked ``printing`` with the printer's counter, then found at start-up."""
    now = time.time()
    [job_id] = rig.spool.add_document(NewDocument(f"{now:f}", "batch.pdf", "test", 100, 1),
                                      [NewLabel(0, "ql", now, now + 3600, copies=copies)], "test")
    rig.spool.transition(job_id, JobState.READY, Reason("job.ready_raw", printer="ql"))
    status = rig.driver.probe()
    rig.spool.transition(job_id, JobState.PRINTING, sending_reason("ql", status, copies))
    rig.spool.recover()
    return job_id


def print_directly(rig: Rig, count: int) -> None:
    """Labels that come out meanwhile (the crashed send, or another sender)."""
    bitmap = render(LabelSpec(size_mm=(58.0, 22.5)), rig.driver.geometry)
    expected = len(rig.emulator.labels) + count
    device = rig.driver.connect()
    device.open()
    device.write(rig.driver.encode(bitmap, count))
    device.close()
    assert rig.emulator.wait_labels(expected, timeout=10)


def settle(rig: Rig, settlement: CounterSettlement, steps: int = 10) -> bool:
    return any(settlement.step(rig.driver.probe()) for _ in range(steps))


def codes(rig: Rig, job_id: int) -> list[str]:
    return [event.reason.code for event in rig.spool.history(job_id)]


def test_counter_unchanged_sends_it_again(rig: Rig) -> None:
    """The counter still reads what it read before the send: the label did not print → ready."""
    job = crashed_while_sending(rig)
    assert rig.spool.job(job).state == JobState.UNCERTAIN  # type: ignore[union-attr]
    settlement = CounterSettlement(rig.spool, "ql", log)
    assert not settlement.step(rig.driver.probe())  # one read is not enough: it must stand still
    assert settle(rig, settlement)
    settled = rig.spool.job(job)
    assert settled is not None and settled.state == JobState.READY and not settled.confirmed
    assert settled.reason.code == "job.uncertain_not_printed" and settled.reason.params["counter"] == 700


def test_counter_up_by_the_labels_sent_means_printed(rig: Rig) -> None:
    """Two copies were being sent and the counter went up by two: printed, confirmed."""
    job = crashed_while_sending(rig, copies=2)
    print_directly(rig, 2)
    assert settle(rig, CounterSettlement(rig.spool, "ql", log))
    settled = rig.spool.job(job)
    assert settled is not None and settled.state == JobState.PRINTED and settled.confirmed
    assert dict(settled.reason.params) == {"before": 700, "after": 702, "labels": 2}


def test_counter_up_by_another_amount_keeps_it_uncertain_with_a_note(rig: Rig) -> None:
    """One label in doubt, the counter moved by three (someone else printed): it stays uncertain, and
    a second start does not look at it again."""
    job = crashed_while_sending(rig)
    print_directly(rig, 3)
    assert settle(rig, CounterSettlement(rig.spool, "ql", log))
    kept = rig.spool.job(job)
    assert kept is not None and kept.state == JobState.UNCERTAIN
    note = rig.spool.history(job)[-1].reason
    assert note.code == "job.uncertain_kept" and "went from 700 to 703, but this job was 1 label" in note.text()
    assert CounterSettlement(rig.spool, "ql", log).candidates == []


def test_another_printer_at_the_address_keeps_it_uncertain(rig: Rig, tmp_path: Path) -> None:
    """The serial number now answering is not the one recorded: nothing is concluded."""
    job = crashed_while_sending(rig)
    rig.agent.stop()
    other = SnmpAgent(rig.emulator, port=rig.agent.port, serial="OTHER0001", counter_start=700)
    try:
        assert settle(rig, CounterSettlement(rig.spool, "ql", log))
    finally:
        other.stop()
    assert codes(rig, job)[-1] == "job.uncertain_kept"
    assert "serial OTHER0001, not E78123456" in rig.spool.history(job)[-1].reason.text()


def test_a_printer_in_a_fault_is_waited_for(rig: Rig) -> None:
    """Out of paper at start-up: a label held in the printer may still come out, so nothing is
    decided until the fault clears; then the counter says it printed."""
    job = crashed_while_sending(rig)
    rig.emulator._pending.append(Fault("paper-out", 0))
    print_directly(rig, 1)  # the label that was in flight; paper runs out right after it
    assert rig.emulator.error == "paper-out"
    settlement = CounterSettlement(rig.spool, "ql", log)
    assert not any(settlement.step(rig.driver.probe()) for _ in range(4))
    assert codes(rig, job)[-1] == "job.uncertain_after_stop"
    rig.emulator.clear_fault()
    assert settle(rig, settlement)
    assert rig.spool.job(job).state == JobState.PRINTED  # type: ignore[union-attr]


def test_silent_snmp_and_several_labels_are_noted_not_guessed(rig: Rig) -> None:
    """Two labels in doubt on one printer, and separately a printer whose SNMP went silent: both
    are kept uncertain with the reason in their history."""
    first, second = crashed_while_sending(rig), crashed_while_sending(rig)
    assert settle(rig, CounterSettlement(rig.spool, "ql", log))
    assert all("2 labels were caught mid-send" in rig.spool.history(j)[-1].reason.text() for j in (first, second))
    third = crashed_while_sending(rig)
    rig.agent.stop()
    assert CounterSettlement(rig.spool, "ql", log).step(rig.driver.probe())
    assert "could not be read" in rig.spool.history(third)[-1].reason.text()


def test_worker_settles_before_it_prints_anything_else(rig: Rig) -> None:
    """A real PrinterWorker: the crashed label (not printed) is settled first and goes out before the
    next one, each exactly once, both confirmed by the counter."""
    first = crashed_while_sending(rig)
    now = time.time()
    [second] = rig.spool.add_document(NewDocument("next", "next.pdf", "test", 100, 1),
                                      [NewLabel(0, "ql", now, now + 3600)], "test")
    rig.spool.transition(second, JobState.READY, Reason("job.ready_raw", printer="ql"))
    bitmaps = {}
    for n, job in enumerate((first, second)):
        bitmaps[job] = render(LabelSpec(size_mm=(58.0, 22.5), posting=f"1234567{n}-0001-1"), rig.driver.geometry)
        rig.store.put_bitmap(job, to_png(bitmaps[job]))
    worker = PrinterWorker(rig.driver.printer, rig.driver, rig.spool, rig.store)
    for _ in range(20):
        if rig.spool.counts()[JobState.PRINTED] == 2:
            break
        worker.step()
    assert [rig.spool.job(j).state for j in (first, second)] == [JobState.PRINTED] * 2  # type: ignore[union-attr]
    assert all(rig.spool.job(j).confirmed for j in (first, second))  # type: ignore[union-attr]
    assert [np.array_equal(printed, bitmaps[j]) for printed, j in zip(rig.emulator.labels, (first, second),
                                                                        strict=True)] == [True, True]
    assert decode(rig.emulator.labels[0]) == decode(bitmaps[first])
    assert worker.state.state == PrinterCondition.PRINTING
