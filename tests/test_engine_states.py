"""The job state machine and the spool that keeps it, in process: every allowed move, every
forbidden one, the race guard, start-up recovery and pruning."""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Iterator
from pathlib import Path

import pytest

from labeld.daemon.operations import ReprintRequest
from labeld.reasons import Reason
from labeld.spool.spool import Job, NewDocument, NewLabel, Spool
from labeld.spool.states import CANCELLABLE, PENDING, TRANSITIONS, InvalidTransition, JobState, check_transition
from labeld.spool.store import DocumentStore
from labeld.testing.engine import START, Engine, FakeClock
from tests.conftest import cached_label

S = JobState
ALLOWED = sorted((a, b) for a, nexts in TRANSITIONS.items() for b in nexts)
FORBIDDEN = sorted((a, b) for a in S for b in S if b not in TRANSITIONS[a])
BECAUSE = Reason.plain("because a test said so")
TERMINAL = {S.PRINTED, S.SUPERSEDED, S.CANCELLED}


def path_to(target: JobState) -> list[JobState]:
    """The shortest list of moves from ``queued`` to ``target`` (breadth first over TRANSITIONS)."""
    came_from: dict[JobState, JobState | None] = {S.QUEUED: None}
    todo = deque([S.QUEUED])
    while todo:
        state = todo.popleft()
        for nxt in sorted(TRANSITIONS[state]):
            if nxt not in came_from:
                came_from[nxt] = state
                todo.append(nxt)
    steps: list[JobState] = []
    at: JobState | None = target
    while at is not None and at is not S.QUEUED:
        steps.append(at)
        at = came_from[at]
    return steps[::-1]


@pytest.fixture
def clock() -> FakeClock:
    """Time that moves only when the test says so."""
    return FakeClock()


@pytest.fixture
def spool(memory_dir: Path, clock: FakeClock) -> Iterator[Spool]:
    """A spool on a scratch folder with a fake clock."""
    store = Spool(memory_dir / "spool.db", clock=clock.time)
    yield store
    store.close()


def new_job(spool: Spool, state: JobState = S.QUEUED, posting: str | None = None) -> int:
    """A committed one-label document whose job was moved to ``state`` by allowed moves."""
    now = spool.clock()
    doc = NewDocument(sha256="0" * 64, name="label.pdf", source="api", size=100, pages=1)
    label = NewLabel(page=0, printer="memory", issued_at=now, expires_at=now + 3600, posting=posting)
    [job_id] = spool.add_document(doc, [label], "api")
    for step in path_to(state):
        spool.transition(job_id, step, Reason.plain(f"to {step.value}"))
    return job_id


def read(spool: Spool, job_id: int) -> Job:
    found = spool.job(job_id)
    assert found is not None
    return found


def test_every_state_is_reachable_from_queued() -> None:
    """No state in the enum is an island: each can be reached by allowed moves."""
    for state in S:
        steps = path_to(state)
        assert state is S.QUEUED or steps[-1] is state
        for a, b in zip([S.QUEUED, *steps], steps, strict=False):
            check_transition(a, b)


@pytest.mark.parametrize(("current", "target"), ALLOWED, ids=[f"{a}-{b}" for a, b in ALLOWED])
def test_allowed_move_is_committed_with_its_reason(spool: Spool, current: JobState, target: JobState) -> None:
    """Each edge of TRANSITIONS moves the job and writes one history entry with from, to and reason."""
    job_id = new_job(spool, current)
    before = len(spool.history(job_id))
    moved = spool.transition(job_id, target, BECAUSE)
    assert (moved.state, moved.reason) == (target, BECAUSE)
    last = spool.history(job_id)[-1]
    assert len(spool.history(job_id)) == before + 1
    assert (last.from_state, last.to_state, last.reason) == (current, target, BECAUSE)


@pytest.mark.parametrize(("current", "target"), FORBIDDEN, ids=[f"{a}-{b}" for a, b in FORBIDDEN])
def test_forbidden_move_is_refused_and_changes_nothing(spool: Spool, current: JobState, target: JobState) -> None:
    """Every pair not in TRANSITIONS raises InvalidTransition, naming both states, and leaves no trace."""
    job_id = new_job(spool, current)
    before = spool.job(job_id)
    history = spool.history(job_id)
    with pytest.raises(InvalidTransition, match=f"a {current.value} job cannot become {target.value}"):
        spool.transition(job_id, target, BECAUSE)
    assert spool.job(job_id) == before
    assert spool.history(job_id) == history


