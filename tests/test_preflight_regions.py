"""Where pre-flight looks for barcodes (the page's own drawing log), and the symbologies and turns it
handles: real generated labels, decoded with zxing-cpp."""

from __future__ import annotations

import numpy as np
import pymupdf
import pytest
import zxingcpp

from labeld.bitmap import Bitmap
from labeld.config import PreflightConfig
from labeld.labelmaker import LabelSpec, Symbol, label_pdf
from labeld.media import generic_geometry, parse_media
from labeld.preflight import PageReport, check_page
from labeld.preflight.barcodes import find_truth, grow, regions, shrink
from labeld.render.rasterize import render_label

POSTING = "12345678-0012-1"
LINK = "https://ozon.example/t/TRK000000001"


def page_of(spec: LabelSpec) -> pymupdf.Page:
    return pymupdf.open(stream=label_pdf(spec))[0]


def run(spec: LabelSpec, dpi: int) -> PageReport:
    page = page_of(spec)
    media = parse_media(f"{spec.size_mm[0]:g}x{spec.size_mm[1]:g}mm")
    return check_page(page, render_label(page, generic_geometry(media, dpi)), PreflightConfig())


def decodes(bitmap: Bitmap, value: str) -> bool:
    return value in {r.text for r in zxingcpp.read_barcodes(np.where(bitmap, 0, 255).astype(np.uint8))}


def test_a_rich_label_is_searched_only_where_barcodes_can_be() -> None:
    """Border, rules, a banner and a round logo are not barcode places; the Code128 and the QR are."""
    page = page_of(LabelSpec(rich=True))
    places = regions(page)
    assert places is not None and len(places) == 2
    assert sorted(b.value for b in find_truth(page)) == sorted([POSTING, LINK])


def test_a_raster_label_is_decoded_at_the_images_own_resolution() -> None:
    page = page_of(LabelSpec(raster_dpi=300))
    places = regions(page)
    assert places is not None and len(places) == 2 and all(299 <= p.dpi <= 302 for p in places)
    assert sorted(b.value for b in find_truth(page)) == sorted([POSTING, LINK])


def test_text_in_a_barcode_font_means_the_whole_page_is_searched() -> None:
    doc = pymupdf.open(stream=label_pdf(LabelSpec()))
    page = doc[0]
    page.insert_font(fontname="Code128", fontbuffer=pymupdf.Font("helv").buffer)
    page.insert_text((20, 200), "Ì12345678Î", fontname="Code128", fontsize=12)
    assert regions(page) is None
    assert sorted(b.value for b in find_truth(page)) == sorted([POSTING, LINK])


@pytest.mark.parametrize("symbol", [
    Symbol("pdf417", POSTING, 4, 4, 0.15),
    Symbol("aztec", "TRK000000001", 4, 4, 0.15),
], ids=["pdf417", "aztec"])
def test_pdf417_and_aztec_are_redrawn_on_the_dot_grid(symbol: Symbol) -> None:
    report = run(LabelSpec(size_mm=(58, 40), symbols=(symbol,)), 203)
    (barcode,) = report.barcodes
    assert barcode.repaired and barcode.robust
    for bitmap in (report.bitmap, grow(report.bitmap), shrink(report.bitmap)):
        assert decodes(bitmap, symbol.value)


@pytest.mark.parametrize("angle", [90.0, 3.0, -2.0])
def test_turned_symbols_are_found_and_hold_up(angle: float) -> None:
    """A QR turned 90° or a few degrees is found, checked and (where needed) redrawn."""
    symbol = Symbol("qr", LINK, 20, 10, 0.33, angle=angle)
    report = run(LabelSpec(size_mm=(75, 120), symbols=(symbol,)), 203)
    (barcode,) = report.barcodes
    assert barcode.value == LINK and barcode.robust
    for bitmap in (report.bitmap, grow(report.bitmap), shrink(report.bitmap)):
        assert decodes(bitmap, LINK)


def test_a_code128_turned_90_degrees_is_repaired_along_its_reading_direction() -> None:
    symbol = Symbol("code128", POSTING, 20, 5, 0.2, height_mm=10, angle=90)
    report = run(LabelSpec(size_mm=(75, 120), symbols=(symbol,)), 203)
    (barcode,) = report.barcodes
    assert (barcode.repaired, barcode.repaired_dots, barcode.robust) == (True, 2, True)
