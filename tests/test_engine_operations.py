"""What an operator may ask of the engine (Operations, in process): every refusal with its code,
reprints, hold/cancel/release and their races with the workers, events, preview, status views."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from labeld.bitmap import from_png
from labeld.config import PreflightConfig
from labeld.daemon.operations import BadRequest, NotFound, OperationError, ReprintRequest
from labeld.errors import RejectedInput
from labeld.reasons import Reason
from labeld.spool.states import JobState
from labeld.testing.engine import Engine, memory_printer
from tests.conftest import cached_batch, cached_label, decode

S = JobState
#: Operations do not depend on pre-flight's barcode checks (tests/test_engine_rules.py pins those).
ENGINE_PREFLIGHT = PreflightConfig(verify_barcodes=False, barcode_repair="off")
HOUR = 3600.0


def label(tracking: str = "TRK000000001", posting: str = "12345678-0012-1") -> bytes:
    return cached_label(posting=posting, tracking=tracking)


def refused(call: object, code: str, *words: str) -> OperationError:
    """The OperationError a zero-argument ``call`` raises, checked for its code and words."""
    assert callable(call)
    with pytest.raises(OperationError) as caught:
        call()
    assert caught.value.code == code, caught.value.message
    for word in words:
        assert word in caught.value.message
    return caught.value


class TestStateChanges:
    """cancel, hold and release: each allowed only from its states, refused with the job's state and reason."""

    def test_cancel_from_every_cancellable_state(self, engine: Engine) -> None:
        """queued, ready, held, duplicate, failed and uncertain jobs can be cancelled; the reason says by whom."""
        jobs = engine.submit(cached_batch(3))
        engine.render()
        engine.operations.hold(jobs[2])
        for job in jobs:
            cancelled = engine.operations.cancel(job)
            assert (cancelled.state, cancelled.reason) == (S.CANCELLED, Reason("job.cancelled"))

    def test_printed_job_cannot_be_cancelled(self, engine: Engine) -> None:
        """Refused as `wrong_state`, with the job's state and reason and the rule."""
        [job] = engine.submit(label())
        engine.run()
        refused(lambda: engine.operations.cancel(job), "wrong_state", f"job {job} is printed (printed on memory",
                "only a job that has not started printing")

    def test_hold_only_a_queued_or_ready_job(self, engine: Engine) -> None:
        """Holding keeps it from printing until released; a printed job cannot be held."""
        jobs = engine.submit(cached_batch(2))
        held = engine.operations.hold(jobs[0])
        assert held.reason == Reason("job.held_by_operator")
        engine.run()
        assert engine.states(jobs) == ["held", "printed"]
        refused(lambda: engine.operations.hold(jobs[1]), "wrong_state", "only a queued or ready job can be held")
        refused(lambda: engine.operations.hold(jobs[0]), "wrong_state")

    def test_release_only_a_held_job(self, engine: Engine) -> None:
        """A ready job cannot be released (nothing is forced by mistake)."""
        [job] = engine.submit(label())
        engine.render()
        refused(lambda: engine.operations.release(job), "wrong_state", "only a held job can be released")
        assert not engine.job(job).forced

    def test_unknown_job_is_not_found(self, engine: Engine) -> None:
        """Every operation on a job that does not exist says so, pointing at pruning."""
        for call in (engine.operations.cancel, engine.operations.hold, engine.operations.release,
                     engine.operations.job_detail, engine.operations.preview_png):
            refused(lambda call=call: call(999), "not_found", "there is no job 999", "retention")


