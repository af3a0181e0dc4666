"""The render sandbox: a persistent worker that is killed at its time limit, stopped by its memory
limit, replaced after a crash, and keeps serving after each failure."""

from __future__ import annotations

import functools
import os
import signal
import time
from collections.abc import Iterator

import numpy as np
import pymupdf
import pytest
import zxingcpp

from labeld.bitmap import Bitmap
from labeld.errors import RejectedInput
from labeld.labelmaker import LabelSpec, label_pdf
from labeld.media import generic_geometry, parse_media
from labeld.reasons import Reason
from labeld.render.sandbox import (
    RenderCrashed,
    RenderFailed,
    RenderMemoryExceeded,
    RenderSandbox,
    RenderTimeout,
)

MB = 1024 * 1024


# Work done in the worker: module-level so that the worker can import it by name.

def add(a: int, b: int) -> int:
    return a + b


def worker_pid() -> int:
    return os.getpid()


def loop_forever() -> None:
    while True:
        pass


def allocate_2gb() -> int:
    return len(bytearray(2 * 1024 * MB))


def abort() -> None:
    os.abort()


def refuse(reason: str) -> None:
    raise RejectedInput(Reason.plain(reason), {"page": 1})


def render_first_page(pdf: bytes, media: str, dpi: int) -> Bitmap:
    from labeld.render.rasterize import render_label

    with pymupdf.open(stream=pdf, filetype="pdf") as doc:
        return render_label(doc[0], generic_geometry(parse_media(media), dpi)).bitmap


def render_huge_page(size_pt: int, dpi: int) -> int:
    """A page metres wide at print resolution: what a page-area bomb asks of the renderer."""
    with pymupdf.open() as doc:
        page = doc.new_page(width=size_pt, height=size_pt)
        return int(page.get_pixmap(dpi=dpi).width)


@pytest.fixture(scope="module")
def sandbox() -> Iterator[RenderSandbox]:
    with RenderSandbox(timeout=60.0, memory_limit=256 * MB) as box:  # a hang bound: a render here takes ms
        yield box


def test_normal_call_returns_its_value_from_another_process(sandbox: RenderSandbox) -> None:
    """A plain call gives back its result, computed in the worker, not in the daemon."""
    assert sandbox.run(add, 2, 3) == 5
    assert sandbox.run(worker_pid) == sandbox.pid != os.getpid()


def test_worker_is_reused(sandbox: RenderSandbox) -> None:
    """200 calls share one worker: no process is started for them (the cost of a call is measured
    in benchmarks/bench_sandbox.py, not asserted here)."""
    pid, started_before = sandbox.run(worker_pid), sandbox.workers_started
    for i in range(200):
        assert sandbox.run(add, i, 1) == i + 1
    assert sandbox.run(worker_pid) == pid
    assert sandbox.workers_started == started_before


def test_endless_loop_is_killed_at_the_time_limit(sandbox: RenderSandbox) -> None:
    """A call that never ends is stopped at its limit, and the next call gets a fresh worker."""
    old_pid = sandbox.pid
    started = time.monotonic()
    with pytest.raises(RenderTimeout) as caught:
        sandbox.run(loop_forever, task=Reason("task.render_page", page=1), timeout=0.5)
    elapsed = time.monotonic() - started
    assert 0.5 <= elapsed < 30  # not before the limit; 30 s: a hang bound (it never ends by itself)
    assert caught.value.reason.text().startswith("rendering page 1 took longer than 0.5 s")
    assert isinstance(caught.value, RejectedInput)
    assert sandbox.run(add, 1, 1) == 2
    assert sandbox.pid != old_pid


def test_allocating_2gb_is_stopped_by_the_memory_limit(sandbox: RenderSandbox) -> None:
    """2 GB against a 256 MB limit fails in the worker, is reported as memory, and the worker is replaced."""
    restarts = sandbox.restarts
    with pytest.raises(RenderMemoryExceeded) as caught:
        sandbox.run(allocate_2gb)
    assert "needed more than 256 MB" in caught.value.reason.text()
    assert sandbox.run(add, 2, 2) == 4
    assert sandbox.restarts == restarts + 1


