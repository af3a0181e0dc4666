"""The spool's station tables: files rejected whole, one event sequence of every kind, relabel
alarms until acknowledged, barcode values to find a label by, and the migration that adds them."""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from labeld.reasons import Reason
from labeld.spool.spool import NewDocument, NewLabel, Spool
from labeld.spool.states import JobState
from tests.test_spool_schema import VERSION_1


class Ticks:
    """A clock that moves one second per reading."""

    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        self.now += 1.0
        return self.now


@pytest.fixture
def spool(tmp_path: Path) -> Iterator[Spool]:
    opened = Spool(tmp_path / "spool.db", clock=Ticks())
    yield opened
    opened.close()


def add_label(spool: Spool, name: str = "a.pdf", posting: str | None = "12345678-0012-1") -> int:
    return spool.add_document(NewDocument(name, name, "api", 10, 1), [NewLabel(0, "zebra", 1.0, 2.0, posting=posting)],
                              "api")[0]


def test_a_rejected_file_is_recorded_with_its_event_and_acknowledged_once(spool: Spool) -> None:
    """The record keeps name, source, folder and where the file went; its event is an alarm; ack is one-shot."""
    reason = Reason("intake.not_pdf")
    record = spool.add_rejected(name="junk.pdf", source="hotfolder", folder="zebra", moved_to="/r/junk.pdf",
                                size=5, reason=reason, alarm=True)
    [event] = spool.events_after(0)
    assert (event.kind, event.to_state, event.alarm, event.reason) == ("rejected", "rejected", True, reason)
    assert event.to_json()["file"] == "junk.pdf" and event.to_json()["moved_to"] == "/r/junk.pdf"
    assert [r.id for r in spool.rejected_files()] == [record.id]
    assert spool.rejected_count(since=0) == 1 and spool.rejected_count(since=record.at + 1) == 0
    assert [r.id for r in spool.unacknowledged_rejected(since=0)] == [record.id]
    acked = spool.acknowledge_rejected(record.id, "alice (uid 1000)", Reason("alarm.acknowledged", by="alice"))
    assert acked is not None and acked.acknowledged_by == "alice (uid 1000)"
    assert spool.unacknowledged_rejected(since=0) == []
    assert spool.acknowledge_rejected(record.id, "bob", Reason("alarm.acknowledged", by="bob")) is None
    assert [e.kind for e in spool.events_after(0)] == ["rejected", "alarm"]


def test_job_printer_and_clock_events_share_one_sequence(spool: Spool) -> None:
    """A cursor over events sees every kind in the order it happened; a job's history only its own."""
    job = add_label(spool)
    spool.add_notice("printer", "zebra", "idle", "stopped", Reason.plain("out of paper"), alarm=True,
                     data={"printer": "zebra", "reasons": ["media-empty"]})
    spool.transition(job, JobState.READY, Reason("job.ready_raw", printer="zebra"))
    spool.add_notice("clock", "clock", "ok", "drifting", Reason("clock.not_measured"), alarm=True)
    events = spool.events_after(0)
    assert [(e.kind, e.to_state) for e in events] == [("job", "queued"), ("printer", "stopped"), ("job", "ready"),
                                                      ("clock", "drifting")]
    assert [e.id for e in events] == sorted(e.id for e in events)
    assert events[1].to_json()["reasons"] == ["media-empty"] and events[1].to_json()["job"] is None
    assert [e.to_state for e in spool.history(job)] == ["queued", "ready"]
    assert spool.events_after(events[1].id)[0].kind == "job"


def test_a_relabel_alarm_stays_until_its_label_is_acknowledged(spool: Spool) -> None:
    """Raising sets needs_ack and notes the alarm in the history; acknowledging clears every job of the label."""
    first = add_label(spool)
    again = spool.add_reprint(spool.job(first), "zebra", 1, Reason("job.reprint", origin=first), False)  # type: ignore[arg-type]
    for job_id in (first, again):
        spool.raise_relabel(job_id, Reason.plain("voided after print"))
    assert [j.id for j in spool.open_relabels()] == [first, again]
    assert spool.history(first)[-1].kind == "alarm" and spool.history(first)[-1].alarm
    label = spool.job(first).label_id  # type: ignore[union-attr]
    assert spool.acknowledge_relabel(label, Reason("alarm.acknowledged", by="alice")) == [first, again]
    assert spool.open_relabels() == [] and not spool.job(again).needs_ack  # type: ignore[union-attr]
    assert spool.history(again)[-1].reason.text() == "acknowledged by alice"


