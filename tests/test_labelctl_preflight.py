"""`labelctl show` makes the pre-flight visible: what was checked, what was redrawn."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from labeld.bitmap import from_png
from labeld.labelmaker import LabelSpec, Symbol, label_pdf
from labeld.testing.daemon import DaemonProcess
from tests.conftest import decode


def test_show_reports_a_barcode_redrawn_on_the_203_dpi_grid(tmp_path: Path) -> None:
    printers = [{"name": "zd", "driver": "preview", "uri": f"dir://{tmp_path / 'out'}", "media": "58x40mm",
                 "dpi": 203, "default": True}]
    spec = LabelSpec(size_mm=(58, 40), symbols=(Symbol("code128", "12345678-0012-1", 4, 4, 0.2, 12.0),))
    with DaemonProcess(tmp_path / "d", printers=printers) as d:
        d.drop("thin.pdf", label_pdf(spec))
        d.wait_states(1)
        shown = subprocess.run([sys.executable, "-m", "labeld.cli.labelctl", "--socket", str(d.socket), "show", "1"],
                               capture_output=True, text=True, timeout=30)
        assert shown.returncode == 0, shown.stderr
        assert "Code128 12345678-0012-1: ok (1.6 dots/module, redrawn at 2 dots/module)" in shown.stdout
        assert "fit: whole page, true size" in shown.stdout
        png = next((tmp_path / "out").glob("*.png"))
        assert decode(from_png(png.read_bytes())) == ["12345678-0012-1"]
