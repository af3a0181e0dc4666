"""An image placed at exactly 300 dpi passes whatever rounding its PDF producer used; a real shortfall
fails and says its dpi without contradicting itself; a 1-D barcode is judged along its scan direction."""

from __future__ import annotations

import io
import json
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pymupdf
import pytest
from PIL import Image

from labeld.config import PreflightConfig
from labeld.labelmaker import module_pattern
from labeld.media import generic_geometry, parse_media
from labeld.preflight import check_page
from labeld.preflight.report import PageReport
from labeld.render.rasterize import render_label

PT_PER_MM = 72 / 25.4
PAGE = (75 * PT_PER_MM, 120 * PT_PER_MM)
POSTING = "73710533-0456-1"
#: How PDF producers write a length in points: the arithmetic each uses for the image's placed size.
PRODUCERS: dict[str, Callable[[float], str]] = {
    "exact (repr)": repr,
    "2 decimals (ReportLab-like)": lambda pt: f"{pt:.2f}",
    "3 decimals": lambda pt: f"{pt:.3f}",
    "1/100 mm (LibreOffice-like)": lambda pt: f"{round(pt / PT_PER_MM * 100) / 100 * PT_PER_MM:.4f}",
    "twips (Word-like)": lambda pt: f"{round(pt * 20) / 20:.2f}",
    "float32 (Skia-like)": lambda pt: repr(float(np.float32(pt))),
}


def barcode_png(kind: str, value: str, px_per_module: int, rows: int | None = None) -> tuple[bytes, int, int]:
    """A barcode as a PNG with whole pixels per module; a 1-D code gets ``rows`` pixel rows."""
    pattern = module_pattern(kind, value)
    if rows is not None:
        pattern = np.repeat(pattern[:1], rows, axis=0)
        pattern = np.repeat(pattern, px_per_module, axis=1)
    else:
        pattern = np.repeat(np.repeat(pattern, px_per_module, axis=0), px_per_module, axis=1)
    out = io.BytesIO()
    Image.fromarray(np.where(pattern, 0, 255).astype(np.uint8)).save(out, format="PNG")
    return out.getvalue(), int(pattern.shape[1]), int(pattern.shape[0])


def placed(png: bytes, content: Callable[[str], str], rotation: int = 0) -> pymupdf.Document:
    """A 75×120 mm page drawing ``png`` with a content stream written by hand (``content(name)``)."""
    doc = pymupdf.open()
    page = doc.new_page(width=PAGE[0], height=PAGE[1])
    page.insert_image(pymupdf.Rect(10, 10, 50, 50), stream=png)
    name = page.get_images(full=True)[0][7]
    first, *rest = page.get_contents()
    doc.update_stream(first, content(name).encode())
    for xref in rest:
        doc.update_stream(xref, b"")
    page.set_rotation(rotation)
    return pymupdf.open("pdf", doc.tobytes())


def at(width: str, height: str, x: float = 20.0, top: float = 30.0, page_h: float = PAGE[1]) -> Callable[[str], str]:
    def content(name: str) -> str:
        return f"q {width} 0 0 {height} {x} {page_h - top - float(height)} cm /{name} Do Q"
    return content


def check(doc: pymupdf.Document) -> PageReport:
    page = doc[0]
    rendered = render_label(page, generic_geometry(parse_media("75x120mm"), 300))
    return check_page(page, rendered, PreflightConfig(barcode_repair="off"))


def resolution_reasons(report: PageReport) -> list[str]:
    return [f.reason.text() for f in report.findings if f.check == "resolution"]


def shown(reason: str) -> float:
    found = re.search(r"at ([0-9.]+) dpi", reason)
    assert found, reason
    return float(found[1])