def test_terminal_states_go_nowhere_and_reprints_are_new_jobs() -> None:
    """printed, superseded and cancelled have no way out; rejected only back to queued (an operator's
    audited override); uncertain to cancelled, or settled by a page counter (ready, printed); the other
    ends only to cancelled."""
    assert {s for s, nxt in TRANSITIONS.items() if not nxt} == TERMINAL
    assert TRANSITIONS[S.REJECTED] == frozenset({S.QUEUED})
    for state in (S.DUPLICATE, S.FAILED):
        assert TRANSITIONS[state] == frozenset({S.CANCELLED})
    assert TRANSITIONS[S.UNCERTAIN] == frozenset({S.CANCELLED, S.READY, S.PRINTED})
    assert {S.QUEUED, S.READY, S.HELD, S.DUPLICATE, S.UNCERTAIN, S.FAILED} == CANCELLABLE
    assert {S.QUEUED, S.READY, S.PRINTING, S.HELD} == PENDING
    assert S.CANCELLED not in TRANSITIONS[S.PRINTING]


def test_expect_guards_against_a_move_made_meanwhile(spool: Spool) -> None:
    """A worker that read the job as queued does not move it after an operator cancelled it."""
    job_id = new_job(spool)
    spool.transition(job_id, S.CANCELLED, Reason.plain("cancelled by an operator"))
    with pytest.raises(InvalidTransition, match=f"job {job_id} is cancelled, not queued"):
        spool.transition(job_id, S.READY, Reason.plain("rendered"), expect=frozenset({S.QUEUED}))
    assert read(spool, job_id).state is S.CANCELLED


def test_unknown_job_is_a_key_error(spool: Spool) -> None:
    """Moving a job that does not exist raises KeyError (the operations layer turns it into not_found)."""
    with pytest.raises(KeyError):
        spool.transition(999, S.READY, Reason.plain("nothing"))


def test_flags_and_attempts_are_written_with_the_move(spool: Spool) -> None:
    """confirmed, interrupted, duplicate_of and the attempt count change only when a move says so."""
    job_id = new_job(spool, S.READY)
    spool.transition(job_id, S.PRINTING, Reason.plain("sending"), attempt=True)
    job = spool.transition(job_id, S.READY, Reason.plain("cut"), interrupted=True)
    assert (job.attempts, job.interrupted, job.confirmed) == (1, True, False)
    spool.transition(job_id, S.PRINTING, Reason.plain("sending again"), attempt=True)
    job = spool.transition(job_id, S.PRINTED, Reason.plain("printed"), confirmed=True)
    assert (job.attempts, job.interrupted, job.confirmed) == (2, True, True)
    other = new_job(spool)
    assert spool.transition(other, S.DUPLICATE, Reason.plain("again"), duplicate_of=job_id).duplicate_of == job_id


def test_times_come_from_the_spool_clock(spool: Spool, clock: FakeClock) -> None:
    """Rows and history carry the injected clock's time, so tests of time rules need no sleeping."""
    job_id = new_job(spool)
    clock.advance(90)
    job = spool.transition(job_id, S.READY, Reason.plain("rendered"))
    assert (job.created_at, job.updated_at) == (START, START + 90)
    assert [e.at for e in spool.history(job_id)] == [START, START + 90]


def test_note_keeps_the_state(spool: Spool) -> None:
    """A note is a history entry from a state to itself."""
    job_id = new_job(spool, S.PRINTED)
    spool.note(job_id, BECAUSE)
    assert read(spool, job_id).state is S.PRINTED
    last = spool.history(job_id)[-1]
    assert (last.from_state, last.to_state, last.reason) == (S.PRINTED, S.PRINTED, BECAUSE)


def test_recovery_turns_printing_into_uncertain_and_nothing_else(spool: Spool) -> None:
    """At start-up a job caught `printing` may or may not have come out: uncertain, with what to do."""
    jobs = {state: new_job(spool, state) for state in S}
    recovered = spool.recover()
    assert [job.id for job in recovered] == [jobs[S.PRINTING]]
    for state, job_id in jobs.items():
        expected = S.UNCERTAIN if state is S.PRINTING else state
        assert read(spool, job_id).state is expected
    assert read(spool, jobs[S.PRINTING]).reason == Reason("job.uncertain_after_stop")
    assert spool.recover() == []


def test_printing_order_waits_for_an_earlier_queued_job(spool: Spool) -> None:
    """A printer's next job is the oldest ready one, but not while an older job of it is still queued."""
    first, second = new_job(spool), new_job(spool, S.READY)
    assert getattr(spool.next_ready("memory"), "id", None) == second
    assert spool.has_earlier_pending("memory", second)
    assert not spool.has_earlier_pending("other", second)
    spool.transition(first, S.READY, Reason.plain("rendered"))
    assert not spool.has_earlier_pending("memory", second)
    assert getattr(spool.next_ready("memory"), "id", None) == first


