"""The printer worker's decisions, in process against memory printers: order, status, waiting and
backoff, cut connections, refusals, confirmation, media mismatch, expiry before printing, crashes."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pymupdf
import pytest
from structlog.testing import capture_logs

from labeld.bitmap import from_png
from labeld.config import PreflightConfig
from labeld.daemon.printer_worker import BACKOFF_MAX, BACKOFF_START, IDLE_CLOSE_SECONDS
from labeld.reasons import Reason
from labeld.spool.states import JobState
from labeld.testing.engine import Engine, SimulatedCrash, memory_printer
from tests.conftest import cached_batch, cached_label, decode

S = JobState
#: The worker's decisions do not depend on pre-flight's barcode checks (tests/test_engine_rules.py pins
#: those); without them a label renders in a tenth of the time. Printed labels are still decoded here.
ENGINE_PREFLIGHT = PreflightConfig(verify_barcodes=False, barcode_repair="off")


def posting(n: int) -> str:
    return f"{10000000 + n:08d}-0001-1"


def rendered(engine: Engine, job_ids: list[int]) -> None:
    """Render everything queued, so the printer's steps can be taken one by one."""
    while engine.render():
        pass
    assert engine.states(job_ids) == ["ready"] * len(job_ids)


def assert_came_out_as_rendered(engine: Engine, job_ids: list[int], first: int = 0) -> None:
    """Each job's label came out once, in job order, dot for dot as spooled, with its own barcode."""
    labels = engine.printer().labels
    assert len(labels) == len(job_ids)
    for n, (job_id, label) in enumerate(zip(job_ids, labels, strict=True), start=first):
        assert np.array_equal(label, from_png(engine.store.bitmap_path(job_id).read_bytes()))
        assert posting(n) in decode(label)


def test_labels_print_in_job_order_dot_for_dot_and_confirmed(engine: Engine) -> None:
    """A 3-label batch goes queued → ready → printing → printed, confirmed, as rendered, in order."""
    jobs = engine.submit(cached_batch(3))
    engine.run()
    assert engine.states(jobs) == ["printed"] * 3
    assert_came_out_as_rendered(engine, jobs)
    assert engine.moves(jobs[0]) == [(None, "queued"), ("queued", "ready"), ("ready", "printing"),
                                     ("printing", "printed")]
    job = engine.job(jobs[0])
    assert (job.confirmed, job.attempts, job.interrupted) == (True, 1, False)
    assert job.reason == Reason("job.printed_confirmed", printer="memory")
    assert engine.worker().state.printed == 3


def test_write_only_connection_prints_unconfirmed(memory_dir: Path) -> None:
    """Where the printer cannot answer, the label is printed `confirmed: false`, and the reason says why."""
    with Engine(memory_dir, answers=False) as engine:
        [job] = engine.submit(cached_label())
        engine.run()
        assert (engine.state(job), engine.job(job).confirmed) == (S.PRINTED, False)
        assert engine.job(job).reason == Reason("job.printed_unconfirmed", printer="memory")
        assert len(engine.printer().labels) == 1


def test_copies_are_written_one_by_one_where_the_language_cannot_carry_them(engine: Engine) -> None:
    """Three copies on a driver without native copies: three identical labels, one printed job."""
    [job] = engine.submit(cached_label(), copies=3)
    engine.run()
    assert engine.state(job) is S.PRINTED
    first, *rest = engine.printer().received
    assert rest == [first, first]


@pytest.mark.parametrize("reason", ["media-empty", "cover-open", "media-jam-error", "offline"])
def test_blocked_printer_keeps_jobs_ready_and_backs_off(engine: Engine, reason: str) -> None:
    """A blocking reason keeps every job `ready` (never failed); the worker asks again after
    0.25 s doubling to 3 s; once fixed it prints and the backoff starts over."""
    jobs = engine.submit(cached_batch(2))
    rendered(engine, jobs)
    engine.printer().jam(reason, "a person is needed")
    with capture_logs() as logs:
        waits = [engine.step() for _ in range(7)]
    assert waits == [BACKOFF_START, 0.5, 1.0, 2.0, BACKOFF_MAX, BACKOFF_MAX, BACKOFF_MAX]
    assert engine.states(jobs) == ["ready", "ready"] and engine.printer().received == []
    state = engine.worker().state
    assert (state.state, state.reasons, state.message.text()) == ("stopped", (reason,), "a person is needed")
    assert [log["event"] for log in logs] == ["printer_needs_attention"]  # said once, not at every ask
    engine.printer().fix()
    assert engine.step() == 0.0
    engine.printer().jam(reason)
    assert engine.step() == BACKOFF_START
    engine.printer().fix()
    engine.run()
    assert engine.states(jobs) == ["printed", "printed"]
    assert_came_out_as_rendered(engine, jobs)


