"""What the render pipeline decides for each label, in process: validity and expiry, newer labels
for a posting, repeats, pre-flight policies, release, render failures, clock drift, races."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import MutableMapping
from pathlib import Path
from typing import Any

import pytest
import structlog
from structlog.testing import capture_logs

from labeld.clock.local_sources import SourceReading
from labeld.clock.monitor import ClockMonitor
from labeld.config import ClockConfig, PreflightConfig
from labeld.daemon.operations import Actor, BadRequest, ReprintRequest
from labeld.errors import RenderFailed
from labeld.labelmaker import LabelSpec, Symbol, label_pdf
from labeld.page_job import RenderRequest, RenderResult, render_page_job
from labeld.reasons import Reason
from labeld.spool.states import JobState
from labeld.testing.engine import Engine, FakeClock, memory_printer
from tests.conftest import cached_label, decode

S = JobState
HOUR = 3600.0
POSTING = "12345678-0012-1"
#: 0.2 mm Code128 modules are 1.6 dots at 203 dpi: unreadable there unless repaired.
THIN = (Symbol("code128", POSTING, 4, 4, 0.2, height_mm=10),)
NO_REPAIR = PreflightConfig(barcode_repair="off")


def label(tracking: str = "TRK000000001", posting: str = POSTING, **spec: object) -> bytes:
    return cached_label(posting=posting, tracking=tracking, **spec)


def events(logs: list[MutableMapping[str, Any]]) -> list[Any]:
    return [entry["event"] for entry in logs]


class TestValidity:
    """A label is valid for `label_ttl` (4 h) from `issued_at`; checked at render and before printing."""

    def test_expired_label_is_held_saying_how_long_ago(self, engine: Engine) -> None:
        """Issued 5 h ago: held, the reason says by how much and what to do; no bitmap, nothing printed."""
        [job] = engine.submit(label(), issued_at=engine.time.time() - 5 * HOUR)
        engine.run()
        assert engine.state(job) is S.HELD
        reason = engine.job(job).reason
        assert (reason.code, dict(reason.params)) == ("label.expired", {"ago": HOUR, "age": 5 * HOUR, "ttl": 4 * HOUR})
        assert reason.text().startswith("label expired 1 h ago (issued 5 h ago, valid 4 h)")
        assert "`labelctl release`" in reason.text()
        assert not engine.store.bitmap_path(job).exists() and engine.printer().received == []

    @pytest.mark.parametrize(("policy", "state"), [("reject", S.REJECTED), ("print", S.PRINTED)])
    def test_expired_label_follows_the_on_expired_policy(self, memory_dir: Path, policy: str, state: JobState
                                                          ) -> None:
        """`on_expired = "reject"` rejects it; `"print"` prints it and logs that it did."""
        with Engine(memory_dir, preflight=PreflightConfig(on_expired=policy)) as engine:
            [job] = engine.submit(label(), issued_at=engine.time.time() - 5 * HOUR)
            with capture_logs() as logs:
                engine.run()
            assert engine.state(job) is state
            assert ("label_expired_printing_anyway" in events(logs)) == (policy == "print")

    def test_label_about_to_expire_prints_flagged(self, engine: Engine) -> None:
        """Inside `warn_before` (15 min) it prints; the ready reason, pre-flight record and log say so."""
        [job] = engine.submit(label(), issued_at=engine.time.time() - (4 * HOUR - 10 * 60))
        with capture_logs() as logs:
            engine.run()
        assert engine.state(job) is S.PRINTED
        ready = engine.reasons(job)[1]
        assert ready.code == "job.ready_warning" and ready.text().endswith("; warning: label expires in 10 min")
        assert engine.preflight_record(job)["expiring"] == "label expires in 10 min"
        assert "label_expiring" in events(logs)

    def test_validity_starts_at_receipt_without_issued_at(self, engine: Engine) -> None:
        """No sidecar time (an upload): issued when received, so it expires 4 h after that."""
        [job] = engine.submit(label())
        assert engine.job(job).issued_at == engine.time.time()
        assert engine.job(job).expires_at == engine.time.time() + 4 * HOUR

    def test_drifting_clock_is_corrected_and_noted(self, memory_dir: Path) -> None:
        """The local clock is 2 h behind true time: validity uses true time, and the record says so."""
        clock = FakeClock()
        monitor = ClockMonitor(ClockConfig(servers=(), max_offset=5.0), structlog.get_logger("test"),
                               local_readers=[lambda timeout: SourceReading("chrony", "chrony", offset=2 * HOUR)],
                               clock=clock.time)
        assert monitor.check_now().state == "drifting"
        with Engine(memory_dir, drift=monitor, clock=clock) as engine:
            [fresh] = engine.submit(label(), issued_at=engine.time.time() - 1 * HOUR)
            [stale] = engine.submit(label("TRK000000002", "12345678-0013-1"),
                                    issued_at=engine.time.time() - 3 * HOUR)
            engine.run()
            assert engine.states([fresh, stale]) == ["printed", "held"]
            assert "validity computed with the measured offset corrected" in engine.preflight_record(fresh)["clock"]

    def test_a_clock_within_its_threshold_is_not_noted(self, memory_dir: Path) -> None:
        """1 s off with a 5 s threshold: no correction, no note in the record."""
        clock = FakeClock()
        monitor = ClockMonitor(ClockConfig(servers=(), max_offset=5.0), structlog.get_logger("test"),
                               local_readers=[lambda timeout: SourceReading("chrony", "chrony", offset=1.0)],
                               clock=clock.time)
        assert monitor.check_now().state == "ok"
        with Engine(memory_dir, drift=monitor, clock=clock) as engine:
            [job] = engine.submit(label())
            engine.run()
            assert "clock" not in engine.preflight_record(job)
            assert engine.job(job).expires_at - engine.rules.now() == 4 * HOUR


class TestNewerLabels:
    """A newer label for the same posting (a re-generated one, with a new tracking number) wins."""

    def test_newer_label_supersedes_the_waiting_older_one(self, engine: Engine) -> None:
        """The old label waits (paused printer); the new one arrives: only the new one prints."""
        engine.operations.pause("memory")
        [old] = engine.submit(label("TRK-OLD-0001"), issued_at=engine.time.time() - 120)
        engine.run()
        [new] = engine.submit(label("TRK-NEW-0002"), issued_at=engine.time.time() - 10)
        with capture_logs() as logs:
            engine.run()
        engine.operations.resume("memory")
        engine.run()
        assert engine.states([old, new]) == ["superseded", "printed"]
        reason = engine.job(old).reason
        assert (reason.code, dict(reason.params)) == ("label.voided", {
            "posting": POSTING, "label": 2, "job": new, "old_tracking": "TRK-OLD-0001", "new_tracking": "TRK-NEW-0002"})
        assert "label_superseded" in events(logs)
        [printed] = engine.printer().labels
        assert "https://ozon.example/t/TRK-NEW-0002" in decode(printed)

    def test_older_label_arriving_late_is_superseded_itself(self, engine: Engine) -> None:
        """The label issued earlier but delivered later is not printed: a newer one is already here."""
        [new] = engine.submit(label("TRK-NEW-0002"), issued_at=engine.time.time() - 10)
        engine.run()
        [late] = engine.submit(label("TRK-OLD-0001"), issued_at=engine.time.time() - 120)
        engine.run()
        assert engine.states([new, late]) == ["printed", "superseded"]
        reason = engine.job(late).reason
        assert (reason.code, dict(reason.params)) == ("label.superseded_before_print", {
            "posting": POSTING, "label": 1, "tracking": "TRK-NEW-0002"})
        assert len(engine.printer().labels) == 1

    def test_printed_older_label_is_marked_void_in_its_history(self, engine: Engine) -> None:
        """A label already printed stays `printed`; its history says it is no longer valid."""
        [old] = engine.submit(label("TRK-A-000001"), issued_at=engine.time.time() - 600)
        engine.run()
        [new] = engine.submit(label("TRK-B-000002"))
        with capture_logs() as logs:
            engine.run()
        assert engine.states([old, new]) == ["printed", "printed"]
        assert engine.moves(old)[-1] == ("printed", "printed")
        note = engine.reasons(old)[-1]
        assert note.code == "label.voided_after_print"
        assert (note.params["old_tracking"], note.params["new_tracking"]) == ("TRK-A-000001", "TRK-B-000002")
        assert "printed_label_voided" in events(logs)

    def test_a_cancelled_older_label_is_left_alone(self, engine: Engine) -> None:
        """An older label an operator cancelled is neither voided nor noted when a newer one arrives."""
        [old] = engine.submit(label("TRK-OLD-0001"), issued_at=engine.time.time() - 120)
        engine.operations.cancel(old)
        history = engine.reasons(old)
        engine.submit(label("TRK-NEW-0002"))
        engine.run()
        assert engine.state(old) is S.CANCELLED and engine.reasons(old) == history

    def test_labels_without_a_posting_never_supersede(self, engine: Engine) -> None:
        """No posting number found: two different labels both print."""
        blank = (Symbol("qr", "no posting here", 4, 4, 0.5),)
        jobs = [engine.submit(cached_label(posting="-", tracking=f"TRK00000000{n}", symbols=blank))[0]
                for n in (1, 2)]
        engine.run()
        assert [engine.job(j).posting for j in jobs] == [None, None]
        assert engine.states(jobs) == ["printed", "printed"]


class TestRepeats:
    """The same label content arriving again (an ERP retry) is a duplicate, not a second print."""

    def test_the_same_label_twice_prints_once(self, engine: Engine) -> None:
        """The second copy becomes `duplicate`, pointing at the first; one label comes out."""
        pdf = label()
        [first] = engine.submit(pdf)
        engine.run()
        [again] = engine.submit(pdf, name="label-retry.pdf")
        engine.run()
        assert engine.states([first, again]) == ["printed", "duplicate"]
        assert engine.job(again).duplicate_of == first
        reason = engine.job(again).reason
        assert (reason.code, dict(reason.params)) == ("label.duplicate", {
            "first": first, "first_state": "printed", "job": again})
        assert len(engine.printer().labels) == 1

    def test_a_repeat_with_other_metadata_is_still_a_repeat(self, engine: Engine) -> None:
        """The content hash covers what the page draws, not the file: new metadata does not make it new."""
        [first] = engine.submit(label_pdf(LabelSpec(), metadata_date="D:20261126010203Z"))
        [again] = engine.submit(label_pdf(LabelSpec(), metadata_date="D:20261127010203Z"))
        engine.run()
        assert engine.states([first, again]) == ["printed", "duplicate"]

    def test_dedupe_off_prints_both(self, memory_dir: Path) -> None:
        """With `dedupe = false` the second copy prints too."""
        with Engine(memory_dir, preflight=PreflightConfig(dedupe=False)) as engine:
            pdf = label()
            jobs = [engine.submit(pdf)[0], engine.submit(pdf)[0]]
            engine.run()
            assert engine.states(jobs) == ["printed", "printed"]

    def test_a_reprint_is_neither_duplicate_nor_superseded(self, engine: Engine) -> None:
        """A reprint is asked for on purpose: it prints the same label again."""
        [job] = engine.submit(label())
        engine.run()
        [reprint] = engine.operations.reprint_job(job, ReprintRequest())
        engine.run()
        assert engine.state(reprint) is S.PRINTED and engine.job(reprint).reprint_of == job
        assert engine.printer().received[0] == engine.printer().received[1]


class TestPreflightPolicies:
    """A failed check leads where its policy says: reject, hold or warn."""

    @pytest.mark.parametrize(("policy", "state"), [("reject", S.REJECTED), ("hold", S.HELD), ("warn", S.PRINTED)])
    def test_low_resolution_image(self, memory_dir: Path, policy: str, state: JobState) -> None:
        """Barcodes embedded as a 150-dpi image, `on_low_dpi` decides; the reason names the resolution."""
        with Engine(memory_dir, preflight=PreflightConfig(on_low_dpi=policy)) as engine:
            [job] = engine.submit(label(raster_dpi=150))
            engine.run()
            assert engine.state(job) is state
            reason = engine.reasons(job)[1]
            if policy == "warn":
                assert reason.code == "job.ready_warning" and re.search(r"barcode image at 1[45]\d(\.\d)? dpi",
                                                                        reason.text())
            else:
                assert reason.code == "preflight.low_dpi_barcode" and round(reason.params["dpi"]) == 150

    def test_unreadable_barcode_is_held(self, memory_dir: Path) -> None:
        """A Code128 too thin for 203 dpi, repair off: held, saying it does not decode on the printer's bitmap."""
        with Engine(memory_dir, preflight=NO_REPAIR) as engine:
            [job] = engine.submit(label(symbols=THIN))
            engine.run()
            assert engine.state(job) is S.HELD
            reason = engine.job(job).reason
            assert reason.code == "preflight.barcode_unreadable"
            assert reason.text() == f"Code128 {POSTING} does not decode on the 203-dpi printer bitmap"

    def test_the_same_barcode_is_repaired_and_prints(self, engine: Engine) -> None:
        """With repair on, the thin code is redrawn on the dot grid and the printed label decodes."""
        [job] = engine.submit(label(symbols=THIN))
        engine.run()
        assert engine.state(job) is S.PRINTED
        assert POSTING in decode(engine.printer().labels[0])
        assert engine.preflight_record(job)["redrawn"]

    def test_label_too_large_for_the_media_is_rejected_naming_who_could_take_it(self, memory_dir: Path) -> None:
        """75×120 on 58×40 media would print at 48 %: rejected, naming the printer whose media fits."""
        printers = [memory_printer("small", media="58x40mm", default=True), memory_printer("big")]
        with Engine(memory_dir, printers) as engine:
            [job] = engine.submit(label())
            engine.run()
            assert engine.state(job) is S.REJECTED
            reason = engine.job(job).reason
            assert (reason.code, reason.params["printers"]) == ("preflight.too_large_elsewhere", ["big"])
            assert "too large for 58×40 mm: it would print at 48%" in reason.text()


