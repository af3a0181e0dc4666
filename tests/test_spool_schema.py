"""The spool's schema version is checked when it is opened: an older spool is migrated in place
and keeps every job and its words, a newer one is refused with a sentence and left untouched."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from labeld.reasons import Reason
from labeld.spool.schema import SCHEMA_VERSION
from labeld.spool.spool import NewDocument, NewLabel, Spool, SpoolTooNew
from labeld.spool.states import JobState

#: labeld 0.1.0's spool: reasons were words only.
VERSION_1 = """
CREATE TABLE documents (id INTEGER PRIMARY KEY, sha256 TEXT NOT NULL, name TEXT NOT NULL, source TEXT NOT NULL,
    intake_key TEXT UNIQUE, kind TEXT NOT NULL DEFAULT 'pdf', received_at REAL NOT NULL, size INTEGER NOT NULL,
    pages INTEGER NOT NULL, sidecar TEXT, folder TEXT);
CREATE TABLE labels (id INTEGER PRIMARY KEY, document_id INTEGER NOT NULL REFERENCES documents(id) ON DELETE CASCADE,
    page INTEGER NOT NULL, width_mm REAL, height_mm REAL, posting TEXT, tracking TEXT, issued_at REAL NOT NULL,
    expires_at REAL NOT NULL, content_hash TEXT, preflight TEXT, UNIQUE (document_id, page));
CREATE TABLE jobs (id INTEGER PRIMARY KEY, label_id INTEGER NOT NULL REFERENCES labels(id) ON DELETE CASCADE,
    printer TEXT NOT NULL, copies INTEGER NOT NULL DEFAULT 1, state TEXT NOT NULL, reason TEXT NOT NULL DEFAULT '',
    confirmed INTEGER NOT NULL DEFAULT 0, created_at REAL NOT NULL, updated_at REAL NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0, reprint_of INTEGER, duplicate_of INTEGER, forced INTEGER NOT NULL DEFAULT 0,
    interrupted INTEGER NOT NULL DEFAULT 0);
CREATE TABLE events (id INTEGER PRIMARY KEY, job_id INTEGER NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
    at REAL NOT NULL, from_state TEXT, to_state TEXT NOT NULL, reason TEXT NOT NULL);
CREATE TABLE printers (name TEXT PRIMARY KEY, paused INTEGER NOT NULL DEFAULT 0, reason TEXT NOT NULL DEFAULT '');
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
INSERT INTO meta VALUES ('schema', '1');
INSERT INTO documents VALUES (1, 'ab', 'old.pdf', 'hotfolder', 'k1', 'pdf', 1.0, 10, 1, NULL, NULL);
INSERT INTO labels VALUES (1, 1, 0, 75, 120, '12345678-0012-1', NULL, 1.0, 14401.0, NULL, NULL);
INSERT INTO jobs VALUES (1, 1, 'zebra', 1, 'held', 'label expired 3 h ago', 0, 1.0, 2.0, 0, NULL, NULL, 0, 0);
INSERT INTO events VALUES (1, 1, 1.0, NULL, 'queued', 'accepted old.pdf from hotfolder, page 1 of 1');
INSERT INTO events VALUES (2, 1, 2.0, 'queued', 'held', 'label expired 3 h ago');
"""


def make_v1(path: Path) -> None:
    db = sqlite3.connect(path)
    db.executescript(VERSION_1)
    db.commit()
    db.close()


def test_a_version_1_spool_is_migrated_and_keeps_its_jobs_and_words(tmp_path: Path) -> None:
    """A 0.1.0 spool opens, its held job is still held with the same words, and new rows get codes."""
    path = tmp_path / "spool.db"
    make_v1(path)
    spool = Spool(path)
    try:
        assert spool.schema_version() == SCHEMA_VERSION
        job = spool.job(1)
        assert job is not None and job.state is JobState.HELD
        assert (job.reason.code, job.reason.text()) == ("text", "label expired 3 h ago")
        assert [e.reason.text() for e in spool.history(1)] == ["accepted old.pdf from hotfolder, page 1 of 1",
                                                              "label expired 3 h ago"]
        moved = spool.transition(1, JobState.CANCELLED, Reason("job.cancelled"))
        assert (moved.reason.code, moved.reason.text()) == ("job.cancelled", "cancelled by an operator")
    finally:
        spool.close()
    reopened = Spool(path)
    try:
        assert reopened.schema_version() == SCHEMA_VERSION and reopened.job(1) is not None
    finally:
        reopened.close()


def test_a_spool_from_a_newer_labeld_is_refused_and_left_alone(tmp_path: Path) -> None:
    """A newer schema is not guessed at: the error names both versions and the file is unchanged."""
    path = tmp_path / "spool.db"
    spool = Spool(path)
    spool.add_document(NewDocument("cd", "new.pdf", "api", 10, 1), [NewLabel(0, "zebra", 1.0, 2.0)], "api")
    spool.close()
    db = sqlite3.connect(path)
    db.execute("UPDATE meta SET value = ? WHERE key = 'schema'", (str(SCHEMA_VERSION + 1),))
    db.commit()
    db.close()
    before = path.read_bytes()
    with pytest.raises(SpoolTooNew) as refused:
        Spool(path)
    assert f"schema {SCHEMA_VERSION + 1}" in str(refused.value) and f"schema {SCHEMA_VERSION}" in str(refused.value)
    assert path.read_bytes() == before


def test_a_new_spool_starts_at_the_current_version(tmp_path: Path) -> None:
    """A fresh spool is written at the current schema, with reasons as codes from the first row."""
    spool = Spool(tmp_path / "spool.db")
    try:
        [job_id] = spool.add_document(NewDocument("ef", "a.pdf", "api", 10, 1), [NewLabel(0, "zebra", 1.0, 2.0)],
                                      "api")
        job = spool.job(job_id)
        assert spool.schema_version() == SCHEMA_VERSION
        assert job is not None and job.reason.code == "job.accepted"
        assert job.reason.text() == "accepted a.pdf from api, page 1 of 1"
    finally:
        spool.close()


def test_a_version_4_spool_gains_the_links_table(tmp_path: Path) -> None:
    """4 → 5 (#16): a spool from before labels as links keeps its jobs and can hold a link job."""
    path = tmp_path / "spool.db"
    spool = Spool(path)
    [old] = spool.add_document(NewDocument("ab", "old.pdf", "api", 10, 1), [NewLabel(0, "zebra", 1.0, 2.0)], "api")
    spool.close()
    db = sqlite3.connect(path)
    db.execute("DROP TABLE links")
    db.execute("UPDATE meta SET value = '4' WHERE key = 'schema'")
    db.commit()
    db.close()
    spool = Spool(path)
    try:
        assert spool.schema_version() == SCHEMA_VERSION == 5 and spool.job(old) is not None
        [job_id] = spool.add_document(NewDocument("", "label.pdf", "api", 0, 1, kind="link"),
                                      [NewLabel(0, "zebra", 1.0, 2.0)], "api", link="https://cdn.example/l.pdf?s=1")
        assert [row.job_id for row in spool.links_due(10.0)] == [job_id]
        assert [job.id for job in spool.queued()] == [old], "a link not fetched yet is not rendered"
    finally:
        spool.close()