def test_a_warning_does_not_stop_the_printer(engine: Engine) -> None:
    """`media-low-warning` is shown but not blocking: the label prints."""
    [job] = engine.submit(cached_label())
    engine.printer().jam("media-low-warning")
    engine.run()
    assert engine.state(job) is S.PRINTED


def test_unreachable_printer_keeps_the_job_ready(engine: Engine) -> None:
    """A printer that cannot be opened is `offline` with the device's sentence; the job waits `ready`."""
    [job] = engine.submit(cached_label())
    rendered(engine, [job])
    engine.printer().unplug()
    with capture_logs() as logs:
        assert [engine.step(), engine.step()] == [BACKOFF_START, 0.5]
    assert [log["event"] for log in logs] == ["printer_unavailable"]  # said once
    assert engine.state(job) is S.READY and engine.job(job).attempts == 0
    state = engine.worker().state
    assert (state.state, state.reasons) == ("stopped", ("offline",))
    assert state.message.text() == "memory does not answer (unplugged)"
    engine.printer().plug()
    engine.run()
    assert engine.state(job) is S.PRINTED and engine.worker().state.state == "idle"


def test_connection_cut_mid_label_sends_it_again_flagged(engine: Engine) -> None:
    """Cut after 100 bytes of label 2: it goes back to `ready`, `interrupted`, saying how many bytes
    went; the printer dropped the part, so every label comes out exactly once, in order."""
    jobs = engine.submit(cached_batch(3))
    rendered(engine, jobs)
    assert engine.step() == 0.0
    engine.printer().cut_after(100)
    assert engine.step() == BACKOFF_START
    job = engine.job(jobs[1])
    assert (job.state, job.interrupted, job.attempts) == (S.READY, True, 1)
    assert (job.reason.code, job.reason.params["sent"]) == ("job.interrupted", 100)
    assert engine.worker().state.reasons == ("offline",)
    engine.run()
    assert engine.states(jobs) == ["printed"] * 3
    assert [engine.job(j).interrupted for j in jobs] == [False, True, False]
    assert engine.job(jobs[1]).attempts == 2
    assert_came_out_as_rendered(engine, jobs)
    cut = next(r for r in engine.reasons(jobs[1]) if r.code == "job.interrupted")
    assert cut.params["total"] == len(engine.printer().received[1])


def test_connection_cut_before_the_first_byte_is_not_an_interruption(engine: Engine) -> None:
    """Nothing reached the printer: the job waits `ready`, not flagged, and prints once later."""
    [job] = engine.submit(cached_label())
    rendered(engine, [job])
    engine.printer().cut_after(0)
    engine.step()
    assert not engine.job(job).interrupted
    assert engine.job(job).reason.code == "job.printer_unreachable"
    engine.run()
    assert engine.state(job) is S.PRINTED and len(engine.printer().labels) == 1


@pytest.mark.parametrize("came_out", [False, True])
def test_connection_lost_while_waiting_for_the_printers_word(engine: Engine, came_out: bool) -> None:
    """All bytes went but the connection died before the printer confirmed: sent again, flagged, so a
    second copy (if the first did come out) is one labeld said it might make."""
    [job] = engine.submit(cached_label())
    rendered(engine, [job])
    engine.printer().cut_while_confirming(printed=came_out)
    engine.step()
    total = len(engine.printer().received[0]) if came_out else None
    assert engine.job(job).interrupted and engine.state(job) is S.READY
    if total is not None:
        assert engine.job(job).reason.code == "job.interrupted"
        assert (engine.job(job).reason.params["sent"], engine.job(job).reason.params["total"]) == (total, total)
    engine.run()
    assert engine.state(job) is S.PRINTED and engine.job(job).interrupted
    assert len(engine.printer().labels) == 1 + came_out