class TestRelease:
    """Release is "I looked at it, print it": queued again, forced; reject findings still apply."""

    def test_release_renders_again_and_ignores_hold_findings(self, memory_dir: Path) -> None:
        """A held unreadable label, released: rendered and checked again, forced past the hold, printed."""
        with Engine(memory_dir, preflight=NO_REPAIR) as engine:
            [job] = engine.submit(label(symbols=THIN))
            engine.run()
            released = engine.operations.release(job)
            assert (released.state, released.forced) == (S.QUEUED, True)
            assert released.reason.code == "job.released"
            engine.run()
            assert engine.moves(job)[1:] == [("queued", "held"), ("held", "queued"), ("queued", "ready"),
                                             ("ready", "printing"), ("printing", "printed")]

    def test_an_override_takes_a_rejected_label_past_its_findings_once(self, memory_dir: Path) -> None:
        """A shift lead's override releases even a rejected label, past every pre-flight finding, and
        the job records who gave it and why; an override without a reason is refused."""
        with Engine(memory_dir, preflight=PreflightConfig(on_low_dpi="reject")) as engine:
            [job] = engine.submit(label(raster_dpi=150))
            engine.run()
            assert engine.state(job) is S.REJECTED
            with pytest.raises(BadRequest):
                engine.operations.release(job, override="   ")
            released = engine.operations.release(job, override="checked by hand", actor=Actor(None, "lead"))
            assert (released.state, released.forced, released.reason.code) == (S.QUEUED, True,
                                                                               "job.released_override")
            assert released.override == {"uid": None, "by": "lead", "why": "checked by hand"}
            engine.run()
            assert engine.state(job) is S.PRINTED

    def test_release_does_not_override_a_reject_finding(self, memory_dir: Path) -> None:
        """Held by an operator, released: a label that breaks a reject rule is still rejected."""
        with Engine(memory_dir, preflight=PreflightConfig(on_low_dpi="reject")) as engine:
            [job] = engine.submit(label(raster_dpi=150))
            engine.operations.hold(job)
            engine.operations.release(job)
            engine.run()
            assert engine.state(job) is S.REJECTED

    def test_release_does_not_override_a_newer_label(self, engine: Engine) -> None:
        """A held old label released after a newer one for its posting arrived is superseded, not printed."""
        [old] = engine.submit(label("TRK-OLD-0001"), issued_at=engine.time.time() - 120)
        engine.operations.hold(old)
        [new] = engine.submit(label("TRK-NEW-0002"))
        engine.run()
        engine.operations.release(old)
        engine.run()
        assert engine.states([old, new]) == ["superseded", "printed"]