def test_pause_is_remembered_per_printer(spool: Spool) -> None:
    """Pausing is a spool row, so it survives a restart; unknown printers are not paused."""
    assert not spool.paused("memory")
    spool.set_paused("memory", True, "paused by an operator")
    assert spool.paused("memory") and not spool.paused("other")
    spool.set_paused("memory", False)
    assert not spool.paused("memory")


def test_counts_list_every_state(spool: Spool) -> None:
    """counts() names every state, zero or not, overall and per printer."""
    new_job(spool, S.READY)
    new_job(spool, S.HELD)
    counts = spool.counts()
    assert set(counts) == set(S)
    assert (counts[S.READY], counts[S.HELD], counts[S.PRINTED]) == (1, 1, 0)
    assert spool.counts("other") == dict.fromkeys(counts, 0)


def test_label_columns_outside_the_allowed_set_are_refused(spool: Spool) -> None:
    """update_label writes identity, content and pre-flight columns only."""
    job_id = new_job(spool)
    with pytest.raises(ValueError, match="cannot update label columns"):
        spool.update_label(read(spool, job_id).label_id, printer="elsewhere")


def test_old_finished_documents_go_with_their_files(engine: Engine) -> None:
    """A printed document older than the retention time is pruned: rows, stored PDF and bitmaps."""
    [job] = engine.submit(label(1))
    engine.run()
    document, bitmap = engine.store.document_path(engine.job(job).document_sha256), engine.store.bitmap_path(job)
    assert document.exists() and bitmap.exists()
    engine.time.advance(engine.config.daemon.retention - 1)
    assert engine.prune() == (0, 0)
    engine.time.advance(2)
    assert engine.prune() == (1, 1)
    assert engine.spool.job(job) is None and not document.exists() and not bitmap.exists()


def test_pending_or_recently_changed_jobs_keep_their_document(engine: Engine) -> None:
    """A held job, or a job that moved after the cut-off (a reprint), keeps its whole document."""
    [held] = engine.submit(label(1))
    engine.operations.hold(held)
    [recent] = engine.submit(label(2))
    engine.run()
    engine.time.advance(engine.config.daemon.retention + 1)
    engine.operations.reprint_job(recent, ReprintRequest(force=True))
    engine.run()
    assert engine.prune() == (0, 0)
    assert engine.states([held, recent]) == ["held", "printed"]


def test_a_shared_file_stays_while_another_document_uses_it(engine: Engine) -> None:
    """The same bytes uploaded twice share one stored file: it goes only with its last document."""
    pdf = label(3)
    [old] = engine.submit(pdf)
    engine.run()
    engine.time.advance(engine.config.daemon.retention + 1)
    [new] = engine.submit(pdf, name="again.pdf")
    assert engine.prune() == (0, 1)
    assert engine.spool.job(old) is None
    assert engine.store.document_path(engine.job(new).document_sha256).exists()


def label(n: int) -> bytes:
    return cached_label(posting=f"1000000{n}-0001-1", tracking=f"TRK{n}")


def test_store_paths_are_by_content_and_job(tmp_path: Path) -> None:
    """The same bytes are stored once; a job's bitmap and red plane live under its id."""
    store = DocumentStore(tmp_path)
    sha, path = store.put_bytes(b"%PDF-1.7 test")
    assert store.put_bytes(b"%PDF-1.7 test") == (sha, path) and path.read_bytes() == b"%PDF-1.7 test"
    store.put_bitmap(1042, b"png", plane="red")
    assert store.bitmap_path(1042, "red").read_bytes() == b"png"
    store.remove_bitmap(1042)
    store.remove_document(sha)
    assert not path.exists() and not store.bitmap_path(1042, "red").exists()


def test_a_change_made_before_the_wait_is_not_slept_through(spool: Spool) -> None:
    """A worker takes the change mark, finds no work, and a commit lands before it waits (a label
    made ready while the printer answered a slow status probe): the wait returns at once instead of
    sleeping its whole timeout. Without a change since the mark it waits (briefly here)."""
    mark = spool.change_mark
    new_job(spool)
    started = time.monotonic()
    spool.wait_for_change(60.0, since=mark)
    assert time.monotonic() - started < 30.0  # a hang bound: it returns at once, not after its 60 s
    assert spool.change_mark != mark
    idle = spool.change_mark
    spool.wait_for_change(0.01, since=idle)
    assert spool.change_mark == idle