def pipelined_two(engine: Engine) -> list[int]:
    """Three labels to a printer that counts what it holds (ZPL's ~HS): label 0 came out, label 1 waits
    whole in the printer's buffer with its head stopped, and label 2 is next."""
    engine.printer().buffers = True
    jobs = engine.submit(cached_batch(3))
    rendered(engine, jobs)
    assert engine.step() == 0.0 and engine.step() == 0.0  # label 1 went out while label 0 printed
    engine.printer().head_stopped = True
    return jobs


@pytest.fixture
def pipelining(memory_dir: Path) -> Iterator[Engine]:
    """The engine with one memory printer set to ``pipeline = true``."""
    with Engine(memory_dir, [memory_printer(default=True, pipeline=True)], preflight=ENGINE_PREFLIGHT) as engine:
        yield engine


def test_without_pipeline_the_next_label_waits_for_the_last(engine: Engine) -> None:
    """``pipeline`` is off by default: even a printer that counts what it holds gets one label at a
    time, each confirmed before the next goes out."""
    engine.printer().buffers = True
    jobs = engine.submit(cached_batch(2))
    rendered(engine, jobs)
    engine.step()
    assert engine.states(jobs) == ["printed", "ready"]


def test_printer_restarted_with_a_label_waiting_sends_it_again_flagged(pipelining: Engine) -> None:
    """The printer is switched off and on while label 1 waits in its buffer: the connection drops and
    the new one finds the buffer empty, which cannot tell printed from lost. Label 1 is not counted
    printed: it goes again, flagged, before label 2; every label comes out once, in order."""
    engine = pipelining
    jobs = pipelined_two(engine)
    engine.printer().power_cycle()
    assert engine.step() == BACKOFF_START  # label 2 hits the restart; label 1 is lost with the buffer
    assert engine.state(jobs[0]) is S.PRINTED and engine.state(jobs[1]) is S.PRINTING
    engine.printer().head_stopped = False
    engine.run()
    assert engine.states(jobs) == ["printed"] * 3
    assert_came_out_as_rendered(engine, jobs)
    assert [engine.job(j).interrupted for j in jobs] == [False, True, False]
    assert all(engine.job(j).confirmed for j in jobs)
    resent = next(r for r in engine.reasons(jobs[1]) if r.code == "job.resent_after_drop")
    assert resent.params["printer"] == "memory" and "restarted" in resent.params["error"]


def test_network_drop_with_a_label_still_held_keeps_it_in_flight(pipelining: Engine) -> None:
    """Only the connection drops while label 1 waits in the printer: the new connection's count shows
    the printer still holds it, so it stays in flight and is confirmed when it prints, sent once."""
    engine = pipelining
    jobs = pipelined_two(engine)
    engine.printer().cut_after(0)
    assert engine.step() == BACKOFF_START
    assert engine.step() == 0.0  # the new connection: label 1 still held; label 2 goes out behind it
    assert engine.state(jobs[1]) is S.PRINTING and len(engine.printer().buffer) == 2
    engine.printer().head_stopped = False
    engine.run()
    assert engine.states(jobs) == ["printed"] * 3
    assert_came_out_as_rendered(engine, jobs)
    assert not any(engine.job(j).interrupted for j in jobs) and all(engine.job(j).confirmed for j in jobs)


def test_write_only_connection_reset_at_the_end_sends_again(memory_dir: Path) -> None:
    """Write-only: the printer reset the connection instead of closing it; the label is sent again, flagged."""
    with Engine(memory_dir, answers=False) as engine:
        [job] = engine.submit(cached_label())
        rendered(engine, [job])
        engine.printer().finish_fails(printed=False)
        assert engine.step() == BACKOFF_START
        assert engine.job(job).interrupted and engine.state(job) is S.READY
        engine.run()
        assert engine.state(job) is S.PRINTED and len(engine.printer().labels) == 1


def test_refused_label_fails_and_the_next_one_prints(engine: Engine) -> None:
    """A refusal retrying cannot fix: that job is `failed` with the printer's reason; the printer goes on."""
    jobs = engine.submit(cached_batch(2))
    rendered(engine, jobs)
    engine.printer().refuse("job aborted by the CUPS filter")
    assert engine.step() == 0.0
    assert engine.states(jobs) == ["failed", "ready"]
    assert engine.job(jobs[0]).reason == Reason("job.refused", error="job aborted by the CUPS filter")
    engine.run()
    assert engine.states(jobs) == ["failed", "printed"]
    assert_came_out_as_rendered(engine, jobs[1:], first=1)