def test_labels_are_found_by_posting_tracking_and_barcode_value(spool: Spool) -> None:
    """Barcode values written with the label's record find it, like its posting and tracking numbers."""
    job = add_label(spool)
    other = add_label(spool, "b.pdf", posting=None)
    label = spool.job(job).label_id  # type: ignore[union-attr]
    spool.update_label(label, codes=["!uKEtQZVx", "12345678-0012-1"], tracking="TRK1")
    assert [j.id for j in spool.jobs_by("barcode", ["!uKEtQZVx"])] == [job]
    assert [j.id for j in spool.jobs_by("tracking", ["TRK1", "nothing"])] == [job]
    assert [j.id for j in spool.jobs_by("posting", ["12345678-0012-1"])] == [job]
    assert spool.jobs_by("barcode", ["unknown"]) == [] and other not in [j.id for j in spool.jobs_by("posting", [])]
    with pytest.raises(ValueError):
        spool.jobs_by("document", ["a.pdf"])


def test_pruning_forgets_old_station_rows_but_never_the_newest_event(spool: Spool) -> None:
    """Old rejected files and notices go; the newest event stays so no event number is given out twice."""
    spool.add_rejected(name="x", source="api", folder=None, moved_to=None, size=1, reason=Reason("intake.empty"),
                       alarm=False)
    spool.add_notice("clock", "clock", None, "ok", Reason("clock.not_measured"))
    last = spool.last_event_id()
    spool.prune_station(older_than=time.time() + 3600)
    assert spool.rejected_files() == [] and spool.last_event_id() == last
    assert [e.id for e in spool.events_after(0)] == [last]


def test_an_older_spool_gains_the_station_tables_and_keeps_its_history(tmp_path: Path) -> None:
    """Migrating 1 → 3 keeps every event as a job event, backfills barcode values from pre-flight records,
    and re-raises the relabel alarm of a label voided in the last day."""
    path = tmp_path / "spool.db"
    db = sqlite3.connect(path)
    db.executescript(VERSION_1)
    preflight = json.dumps({"barcodes": [{"value": "12345678-0012-1"}, {"value": "QRVALUE"}]})
    db.execute("UPDATE labels SET preflight = ?", (preflight,))
    db.execute("UPDATE jobs SET state = 'printed'")
    db.execute("INSERT INTO events VALUES (3, 1, ?, 'printed', 'printed', 'voided by a newer label')", (time.time(),))
    db.commit()
    db.close()
    spool = Spool(path)
    try:
        assert [(e.kind, e.to_state) for e in spool.events_after(0)] == [("job", "queued"), ("job", "held"),
                                                                         ("job", "printed")]
        assert [j.id for j in spool.jobs_by("barcode", ["QRVALUE"])] == [1]
        assert spool.open_relabels() == []  # a plain-text note of 0.1.0 is not a relabel alarm
    finally:
        spool.close()
    db = sqlite3.connect(path)  # back to a version-2 spool whose note carries 0.2's code
    db.execute("UPDATE meta SET value = '2'")
    db.execute("UPDATE events SET reason_code = 'label.voided_after_print' WHERE id = 3")
    db.executescript("CREATE TABLE events_v2 AS SELECT id, job_id, at, from_state, to_state, reason, reason_code,"
                     " reason_params FROM events; DROP TABLE events; ALTER TABLE events_v2 RENAME TO events;"
                     " DROP TABLE label_codes; DROP TABLE rejected_files;"
                     " ALTER TABLE jobs DROP COLUMN override; ALTER TABLE jobs DROP COLUMN needs_ack;"
                     " ALTER TABLE labels DROP COLUMN posting_mismatch;")
    db.commit()
    db.close()
    spool = Spool(path)
    try:
        assert [j.id for j in spool.open_relabels()] == [1]
        assert [j.id for j in spool.jobs_by("barcode", ["12345678-0012-1"])] == [1]
    finally:
        spool.close()
