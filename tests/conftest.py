"""Shared fixtures: real daemons in child processes, the engine in process, label PDFs made on demand."""

from __future__ import annotations

import functools
import os
import pwd
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pymupdf
import pytest
import zxingcpp

from labeld.bitmap import Bitmap
from labeld.labelmaker import LabelSpec, batch_pdf, label_pdf
from labeld.media import Geometry
from labeld.render.rasterize import render_label
from labeld.testing.bench import EmulatorBench
from labeld.testing.daemon import DaemonProcess
from labeld.testing.engine import Engine

#: tmpfs, where fsync costs nothing: the in-process engine tests commit thousands of times.
MEMORY_FS = Path("/dev/shm")


@pytest.fixture
def bench(tmp_path: Path) -> Iterator[EmulatorBench]:
    """Emulated printers on TCP, a pty or virtual USB, for a daemon in another process."""
    plugged = EmulatorBench(tmp_path)
    yield plugged
    plugged.close()


@pytest.fixture
def daemons() -> Iterator[list[DaemonProcess]]:
    """Daemons a test starts; each is stopped cleanly afterwards."""
    started: list[DaemonProcess] = []
    yield started
    for process in started:
        process.stop()


@pytest.fixture
def daemon(tmp_path: Path) -> Iterator[DaemonProcess]:
    """A started labeld with one preview printer (75×120 mm, 300 dpi) writing PNGs."""
    with DaemonProcess(tmp_path / "labeld") as process:
        yield process


@pytest.fixture
def memory_dir(tmp_path: Path) -> Iterator[Path]:
    """A scratch folder on tmpfs where there is one (else ``tmp_path``): the real spool, fsyncs and
    all, without waiting for a shared disk."""
    if not os.access(MEMORY_FS, os.W_OK):
        yield tmp_path
        return
    folder = Path(tempfile.mkdtemp(prefix="labeld-test-", dir=MEMORY_FS))
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def engine(memory_dir: Path, request: pytest.FixtureRequest) -> Iterator[Engine]:
    """The engine in this process with one memory printer (75×120 mm, 203 dpi) and a fake clock;
    pre-flight as configured by default, or as the test module's ``ENGINE_PREFLIGHT`` says."""
    with Engine(memory_dir, preflight=getattr(request.module, "ENGINE_PREFLIGHT", None)) as assembled:
        yield assembled


@functools.cache
def cached_label(**spec: Any) -> bytes:
    """``label_pdf(LabelSpec(**spec))``, made once per run: the engine tests print the same few
    labels again and again, and drawing one costs more than printing it."""
    return label_pdf(LabelSpec(**spec))


@functools.cache
def cached_batch(count: int, first_posting: int = 10000000) -> bytes:
    """``batch_pdf(count, first_posting=…)``, made once per run."""
    return batch_pdf(count, first_posting=first_posting)


def decode(bitmap: Bitmap) -> list[str]:
    """Every barcode value zxing-cpp finds in a bitmap (True = black), with a white margin
    added the way a label has one around it on the roll."""
    gray = np.pad(np.where(bitmap, 0, 255).astype(np.uint8), 20, constant_values=255)
    return sorted(b.text for b in zxingcpp.read_barcodes(gray))


def render(spec: LabelSpec, geometry: Geometry) -> Bitmap:
    """A generated label on ``geometry``'s dot grid, as labeld renders it."""
    return render_label(pymupdf.open("pdf", label_pdf(spec))[0], geometry).bitmap


def become(user: str) -> None:
    """In a forked child: take ``user``'s groups, gid and uid, in that order (root only)."""
    entry = pwd.getpwnam(user)
    os.setgroups(os.getgrouplist(user, entry.pw_gid))
    os.setgid(entry.pw_gid)
    os.setuid(entry.pw_uid)