def test_label_held_by_the_print_server_waits_ready(engine: Engine) -> None:
    """A stopped queue holds the label: it stays `ready`, the printer shows the queue's reason."""
    [job] = engine.submit(cached_label())
    rendered(engine, [job])
    engine.printer().hold_in_queue("the queue is stopped", reason="paused")
    assert engine.step() == BACKOFF_START
    assert engine.state(job) is S.READY and not engine.job(job).interrupted
    assert engine.job(job).reason == Reason("job.held_by_printer", error="the queue is stopped")
    assert (engine.worker().state.state, engine.worker().state.reasons) == ("stopped", ("paused",))
    engine.run()
    assert engine.state(job) is S.PRINTED and len(engine.printer().labels) == 1


def test_slow_printer_confirms_within_its_timeout(memory_dir: Path) -> None:
    """A printer that takes 20 s of its 30 s to say "printed" is confirmed."""
    with Engine(memory_dir) as engine:
        engine.printer().confirm_seconds = 20.0
        [job] = engine.submit(cached_label())
        before = engine.time.time()
        engine.run()
        assert engine.job(job).confirmed and engine.job(job).updated_at == before + 20.0


@pytest.mark.parametrize("never", [True, False])
def test_printer_that_does_not_confirm_in_time_prints_unconfirmed(memory_dir: Path, never: bool) -> None:
    """No word within `confirm_timeout` (silent, or too slow): `printed`, `confirmed: false`, not sent twice."""
    with Engine(memory_dir, [memory_printer(default=True, confirm_timeout=5.0)]) as engine:
        if never:
            engine.printer().confirms = False
        else:
            engine.printer().confirm_seconds = 60.0
        [job] = engine.submit(cached_label())
        before = engine.time.time()
        engine.run()
        assert (engine.state(job), engine.job(job).confirmed) == (S.PRINTED, False)
        assert engine.job(job).updated_at == before + 5.0
        assert len(engine.printer().labels) == 1


def test_media_mismatch_holds_the_job_and_stops_the_printer(engine: Engine) -> None:
    """58×40 loaded where 75×120 is configured: held naming both media, printer stopped, nothing out."""
    [job] = engine.submit(cached_label())
    engine.printer().load(58, 40)
    engine.run()
    assert engine.state(job) is S.HELD
    assert engine.job(job).reason.code == "printer.media_mismatch"
    assert (engine.job(job).reason.params["loaded"], engine.job(job).reason.params["wanted"]) == ("58×40 mm",
                                                                                                 "75×120 mm")
    state = engine.worker().state
    assert (state.state, state.reasons) == ("stopped", ("media-mismatch",))
    assert state.message == engine.job(job).reason
    assert engine.printer().received == []


def test_right_media_loaded_prints(engine: Engine) -> None:
    """The loaded medium matches the configured one: the label prints."""
    [job] = engine.submit(cached_label())
    engine.printer().load(75, 120)
    engine.run()
    assert engine.state(job) is S.PRINTED


def test_label_that_expired_while_waiting_for_paper_is_held(engine: Engine) -> None:
    """Expiry is checked again just before printing: 5 h out of paper turn a ready label into a held one."""
    [job] = engine.submit(cached_label())
    rendered(engine, [job])
    engine.printer().jam("media-empty")
    engine.step()
    engine.time.advance(5 * 3600)
    engine.printer().fix()
    assert engine.step() == 0.0
    assert engine.state(job) is S.HELD
    assert engine.job(job).reason.code == "label.expired"
    assert engine.job(job).reason.text().startswith("label expired 1 h ago (issued 5 h ago, valid 4 h)")
    assert engine.printer().received == []


def test_label_that_expired_while_waiting_is_rejected_when_the_policy_says_reject(memory_dir: Path) -> None:
    """`on_expired = "reject"` holds for the check before printing too: the waiting label is rejected, not sent."""
    with Engine(memory_dir, preflight=PreflightConfig(on_expired="reject")) as engine:
        [job] = engine.submit(cached_label())
        rendered(engine, [job])
        engine.time.advance(5 * 3600)
        engine.run()
        assert engine.state(job) is S.REJECTED
        assert engine.job(job).reason.code == "label.expired"
        assert engine.printer().received == []