@pytest.mark.parametrize("producer", PRODUCERS)
@pytest.mark.parametrize(("dpi", "passes"), [(300.0, True), (299.5, False), (290.0, False)])
def test_placed_size_rounding_decides_nothing_but_a_real_shortfall_does(producer: str, dpi: float,
                                                                        passes: bool) -> None:
    """Exactly 300 dpi passes by every producer's arithmetic; 299.5 and 290 fail, and the dpi the
    sentence names is below 300 and within 0.1 dpi of the truth (rounded down, never up)."""
    png, px_w, px_h = barcode_png("code128", POSTING, 4, rows=213)
    write = PRODUCERS[producer]
    width, height = write(px_w * 72 / dpi), write(px_h * 72 / dpi)
    report = check(placed(png, at(width, height)))
    assert [i.barcode for i in report.images] == [True]
    reasons = resolution_reasons(report)
    if passes:
        assert reasons == [], (producer, width, reasons)
        return
    [reason] = reasons
    measured = px_w / (float(width) / 72)
    assert shown(reason) < 300 and measured - 0.1 <= shown(reason) <= measured + 0.001, (producer, reason, measured)


def test_a_page_in_300_dpi_user_units_places_its_image_exactly() -> None:
    """A scanner-style page (0.24 0 0 0.24 cm, the image in whole dots) measures 300 dpi and passes."""
    png, px_w, px_h = barcode_png("code128", POSTING, 4, rows=213)
    dots_h = PAGE[1] / 0.24

    def content(name: str) -> str:
        return f"q 0.24 0 0 0.24 0 0 cm q {px_w} 0 0 {px_h} 100 {dots_h - 100 - px_h:.0f} cm /{name} Do Q Q"

    report = check(placed(png, content))
    assert resolution_reasons(report) == [] and report.images[0].judged_dpi == pytest.approx(300, abs=0.01)


@pytest.mark.parametrize("rotation", [0, 90])
def test_a_1d_barcode_stretched_along_its_bars_passes_but_not_across_them(rotation: int) -> None:
    """300 dpi across the bars and 233 dpi along them passes (judged along the scan direction), on an
    upright or a turned page; 233 across the bars fails, naming 233 dpi."""
    png, px_w, px_h = barcode_png("code128", POSTING, 3, rows=160)
    tall = check(placed(png, at(repr(px_w * 72 / 300), repr(px_h * 72 / 233)), rotation))
    assert resolution_reasons(tall) == []
    assert (tall.images[0].judged, round(tall.images[0].judged_dpi)) == ("scan direction", 300)
    assert round(tall.images[0].dpi) == 233, "the lower axis is still reported"
    wide = check(placed(png, at(repr(px_w * 72 / 233), repr(px_h * 72 / 300), x=12.0), rotation))
    [reason] = resolution_reasons(wide)
    assert reason.startswith("barcode image at 23") and 232.9 <= shown(reason) <= 233.0


def test_a_2d_code_is_judged_on_both_axes() -> None:
    """A QR code's modules are squares: stretched to 233 dpi on one axis it fails."""
    png, px_w, px_h = barcode_png("qr", f"OZON:{POSTING}", 8)
    report = check(placed(png, at(repr(px_w * 72 / 300), repr(px_h * 72 / 233))))
    assert report.images[0].judged == "both axes"
    assert [shown(r) for r in resolution_reasons(report)] == [pytest.approx(233, abs=0.1)]


def test_labeld_preflight_passes_a_label_at_exactly_300_dpi(tmp_path: Path) -> None:
    """The issue's label: a 668×213 px Code128 at its exact 300-dpi size passes `labeld preflight`."""
    png, px_w, px_h = barcode_png("code128", POSTING, 4, rows=213)
    assert (px_w, px_h) == (668, 213)
    path = tmp_path / "exact.pdf"
    path.write_bytes(placed(png, at(f"{px_w * 72 / 300:.2f}", f"{px_h * 72 / 300:.2f}")).tobytes())
    done = subprocess.run([sys.executable, "-m", "labeld.cli.labeld_cmd", "preflight", str(path)],
                          capture_output=True, text=True, timeout=120)
    report = json.loads(done.stdout)
    assert done.returncode == 0 and report["ok"], done.stdout[-2000:]
