"""Shared fixtures: real daemons in child processes and label PDFs made on demand."""

from __future__ import annotations

import os
import pwd
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pymupdf
import pytest
import zxingcpp

from labeld.bitmap import Bitmap
from labeld.labelmaker import LabelSpec, label_pdf
from labeld.media import Geometry
from labeld.render.rasterize import render_label
from labeld.testing.bench import EmulatorBench
from labeld.testing.daemon import DaemonProcess


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