def test_released_expired_label_prints(engine: Engine) -> None:
    """After `release` (forced) the same expired label is no longer held before printing."""
    [job] = engine.submit(cached_label())
    rendered(engine, [job])
    engine.time.advance(5 * 3600)
    engine.run()
    assert engine.state(job) is S.HELD
    engine.operations.release(job)
    engine.run()
    assert engine.state(job) is S.PRINTED and engine.job(job).forced


def test_expired_label_prints_when_the_policy_says_print(memory_dir: Path) -> None:
    """`on_expired = "print"`: the check before printing lets it through (and logs it)."""
    with Engine(memory_dir, preflight=PreflightConfig(on_expired="print")) as engine:
        [job] = engine.submit(cached_label())
        rendered(engine, [job])
        engine.time.advance(5 * 3600)
        with capture_logs() as logs:
            engine.run()
        assert engine.state(job) is S.PRINTED
        assert "label_expired_printing_anyway" in [log["event"] for log in logs]


def test_a_job_never_passes_an_earlier_one_still_being_rendered(engine: Engine) -> None:
    """Job 2 is ready while job 1 is still queued: the printer waits, then prints 1 before 2."""
    jobs = engine.submit(cached_batch(2))
    engine.pipeline.process(engine.job(jobs[1]))
    assert engine.states(jobs) == ["queued", "ready"]
    assert engine.step() is None and engine.printer().received == []
    engine.run()
    assert_came_out_as_rendered(engine, jobs)


def test_printers_do_not_wait_for_each_other(memory_dir: Path) -> None:
    """A stopped printer holds only its own jobs; the other prints its labels."""
    printers = [memory_printer("a", default=True), memory_printer("b")]
    with Engine(memory_dir, printers) as engine:
        on_a = engine.submit(cached_batch(2), printer="a")
        on_b = engine.submit(cached_batch(2, 10000002), printer="b")
        engine.printer("a").jam("cover-open")
        engine.run()
        assert engine.states(on_a) == ["ready", "ready"] and engine.states(on_b) == ["printed", "printed"]
        assert [posting(2) in decode(label) for label in engine.printer("b").labels] == [True, False]


def test_paused_printer_keeps_jobs_ready_until_resumed(engine: Engine) -> None:
    """A paused printer prints nothing and shows `paused`; after resume it prints and is idle again."""
    [job] = engine.submit(cached_label())
    engine.operations.pause("memory")
    engine.run()
    assert engine.state(job) is S.READY
    assert (engine.worker().state.state, engine.worker().state.reasons) == ("stopped", ("paused",))
    assert engine.operations.printers()[0]["paused"] is True
    engine.operations.resume("memory")
    engine.run()
    assert engine.state(job) is S.PRINTED and engine.worker().state.state == "idle"


def test_a_paused_idle_printer_is_ready_again_on_resume(engine: Engine) -> None:
    """Resuming a printer with nothing to print shows it idle and logs that it is ready."""
    engine.operations.pause("memory")
    assert engine.step() is None and engine.worker().state.state == "stopped"
    engine.operations.resume("memory")
    with capture_logs() as logs:
        assert engine.step() is None
    assert engine.worker().state.state == "idle"
    assert [(log["event"], log["previous"]) for log in logs] == [("printer_ready", ["paused"])]


def test_an_idle_connection_is_closed_after_a_while(engine: Engine) -> None:
    """Back-to-back labels share a connection; after 5 s idle it is closed and the next label opens anew."""
    engine.submit(cached_batch(2))
    engine.run()
    assert engine.printer().opened == 1
    engine.time.advance(IDLE_CLOSE_SECONDS - 1)
    assert engine.step() is None
    engine.submit(cached_batch(1, 10000002))
    engine.run()
    assert engine.printer().opened == 1
    engine.time.advance(IDLE_CLOSE_SECONDS + 1)
    assert engine.step() is None
    engine.submit(cached_batch(1, 10000003))
    engine.run()
    assert engine.printer().opened == 2


