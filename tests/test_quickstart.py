"""The README's promise: `labeld run` with no config, a PDF in, PNGs out."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from labeld.bitmap import from_png
from labeld.config import SYSTEM_CONFIG
from labeld.labelmaker import batch_pdf
from tests.conftest import decode


@pytest.mark.skipif(SYSTEM_CONFIG.exists(), reason="/etc/labeld/config.toml exists; built-in defaults do not apply")
def test_builtin_defaults_print_a_multipage_pdf_as_pngs(tmp_path: Path) -> None:
    """A PDF copied into labeld-data/inbox/ comes out as one PNG per page, barcodes readable.

    Speed is the benchmarks' business (BENCHMARKS.md: hot folder to first byte, ~30 ms); this
    test only refuses a pipeline that stalls (60 s: a hang, not a slow machine)."""
    env = {k: v for k, v in os.environ.items() if k != "NOTIFY_SOCKET"}
    daemon = subprocess.Popen([sys.executable, "-m", "labeld.cli.labeld_cmd", "run"], cwd=tmp_path, env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        data_dir = tmp_path / "labeld-data"
        deadline = time.monotonic() + 60
        while not (data_dir / "labeld.sock").exists():
            assert daemon.poll() is None, daemon.communicate()[1]
            assert time.monotonic() < deadline, "labeld did not start"
            time.sleep(0.05)
        source = tmp_path / "batch.pdf"
        source.write_bytes(batch_pdf(3))
        started = time.monotonic()
        shutil.copyfile(source, data_dir / "inbox" / "batch.pdf")  # copied in place, as `cp` does
        printed = data_dir / "printed"
        while len(list(printed.glob("*.png"))) < 3:
            assert time.monotonic() - started < 60, "no PNGs after 60 s"
            time.sleep(0.02)
        pngs = sorted(printed.glob("*.png"))
        values = [decode(from_png(p.read_bytes())) for p in pngs]
        assert all(from_png(p.read_bytes()).shape == (1417, 886) for p in pngs)  # 75×120 mm at 300 dpi
        assert [v[0] for v in values] == [f"{10000000 + i:08d}-0001-1" for i in range(3)]
        assert (data_dir / "archive").rglob("batch.pdf")
        ctl_env = {k: v for k, v in env.items() if k != "LABELD_SOCKET"}
        status = subprocess.run([sys.executable, "-m", "labeld.cli.labelctl", "status"], cwd=tmp_path, env=ctl_env,
                                capture_output=True, text=True, timeout=60)
        assert status.returncode == 0 and "preview *" in status.stdout, "labelctl finds ./labeld-data/labeld.sock"
    finally:
        daemon.send_signal(signal.SIGTERM)
        _, stderr = daemon.communicate(timeout=30)
    assert daemon.returncode == 0
    assert "running on built-in defaults" in stderr and f"control socket {data_dir / 'labeld.sock'}" in stderr
    events = [json.loads(line) for line in stderr.splitlines() if line.startswith("{")]
    assert [e["event"] for e in events if e["event"] in ("labeld_started", "labeld_stopped")] == [
        "labeld_started", "labeld_stopped"]
    assert all({"job", "label", "printer"} <= e.keys() for e in events if e["event"] == "job_printed")