def test_mupdf_running_out_of_memory_is_reported_as_memory(sandbox: RenderSandbox) -> None:
    """MuPDF's own failed malloc on a page-area bomb counts as the memory limit, not as a bad PDF."""
    with pytest.raises(RenderMemoryExceeded):
        sandbox.run(render_huge_page, 4200, 300)
    assert sandbox.run(add, 3, 3) == 6


def test_crash_is_reported_with_its_signal(sandbox: RenderSandbox) -> None:
    """A worker that aborts is reported as a crash naming the signal; the daemon goes on."""
    with pytest.raises(RenderCrashed) as caught:
        sandbox.run(abort, task=Reason("task.open_pdf"))
    assert caught.value.reason.text() == ("opening the PDF crashed the render worker (killed by SIGABRT); "
                                   "the PDF may be damaged")
    assert sandbox.run(add, 4, 4) == 8


def test_exceptions_from_the_callable_come_back_whole(sandbox: RenderSandbox) -> None:
    """An ordinary rejection raised in the worker arrives as the same exception, reason and detail."""
    with pytest.raises(RejectedInput) as caught:
        sandbox.run(refuse, "page 1 is 2 m long")
    assert type(caught.value) is RejectedInput
    assert (caught.value.reason.text(), caught.value.detail) == ("page 1 is 2 m long", {"page": 1})


def test_unreadable_pdf_raises_pymupdfs_own_error(sandbox: RenderSandbox) -> None:
    """A file that is no PDF raises PyMuPDF's FileDataError here, as it would in-process."""
    with pytest.raises(pymupdf.FileDataError):
        sandbox.run(render_first_page, b"%PDF-1.7 this is not a PDF", "75x120mm", 203)
    assert sandbox.run(add, 6, 6) == 12


def test_unpicklable_native_errors_become_render_failures(sandbox: RenderSandbox) -> None:
    """MuPDF's own exceptions hold C pointers and do not pickle; they come back as RenderFailed with their text."""
    with pytest.raises(RenderFailed) as caught:
        sandbox.run(render_huge_page, 14400, 300, task=Reason("task.render_page", page=2))
    assert caught.value.reason.text() == "rendering page 2 failed: FzErrorLimit: code=5: Overly large image"
    assert not isinstance(caught.value, (RenderTimeout, RenderMemoryExceeded, RenderCrashed))


def test_real_label_renders_in_the_worker_with_readable_barcodes(sandbox: RenderSandbox) -> None:
    """A label PDF rendered in the worker returns a bitmap whose barcodes still decode."""
    pdf = label_pdf(LabelSpec(posting="87654321-0001-1", tracking="TRK000000777"))
    geometry = generic_geometry(parse_media("75x120mm"), 203)
    bitmap = sandbox.run(functools.partial(render_first_page, pdf, "75x120mm"), 203)
    assert bitmap.dtype == np.bool_ and bitmap.shape == (geometry.length_dots, geometry.width_dots)
    image = np.where(bitmap, 0, 255).astype(np.uint8)
    texts = {barcode.text for barcode in zxingcpp.read_barcodes(image)}
    assert {"87654321-0001-1", "https://ozon.example/t/TRK000000777"} <= texts


def test_worker_killed_while_idle_is_replaced(sandbox: RenderSandbox) -> None:
    """A worker that died between calls (say, the kernel's OOM killer) is replaced on the next call."""
    pid = sandbox.run(worker_pid)
    os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 30
    while sandbox.pid is not None and time.monotonic() < deadline:
        time.sleep(0.01)
    assert sandbox.run(add, 7, 7) == 14
    assert sandbox.pid != pid


def test_closed_sandbox_leaves_no_worker() -> None:
    """close() kills the worker; a later call starts a new one."""
    box = RenderSandbox(timeout=60.0, memory_limit=None)
    pid = box.run(worker_pid)
    box.close()
    assert box.pid is None
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    assert box.run(add, 5, 5) == 10
    box.close()
