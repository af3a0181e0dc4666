"""Barcode verification and dot-grid repair on real generated label PDFs, decoded with zxing-cpp."""

from __future__ import annotations

import dataclasses

import numpy as np
import pymupdf
import pytest
import zxingcpp

from labeld.bitmap import Bitmap
from labeld.config import PreflightConfig
from labeld.labelmaker import LabelSpec, Symbol, label_pdf
from labeld.media import generic_geometry, parse_media
from labeld.preflight import PageReport, check_page
from labeld.preflight.barcodes import grow, shrink
from labeld.render.rasterize import render_label

POSTING = "12345678-0012-1"
LINK = "https://ozon.example/t/TRK000000001"
CODE128_02 = Symbol("code128", POSTING, 4, 4, 0.2, height_mm=10)
AUTO = PreflightConfig()
OFF = dataclasses.replace(AUTO, barcode_repair="off")


def run(symbols: tuple[Symbol, ...], dpi: int, cfg: PreflightConfig = AUTO,
        rotated: bool = False) -> tuple[PageReport, Bitmap]:
    """Pre-flight of a 58×40 label for a ``dpi`` printer; also the plain render's bitmap."""
    doc = pymupdf.open(stream=label_pdf(LabelSpec(size_mm=(58, 40), symbols=symbols, rotated=rotated)))
    page = doc[0]
    rendered = render_label(page, generic_geometry(parse_media("58x40mm"), dpi))
    return check_page(page, rendered, cfg), rendered.bitmap


def values(bitmap: Bitmap) -> set[str]:
    return {r.text for r in zxingcpp.read_barcodes(np.where(bitmap, 0, 255).astype(np.uint8))}


def around(bitmap: Bitmap, box: list[int], margin: int = 12) -> Bitmap:
    """The part of ``bitmap`` a scanner aimed at ``box`` sees."""
    x0, y0, x1, y1 = box
    return bitmap[max(0, y0 - margin) : y1 + margin, max(0, x0 - margin) : x1 + margin]


def test_code128_with_02mm_modules_verifies_at_300_dpi() -> None:
    """0.2 mm modules are 2.4 dots at 300 dpi: the plain bitmap still decodes."""
    report, _ = run((CODE128_02,), 300, OFF)
    assert [(b.symbology, b.value, b.verified) for b in report.barcodes] == [("Code128", POSTING, True)]
    assert not report.failed


def test_code128_with_02mm_modules_is_caught_at_203_dpi() -> None:
    """At 1.6 dots per module the plain 203-dpi bitmap does not decode, and the finding says so."""
    report, _ = run((CODE128_02,), 203, OFF)
    expected = [f"Code128 {POSTING} does not decode on the 203-dpi printer bitmap"]
    assert [f.reason.text() for f in report.failed] == expected
    assert report.failed[0].check == "barcode"


def test_code128_repaired_at_203_dpi_decodes_under_gain_and_loss() -> None:
    """Redrawn at 2 dots per module, the code decodes on the final bitmap, also with ±1 dot."""
    report, _ = run((CODE128_02,), 203)
    (barcode,) = report.barcodes
    assert (barcode.repaired, barcode.repaired_dots, barcode.robust) == (True, 2, True)
    assert "Code128 12345678-0012-1: 1.6 → 2 dots/module" in [f.reason.text() for f in report.findings]
    for bitmap in (report.bitmap, grow(report.bitmap), shrink(report.bitmap)):
        assert POSTING in values(bitmap)
    assert not report.failed


@pytest.mark.parametrize("symbol", [
    Symbol("qr", LINK, 42, 4, 0.15),
    Symbol("datamatrix", "TRK000000001", 44, 4, 0.15),
], ids=["qr", "datamatrix"])
def test_small_2d_codes_are_repaired_at_203_dpi(symbol: Symbol) -> None:
    """A small QR / DataMatrix that the plain render breaks decodes after the redraw, with ±1 dot."""
    plain, plain_bitmap = run((symbol,), 203, OFF)
    assert not plain.barcodes[0].verified
    assert symbol.value not in values(around(plain_bitmap, plain.barcodes[0].box))
    report, _ = run((symbol,), 203)
    assert report.barcodes[0].repaired and report.barcodes[0].robust
    final = around(report.bitmap, report.barcodes[0].box)
    for bitmap in (final, grow(final), shrink(final)):
        assert symbol.value in values(bitmap)
    outside = np.ones_like(plain_bitmap)
    x0, y0, x1, y1 = report.barcodes[0].box
    outside[max(0, y0 - 12) : y1 + 12, max(0, x0 - 12) : x1 + 12] = False
    assert np.array_equal(report.bitmap[outside], plain_bitmap[outside])


def test_repair_on_a_turned_label() -> None:
    """A label that arrives sideways is turned by the renderer; the redraw follows the turn."""
    report, _ = run((CODE128_02,), 203, rotated=True)
    assert report.barcodes[0].repaired
    assert {POSTING} <= values(report.bitmap) & values(grow(report.bitmap)) & values(shrink(report.bitmap))


@pytest.mark.parametrize(("symbols", "dpi"), [
    ((Symbol("code128", POSTING, 4, 4, 0.25, height_mm=10), Symbol("qr", LINK, 40, 16, 0.5)), 203),
    ((Symbol("code128", POSTING, 4, 4, 0.25, height_mm=10), Symbol("datamatrix", "TRK1", 44, 24, 0.5)), 300),
    ((Symbol("ean13", "4006381333931", 4, 4, 0.375, height_mm=10),), 203),
], ids=["203-code128-qr", "300-code128-dm", "203-ean13"])
def test_labels_already_fine_are_left_bit_for_bit(symbols: tuple[Symbol, ...], dpi: int) -> None:
    """Modules on whole dots that survive ±1 dot: nothing redrawn, the bitmap is the plain render."""
    report, plain = run(symbols, dpi)
    assert np.array_equal(report.bitmap, plain)
    assert [b.repaired for b in report.barcodes] == [False] * len(symbols)
    assert all(b.verified and b.robust for b in report.barcodes)


def test_repair_off_leaves_the_bitmap_alone() -> None:
    report, plain = run((CODE128_02,), 203, OFF)
    assert np.array_equal(report.bitmap, plain) and not report.repaired


def test_no_room_for_a_whole_dot_size_is_a_warning() -> None:
    """A code hemmed in by other ink cannot grow: it is left as rendered and the report says why."""
    crowded = (Symbol("code128", POSTING, 4, 4, 0.2, height_mm=10), Symbol("qr", LINK, 40, 4, 0.5))
    report, _ = run(crowded, 203)
    code = next(b for b in report.barcodes if b.symbology == "Code128")
    assert not code.repaired
    assert any(f.check == "repair" and "no whole-dot size fits" in f.reason.text() for f in report.findings)


def test_report_is_json_able() -> None:
    import json

    report, _ = run((CODE128_02,), 203)
    data = json.loads(json.dumps(report.to_dict()))
    assert data["barcodes"][0]["repaired_dots"] == 2 and data["passed"] is True