@pytest.mark.parametrize("damage", ["missing", "unreadable"])
def test_lost_bitmap_is_rendered_again(engine: Engine, damage: str) -> None:
    """A ready job whose bitmap is gone or damaged goes back to `queued`, is rendered again and prints."""
    [job] = engine.submit(cached_batch(1))
    rendered(engine, [job])
    path = engine.store.bitmap_path(job)
    if damage == "missing":
        path.unlink()
    else:
        path.write_bytes(b"not a png")
    assert engine.step() == 0.0
    assert engine.state(job) is S.QUEUED
    assert engine.job(job).reason.code == ("job.bitmap_missing" if damage == "missing" else "job.bitmap_unreadable")
    engine.run()
    assert_came_out_as_rendered(engine, [job])


def test_black_and_red_planes_go_out_together(memory_dir: Path) -> None:
    """On black/red media the pipeline keeps a red plane beside the black one and both are sent;
    the barcodes stay in the black plane."""
    doc = pymupdf.open("pdf", cached_batch(1))
    doc[0].draw_rect(pymupdf.Rect(10, 200, 80, 240), color=None, fill=(1, 0, 0))
    with Engine(memory_dir, [memory_printer(default=True, red=True)], preflight=ENGINE_PREFLIGHT) as engine:
        [job] = engine.submit(doc.tobytes())
        engine.run()
        [black], [red] = engine.printer().labels, engine.printer().red_planes
        assert red is not None and red.sum() > 1000 and not (black & red).any()
        assert np.array_equal(red, from_png(engine.store.bitmap_path(job, "red").read_bytes()))
        assert np.array_equal(black, from_png(engine.store.bitmap_path(job).read_bytes()))
        assert posting(0) in decode(black)


def test_raw_zpl_goes_out_as_it_came(memory_dir: Path) -> None:
    """A .zpl file skips rendering (`ready` at once) and reaches the printer byte for byte."""
    zpl = b"^XA^FO50,50^A0N,40,40^FDraw label^FS^XZ"
    with Engine(memory_dir, [memory_printer(default=True, raw=True)]) as engine:
        [job] = engine.submit(zpl, name="label.zpl")
        assert engine.render() == 1
        assert engine.job(job).reason == Reason("job.ready_raw", printer="memory")
        engine.run()
        assert engine.state(job) is S.PRINTED and engine.printer().received == [zpl]


def test_crash_while_sending_leaves_that_job_uncertain(engine: Engine) -> None:
    """labeld dies with label 2 on the wire: after the restart job 2 is `uncertain` (it may have come
    out), the others print, and nothing is printed twice."""
    jobs = engine.submit(cached_batch(3))
    rendered(engine, jobs)
    engine.step()
    engine.printer().crash_on_write()
    with pytest.raises(SimulatedCrash):
        engine.step()
    assert engine.states(jobs) == ["printed", "printing", "ready"]
    engine.restart()
    assert [job.id for job in engine.recovered] == [jobs[1]]
    engine.run()
    assert engine.states(jobs) == ["printed", "uncertain", "printed"]
    assert engine.job(jobs[1]).reason.code == "job.uncertain_after_stop"
    assert all(posting(n) in decode(label) for n, label in zip((0, 2), engine.printer().labels, strict=True))


def test_an_unexpected_error_backs_off_and_the_worker_lives(memory_dir: Path) -> None:
    """A bug in one step (here, while asking the status) is logged and backed off like a busy
    printer; the printer's thread lives on and prints the label (threads, for real)."""
    with Engine(memory_dir, preflight=ENGINE_PREFLIGHT) as engine:
        [job] = engine.submit(cached_label())

        def broken() -> None:
            raise RuntimeError("a bug")

        engine.printer().on_status = broken
        with capture_logs() as logs, engine.threads():
            engine.wait_for(lambda: engine.state(job) is S.PRINTED, what="the label printed")
        assert "printer_worker_error" in [log["event"] for log in logs]


def test_a_driver_that_cannot_work_here_stops_its_printer(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    """The driver's self-check fails: the printer is `stopped` with the reason, its thread would end."""
    monkeypatch.setattr(engine.drivers["memory"], "self_check", lambda: "install pycups")
    assert not engine.worker().usable()
    assert (engine.worker().state.state, engine.worker().state.message.text()) == ("stopped", "install pycups")
    monkeypatch.undo()
    assert engine.worker().usable()