class TestRaces:
    """An operator acts while a worker holds the same job: the spool's guard decides, nothing prints twice."""

    def test_hold_while_the_printer_is_asked_stops_the_label(self, engine: Engine) -> None:
        """The worker took the job and asks the printer; meanwhile it is held: it does not print."""
        [job] = engine.submit(label())
        engine.render()
        engine.printer().on_status = lambda: engine.operations.hold(job)
        assert engine.step() == 0.0
        assert engine.state(job) is S.HELD and engine.printer().received == []
        engine.operations.release(job)
        engine.run()
        assert engine.state(job) is S.PRINTED and len(engine.printer().received) == 1

    def test_cancel_while_the_printer_is_asked_stops_the_label(self, engine: Engine) -> None:
        """Cancelled between being taken and being sent: never sent."""
        [job] = engine.submit(label())
        engine.render()
        engine.printer().on_status = lambda: engine.operations.cancel(job)
        engine.run()
        assert engine.state(job) is S.CANCELLED and engine.printer().received == []

    def test_cancel_while_a_wrong_medium_is_reported_wins(self, engine: Engine) -> None:
        """Cancelled while the printer reports a wrong medium: it stays cancelled, not held."""
        [job] = engine.submit(cached_label())
        engine.render()
        engine.printer().load(58, 40)
        engine.printer().on_status = lambda: engine.operations.cancel(job)
        engine.step()
        assert engine.state(job) is S.CANCELLED and engine.printer().received == []

    def test_cancel_while_on_the_wire_is_refused(self, engine: Engine) -> None:
        """A label already being sent cannot be cancelled; it finishes printing."""
        [job] = engine.submit(label())
        engine.render()
        errors: list[OperationError] = []

        def operator() -> None:
            try:
                engine.operations.cancel(job)
            except OperationError as error:
                errors.append(error)

        engine.printer().on_write = operator
        engine.run()
        assert [e.code for e in errors] == ["wrong_state"] and "is printing" in errors[0].message
        assert engine.state(job) is S.PRINTED

    def test_threads_print_everything_while_an_operator_acts(self, memory_dir: Path) -> None:
        """With the real threads: jobs print in order while the operator holds and cancels others."""
        with Engine(memory_dir) as engine, engine.threads():
            engine.operations.pause("memory")
            jobs = engine.submit(cached_batch(6))
            engine.wait_for(lambda: engine.states(jobs) == ["ready"] * 6, what="six ready jobs")
            engine.operations.hold(jobs[1])
            engine.operations.cancel(jobs[4])
            engine.operations.resume("memory")
            engine.wait_for(lambda: engine.spool.counts()[S.PRINTED] == 4, what="four printed")
            assert engine.states(jobs) == ["printed", "held", "printed", "printed", "cancelled", "printed"]
            printed = [decode(bitmap) for bitmap in engine.printer().labels]
            assert all(f"1000000{n}-0001-1" in values for n, values in zip((0, 2, 3, 5), printed, strict=True))
            with pytest.raises(RuntimeError, match="once per engine"), engine.threads():
                pass


class TestReprints:
    """A reprint is a new job of the same label; labels that should not print again are refused."""

    def test_reprint_by_job_and_by_posting(self, engine: Engine) -> None:
        """By id it points at the original; by posting it takes the newest label; copies are kept."""
        [job] = engine.submit(label())
        engine.run()
        [again] = engine.operations.reprint_job(job, ReprintRequest(copies=2))
        [newest] = engine.operations.reprint_posting("12345678-0012-1", ReprintRequest())
        engine.run()
        assert [engine.job(j).reprint_of for j in (again, newest)] == [job, job]
        assert engine.job(again).copies == 2
        assert engine.reasons(again)[0] == Reason("job.reprint", origin=job)
        assert len(engine.printer().received) == 4
        assert engine.operations.job_detail(job)["reprints"] == [newest, again]

    def test_reprint_of_a_reprint_names_the_original(self, engine: Engine) -> None:
        """A reprint's reprint points at the job it copies, and its reason names the first job."""
        [job] = engine.submit(label())
        engine.run()
        [first] = engine.operations.reprint_job(job, ReprintRequest())
        [second] = engine.operations.reprint_job(first, ReprintRequest())
        assert engine.job(second).reprint_of == first
        assert engine.reasons(second)[0] == Reason("job.reprint", origin=job)

    def test_expired_label_is_refused_unless_forced(self, engine: Engine) -> None:
        """Reprinting a label past its validity is refused as `label_invalid`; --force prints it."""
        [job] = engine.submit(label())
        engine.run()
        engine.time.advance(5 * HOUR)
        refused(lambda: engine.operations.reprint_job(job, ReprintRequest()), "label_invalid",
                "expired", "--force")
        [forced] = engine.operations.reprint_job(job, ReprintRequest(force=True))
        engine.run()
        assert engine.state(forced) is S.PRINTED and engine.job(forced).forced
        assert engine.reasons(forced)[0] == Reason("job.reprint_forced", origin=job)

    def test_superseded_label_is_refused_and_posting_reprint_takes_the_newest(self, engine: Engine) -> None:
        """An older label of a posting with a newer one is refused by id; by posting, the newest prints."""
        [old] = engine.submit(label("TRKOLD0001"), issued_at=engine.time.time() - 60)
        engine.run()
        [new] = engine.submit(label("TRKNEW0002"))
        engine.run()
        refused(lambda: engine.operations.reprint_job(old, ReprintRequest()), "label_invalid", "superseded",
                "`labelctl reprint 12345678-0012-1` prints the newest")
        [again] = engine.operations.reprint_posting("12345678-0012-1", ReprintRequest())
        assert engine.job(again).reprint_of == new

    def test_raw_zpl_has_no_validity_to_refuse(self, memory_dir: Path) -> None:
        """A raw ZPL label carries no issue time labeld can read: its reprint is not refused as expired."""
        with Engine(memory_dir, [memory_printer(default=True, raw=True)]) as engine:
            [job] = engine.submit(b"^XA^FDx^FS^XZ", name="x.zpl")
            engine.run()
            engine.time.advance(5 * HOUR)
            [again] = engine.operations.reprint_job(job, ReprintRequest())
            engine.run()
            assert engine.state(again) is S.PRINTED and len(engine.printer().received) == 2

    def test_reprint_elsewhere_and_bad_requests(self, memory_dir: Path) -> None:
        """--printer sends it to another printer; unknown printers, postings and copy counts are refused."""
        with Engine(memory_dir, [memory_printer("a", default=True), memory_printer("b")]) as engine:
            [job] = engine.submit(label())
            engine.run()
            [moved] = engine.operations.reprint_job(job, ReprintRequest(printer="b"))
            engine.run()
            assert engine.job(moved).printer == "b" and len(engine.printer("b").received) == 1
            reprint = engine.operations.reprint_job
            refused(lambda: reprint(job, ReprintRequest(printer="c")), "not_found", "there is no printer 'c'",
                    "printers: a, b")
            refused(lambda: reprint(job, ReprintRequest(printer="../x")), "bad_request", "not a printer name")
            refused(lambda: reprint(job, ReprintRequest(copies=0)), "bad_request", "copies must be from 1 to 100")
            refused(lambda: engine.operations.reprint_posting("99999999-0001-1", ReprintRequest()), "not_found",
                    "no label for posting")
            refused(lambda: engine.operations.reprint_posting("no posting!", ReprintRequest()), "bad_request")


