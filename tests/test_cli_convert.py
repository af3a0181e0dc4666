"""`labeld convert` and `labeld preflight`: the pipeline without a daemon."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from labeld.bitmap import from_png
from labeld.labelmaker import LabelSpec, Symbol, batch_pdf, label_pdf
from labeld.testing.zpl_emulator import make_emulator
from tests.conftest import decode


def labeld(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "labeld.cli.labeld_cmd", *args], capture_output=True, text=True,
                          timeout=120)


def test_convert_to_preview_pngs(tmp_path: Path) -> None:
    pdf = tmp_path / "in.pdf"
    pdf.write_bytes(batch_pdf(2, size_mm=(58, 40)))
    result = labeld("convert", str(pdf), "--driver", "preview", "--media", "58x40mm", "--dpi", "203",
                    "-o", str(tmp_path / "out"))
    assert result.returncode == 0, result.stderr
    pngs = sorted((tmp_path / "out").glob("*.png"))
    assert [p.name for p in pngs] == ["0001.png", "0002.png"]
    assert from_png(pngs[0].read_bytes()).shape == (320, 464)
    assert "2 label(s)" in result.stderr


def test_convert_to_zpl_decodes_to_the_same_labels(tmp_path: Path) -> None:
    """The bytes `convert` writes, fed to the ZPL emulator, come back as labels whose barcodes scan."""
    pdf = tmp_path / "in.pdf"
    pdf.write_bytes(batch_pdf(2))
    out = tmp_path / "labels.zpl"
    result = labeld("convert", str(pdf), "--driver", "zpl", "--media", "75x120mm", "--dpi", "203", "-o", str(out))
    assert result.returncode == 0, result.stderr
    emulator = make_emulator(tmp_path / "emu", dpi=203, speed_mm_s=10_000)
    emulator.feed(out.read_bytes())
    emulator.wait_labels(2, timeout=10)
    labels = [from_png(p.read_bytes()) for p in sorted((tmp_path / "emu").glob("*.png"))]
    assert [lbl.shape for lbl in labels] == [(959, 599)] * 2
    assert "10000001-0001-1" in decode(labels[1])


def test_preflight_reports_every_check_and_fails_a_low_resolution_label(tmp_path: Path) -> None:
    good, bad = tmp_path / "good.pdf", tmp_path / "bad.pdf"
    good.write_bytes(label_pdf(LabelSpec()))
    bad.write_bytes(label_pdf(LabelSpec(raster_dpi=150, symbols=(
        Symbol("code128", "12345678-0012-1", 5, 5, 0.4, 15.0),))))
    ok = labeld("preflight", str(good), "--dpi", "300")
    assert ok.returncode == 0, ok.stderr
    report = json.loads(ok.stdout)
    assert report["ok"] and report["labels"][0]["posting_number"] == "12345678-0012-1"
    failed = labeld("preflight", str(bad), "--dpi", "300")
    assert failed.returncode == 1
    finding = json.loads(failed.stdout)["labels"][0]["findings"][0]
    assert finding["check"] == "resolution" and finding["policy"] == "reject"
    assert finding["reason"].startswith("barcode image at 15")  # 150 dpi, give or take a pixel's rounding
    assert finding["reason"].endswith("dpi; Ozon requires ≥ 300 dpi (Invalid Document)")


def test_unknown_media_or_model_is_a_usage_error_not_a_traceback(tmp_path: Path) -> None:
    """A --media or --model that names nothing ends with one sentence and exit code 2."""
    source = tmp_path / "label.pdf"
    source.write_bytes(label_pdf(LabelSpec()))
    for extra in (["--driver", "zpl", "--media", "bogus"], ["--driver", "brother_ql", "--model", "QL-9"]):
        done = labeld("convert", str(source), *extra, "-o", str(tmp_path / "out"))
        assert done.returncode == 2, done.stderr
        assert "Traceback" not in done.stderr and done.stderr.startswith("labeld: ")
