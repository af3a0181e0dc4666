"""The packing station's views of the engine, in process: alarms (a stopped printer, a printed label
voided by a newer one, a rejected file) until a person acknowledges them, and labels found and
reprinted by what a scanner reads."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from labeld.config import PreflightConfig
from labeld.daemon.operations import Actor, BadRequest, NotFound, OperationError, ReprintRequest
from labeld.daemon.station import Station
from labeld.errors import RejectedInput
from labeld.spool.states import JobState
from labeld.testing.engine import Engine, FakeClock, SimulatedCrash, memory_printer
from tests.conftest import cached_label

S = JobState
POSTING = "12345678-0012-1"
LEAD = Actor(None, "shift lead")


@pytest.fixture
def station(memory_dir: Path) -> Iterator[tuple[Engine, Station]]:
    """The engine on a clock that starts now (the station counts "today" and "24 h" by the wall clock)."""
    preflight = PreflightConfig(verify_barcodes=False, barcode_repair="off")
    with Engine(memory_dir, [memory_printer(default=True)], preflight=preflight,
                clock=FakeClock(time.time())) as engine:
        yield engine, Station(engine.operations)


def label(tracking: str) -> bytes:
    return cached_label(posting=POSTING, tracking=tracking)


def kinds(station: Station) -> list[str]:
    return [alarm["kind"] for alarm in station.alarms()]


def test_a_stopped_printer_is_an_alarm_but_a_paused_one_is_not(station: tuple[Engine, Station]) -> None:
    """Out of paper needs a person; paused by an operator does not."""
    engine, desk = station
    engine.submit(label("TRK000000001"))
    engine.printer().jam("media-empty", "out of labels")
    engine.run()
    [alarm] = desk.alarms()
    assert (alarm["id"], alarm["reasons"], alarm["reason_code"]) == ("printer:memory", ["media-empty"],
                                                                      "printer.stopped")
    engine.printer().fix()
    engine.operations.pause("memory")
    engine.run()
    assert kinds(desk) == []


def test_a_printed_label_voided_by_a_newer_one_is_an_alarm_until_acknowledged(
        station: tuple[Engine, Station]) -> None:
    """The parcel carries a label that is no longer valid: a relabel alarm, acknowledged once, by name."""
    engine, desk = station
    [old] = engine.submit(label("TRK000000001"), issued_at=engine.time.time() - 60)
    engine.run()
    [new] = engine.submit(label("TRK000000002"))
    engine.run()
    [alarm] = desk.alarms()
    assert (alarm["kind"], alarm["job"], alarm["posting_number"]) == ("relabel", old, POSTING)
    assert engine.job(old).needs_ack and not engine.job(new).needs_ack
    acknowledged = desk.ack_job(old, LEAD)
    assert not acknowledged.needs_ack and kinds(desk) == []
    assert engine.reasons(old)[-1].params["by"] == "shift lead"
    with pytest.raises(OperationError) as again:
        desk.ack_job(old, LEAD)
    assert again.value.code == "nothing_to_ack"


def test_files_refused_whole_are_counted_and_listed(station: tuple[Engine, Station]) -> None:
    """An upload that is not a label is on record and counted today; its sender was told, so no alarm."""
    engine, desk = station
    with pytest.raises(RejectedInput):
        engine.operations.upload(b"hello", {"name": "notes.pdf"})
    [record] = desk.rejected(today=True)
    assert (record.name, desk.rejected_today(), kinds(desk)) == ("notes.pdf", 1, [])
    with pytest.raises(NotFound):
        desk.ack_rejected(999, LEAD)
    with pytest.raises(BadRequest):
        desk.rejected(limit=0)


def test_a_scanned_older_label_reprints_the_posting_s_newest(station: tuple[Engine, Station]) -> None:
    """Scanning the tracking number of a superseded label prints the newest label and says so."""
    engine, desk = station
    [old] = engine.submit(label("TRK000000001"), issued_at=engine.time.time() - 60)
    engine.run()
    [new] = engine.submit(label("TRK000000002"))
    engine.run()
    answer = desk.reprint_code("TRK000000001", ReprintRequest())
    assert (answer["scanned_label"], answer["label"], answer["reason_code"]) == (
        engine.job(old).label_id, engine.job(new).label_id, "scan.newer_label")
    engine.run()
    assert [engine.job(j).reprint_of for j in answer["job_ids"]] == [new]
    found = desk.lookup(POSTING)
    assert [m["label"] for m in found["matches"]] == [engine.job(new).label_id, engine.job(old).label_id]
    assert [j.label_id for j in desk.jobs_for_code(POSTING)][:1] == [engine.job(new).label_id]


def test_a_scan_that_names_nothing_is_not_found(station: tuple[Engine, Station]) -> None:
    """An unknown code is refused as not found, an empty one as a bad request."""
    _, desk = station
    with pytest.raises(NotFound):
        desk.lookup("99999999-0001-1")
    with pytest.raises(BadRequest):
        desk.matches("   ")


def crash_while_sending(engine: Engine, pdf: bytes) -> tuple[int, Station]:
    """``pdf``'s label is on the wire when labeld dies; labeld starts again. Its job, and a fresh station."""
    [job] = engine.submit(pdf)
    engine.render()
    engine.printer().crash_on_write()
    with pytest.raises(SimulatedCrash):
        engine.step()
    engine.restart()
    return job, Station(engine.operations)


def test_a_label_left_uncertain_is_an_alarm_until_reprinted_or_cancelled(station: tuple[Engine, Station]) -> None:
    """labeld dies while a label goes out: after the restart that label may or may not have printed, and
    it is never sent again by itself, so a person is told (job, parcel, printer) until they reprint or
    cancel it."""
    engine, _ = station
    first, desk = crash_while_sending(engine, label("TRK000000001"))
    [alarm] = desk.alarms()
    assert (alarm["kind"], alarm["job"], alarm["posting_number"], alarm["printer"]) == ("uncertain", first, POSTING,
                                                                                        "memory")
    assert alarm["reason_code"] == "alarm.uncertain" and f"labelctl reprint {first}" in alarm["reason"]
    engine.operations.reprint_job(first, ReprintRequest())
    assert kinds(desk) == [], "reprinted: dealt with"
    engine.run()

    second, desk = crash_while_sending(engine, cached_label(posting="12345678-0013-1", tracking="TRK000000003"))
    assert [alarm["job"] for alarm in desk.alarms()] == [second]
    engine.operations.cancel(second)
    assert kinds(desk) == [], "cancelled: dealt with"