class TestReading:
    """Listing, detail, events and the status views read the spool as it is."""

    def test_jobs_filters_and_their_validation(self, engine: Engine) -> None:
        """Jobs come newest first, filtered by state, printer and posting; bad filters are refused."""
        jobs = engine.submit(cached_batch(3))
        engine.operations.hold(jobs[0])
        engine.run()
        ops = engine.operations
        assert [j.id for j in ops.jobs()] == jobs[::-1]
        assert [j.id for j in ops.jobs(state="held")] == [jobs[0]]
        assert [j.id for j in ops.jobs(posting="10000001-0001-1")] == [jobs[1]]
        assert [j.id for j in ops.jobs(printer="memory", limit=1)] == [jobs[2]]
        refused(lambda: ops.jobs(state="lost"), "bad_request", "states are queued, ready")
        refused(lambda: ops.jobs(limit=0), "bad_request", "limit must be from 1 to 1000")
        refused(lambda: ops.jobs(printer="a b"), "bad_request")
        refused(lambda: ops.jobs(posting="x" * 70), "bad_request")

    def test_detail_has_the_history(self, engine: Engine) -> None:
        """A job's detail lists every move with its reason, in order."""
        [job] = engine.submit(label())
        engine.run()
        history = engine.operations.job_detail(job)["history"]
        assert [(h["from"], h["to"]) for h in history] == [(None, "queued"), ("queued", "ready"),
                                                          ("ready", "printing"), ("printing", "printed")]

    def test_events_after_a_sequence_number(self, engine: Engine) -> None:
        """Events after `after` come at once with printer and posting; none waiting answers empty."""
        start = engine.operations.events(None, 0)["last"]
        [job] = engine.submit(label())
        engine.run()
        answer = engine.operations.events(start, 0)
        assert [(e["job"], e["to"], e["printer"], e["posting"]) for e in answer["events"]][-1] == \
            (job, "printed", "memory", "12345678-0012-1")
        assert engine.operations.events(answer["last"], 0) == {"events": [], "last": answer["last"]}
        assert engine.operations.events(answer["last"], 0.05) == {"events": [], "last": answer["last"]}

    def test_status_and_printers(self, engine: Engine) -> None:
        """Status counts jobs by state; each printer shows waiting and held counts and the default mark."""
        jobs = engine.submit(cached_batch(2))
        engine.operations.hold(jobs[0])
        engine.render()
        status = engine.operations.status()
        assert (status["jobs"]["held"], status["jobs"]["ready"], status["clock"]) == (1, 1, None)
        [printer] = status["printers"]
        assert (printer["name"], printer["waiting"], printer["held"], printer["default"]) == ("memory", 1, 1, True)
        assert printer["state"] == "idle" and printer["paused"] is False