class TestRenderOutcomes:
    """What the pipeline does when rendering itself goes wrong, or the world changed meanwhile."""

    @pytest.mark.parametrize(("error", "reason"), [
        (ValueError("cannot read xref"), Reason("render.page_failed", page=1, error="cannot read xref")),
        (RenderFailed(Reason("render.timeout", task=Reason("task.render_page", page=1), limit=30.0)),
         Reason("render.timeout", task=Reason("task.render_page", page=1), limit=30.0)),
    ])
    def test_a_page_that_cannot_be_rendered_is_rejected(self, memory_dir: Path, error: Exception, reason: Reason
                                                        ) -> None:
        """The renderer fails on the page: rejected, saying which page and why; the time is measured."""
        def broken(request: RenderRequest) -> RenderResult:
            raise error

        timed: list[float] = []
        with Engine(memory_dir, renderer=broken) as engine:
            engine.render_observers.append(timed.append)
            [job] = engine.submit(label())
            engine.run()
            assert engine.state(job) is S.REJECTED
            assert engine.job(job).reason == reason
            assert len(timed) == 1

    def test_an_unexpected_error_holds_the_label_for_a_person(self, memory_dir: Path) -> None:
        """A failure after rendering (a bug) holds the label, says so, and the pipeline goes on."""
        def no_identity(request: RenderRequest) -> RenderResult:
            return dataclasses.replace(render_page_job(request), record=None)  # type: ignore[arg-type]

        with Engine(memory_dir, renderer=no_identity) as engine:
            jobs = engine.submit(label()) + engine.submit(label("TRK000000002", "12345678-0013-1"))
            with capture_logs() as logs:
                assert engine.render() == 2
            assert engine.states(jobs) == ["held", "held"]
            assert engine.job(jobs[0]).reason.code == "job.prepare_failed"
            assert events(logs).count("render_worker_error") == 2

    def test_a_printer_removed_from_the_configuration_holds_its_jobs(self, engine: Engine) -> None:
        """The job's printer has no driver any more (config reloaded): held, pointing at reprint --printer."""
        [job] = engine.submit(label())
        del engine.pipeline.drivers["memory"]
        engine.render()
        assert engine.state(job) is S.HELD
        assert engine.job(job).reason == Reason("job.printer_gone", printer="memory")

    def test_a_job_cancelled_while_it_rendered_stays_cancelled(self, engine: Engine) -> None:
        """The worker read the job as queued, an operator cancelled it, the render finishes: still cancelled."""
        [job] = engine.submit(label())
        seen = engine.job(job)
        engine.operations.cancel(job)
        with capture_logs() as logs:
            engine.pipeline.process(seen)
        assert engine.state(job) is S.CANCELLED
        assert "job_changed_meanwhile" in events(logs)
        engine.run()
        assert engine.printer().received == []

    def test_identity_from_the_page_and_the_sidecar(self, engine: Engine) -> None:
        """Posting from the barcode and tracking from the text, unless the sidecar says otherwise (and,
        for a posting the label contradicts, says so on purpose)."""
        [found] = engine.submit(label("TRK000000001"))
        [told] = engine.submit(label("TRK000000002", "12345678-0013-1"), posting="87654321-0001-1",
                               tracking="RA123456789RU", posting_mismatch="accept")
        engine.run()
        assert (engine.job(found).posting, engine.job(found).tracking) == (POSTING, "TRK000000001")
        assert (engine.job(told).posting, engine.job(told).tracking) == ("87654321-0001-1", "RA123456789RU")
        assert engine.preflight_record(found)["posting_source"] == "barcode"
        assert engine.state(told) is S.PRINTED

    def test_a_posting_the_label_contradicts_is_rejected_naming_both(self, engine: Engine) -> None:
        """A sidecar posting that the label's barcode contradicts: rejected whatever on_unreadable says, the
        reason names both numbers, and the label keeps its own posting (a reprint by the wrong one finds nothing)."""
        [job] = engine.submit(label("TRK000000003", "64081225-0660-7"), posting="12345678-0000-1")
        engine.run()
        assert engine.state(job) is S.REJECTED
        reason = engine.job(job).reason
        assert reason.code == "preflight.posting_mismatch"
        assert (reason.params["found"], reason.params["given"]) == ("64081225-0660-7", "12345678-0000-1")
        assert engine.job(job).posting == "64081225-0660-7"
        assert engine.spool.jobs(posting="12345678-0000-1") == [] and engine.printer().received == []