class TestPreview:
    """The preview is the exact bitmap that was (or will be) sent."""

    def test_preview_is_the_stored_bitmap_or_rendered_the_same_way(self, engine: Engine) -> None:
        """Before and after the stored bitmap is gone, the preview is the label the printer got."""
        [job] = engine.submit(label())
        engine.run()
        printed = engine.printer().labels[0]
        assert np.array_equal(from_png(engine.operations.preview_png(job)), printed)
        engine.store.remove_bitmap(job)
        assert np.array_equal(from_png(engine.operations.preview_png(job)), printed)

    def test_no_preview_for_raw_zpl_or_a_missing_printer_or_document(self, memory_dir: Path) -> None:
        """Raw ZPL has no bitmap; a removed printer or a pruned document cannot be rendered."""
        with Engine(memory_dir, [memory_printer(default=True, raw=True)]) as engine:
            [raw] = engine.submit(b"^XA^FDx^FS^XZ", name="x.zpl")
            refused(lambda: engine.operations.preview_png(raw), "no_preview", "raw ZPL")
            [job] = engine.submit(label())
            engine.store.remove_document(engine.job(job).document_sha256)
            refused(lambda: engine.operations.preview_png(job), "not_found", "no longer in the spool")
            del engine.pipeline.drivers["memory"]
            refused(lambda: engine.operations.preview_png(job), "no_preview", "is not usable")


class TestUploads:
    """Uploads take the one accept path; their parameters are checked first."""

    def test_upload_with_parameters(self, engine: Engine) -> None:
        """Sidecar parameters come from the query; the document is named as asked."""
        accepted = engine.operations.upload(label(), {"name": "ozon.pdf", "copies": "2",
                                                      "posting_number": "87654321-0001-1"})
        [job] = accepted.job_ids
        assert (accepted.document_name, engine.job(job).copies, engine.job(job).posting) == \
            ("ozon.pdf", 2, "87654321-0001-1")

    @pytest.mark.parametrize(("params", "code", "words"), [
        ({"colour": "red"}, "bad_request", "unknown parameter colour"),
        ({"name": "../etc/passwd"}, "bad_request", "not a plain file name"),
        ({"name": ".hidden.pdf"}, "bad_request", "not a plain file name"),
        ({"copies": "two"}, "bad_request", "copies must be a number"),
        ({"copies": "0"}, "bad_request", "copies must be a whole number from 1 to 100"),
        ({"printer": "nowhere"}, "not_found", "there is no printer 'nowhere'"),
    ])
    def test_bad_parameters_are_refused_before_anything_is_stored(self, engine: Engine, params: dict[str, str],
                                                                  code: str, words: str) -> None:
        """Each bad parameter is refused with a sentence, and no job is made."""
        refused(lambda: engine.operations.upload(label(), params), code, words)
        assert engine.spool.counts()[S.QUEUED] == 0

    def test_a_keyed_upload_is_stored_once(self, engine: Engine) -> None:
        """The same key again (a retried CUPS job) stores nothing and answers the first upload's jobs."""
        first = engine.operations.upload(cached_label(), {"key": "cups:6f1c-uuid", "requested_by": "alice@pc1"})
        engine.run()
        again = engine.operations.upload(cached_label(), {"key": "cups:6f1c-uuid"})
        assert (again.repeat, again.job_ids, again.printers) == (True, first.job_ids, first.printers)
        assert not first.repeat and len(engine.spool.jobs()) == 1
        [job] = first.job_ids
        assert engine.reasons(job)[0].code == "job.accepted_for"
        assert engine.reasons(job)[0].params["requested_by"] == "alice@pc1"
        assert engine.job(job).requested_by == "alice@pc1"
        refused(lambda: engine.operations.upload(cached_label(), {"key": "two words"}), "bad_request")

    def test_a_file_that_is_not_a_label_is_rejected_input(self, engine: Engine) -> None:
        """Not a PDF: RejectedInput (the API's 422), nothing stored."""
        with pytest.raises(RejectedInput):
            engine.operations.upload(b"hello", {})
        assert engine.spool.jobs() == []

    def test_test_page_prints_on_the_named_printer(self, engine: Engine) -> None:
        """`labelctl test` puts a label with a readable Code128 through the whole engine."""
        [job] = engine.operations.test_page("memory").job_ids
        engine.run()
        assert engine.state(job) is S.PRINTED
        assert any(value.startswith("T") for value in decode(engine.printer().labels[0]))
        with pytest.raises(NotFound):
            engine.operations.test_page("nowhere")
        with pytest.raises(BadRequest):
            engine.operations.pause("no such/printer")
