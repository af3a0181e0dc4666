"""Effective resolution of embedded images, measured at placed size on real generated PDFs."""

from __future__ import annotations

import re

import pymupdf
import pytest

from labeld.config import PreflightConfig
from labeld.labelmaker import LabelSpec, label_pdf
from labeld.media import generic_geometry, parse_media
from labeld.preflight import check_page
from labeld.preflight.resolution import placed_images
from labeld.render.rasterize import render_label


def preflight(spec: LabelSpec, media: str = "75x120mm", dpi: int = 300):  # type: ignore[no-untyped-def]
    page = pymupdf.open(stream=label_pdf(spec))[0]
    rendered = render_label(page, generic_geometry(parse_media(media), dpi))
    return check_page(page, rendered, PreflightConfig(barcode_repair="off"))


def test_150_dpi_raster_barcode_is_a_low_dpi_finding() -> None:
    """A barcode embedded at 150 dpi is named as a barcode image below Ozon's 300 dpi."""
    report = preflight(LabelSpec(raster_dpi=150))
    reasons = [f.reason.text() for f in report.failed if f.check == "resolution"]
    assert len(reasons) == 2
    for reason in reasons:
        measured = re.fullmatch(r"barcode image at ([0-9.]+) dpi; Ozon requires ≥ 300 dpi \(Invalid Document\)",
                                reason)
        assert measured and float(measured[1]) == pytest.approx(150, abs=0.5), reason
    assert all(image.barcode for image in report.images)


@pytest.mark.parametrize("dpi", [300, 600])
def test_300_and_600_dpi_raster_barcodes_pass(dpi: int) -> None:
    report = preflight(LabelSpec(raster_dpi=dpi))
    assert [f for f in report.findings if f.check == "resolution"] == []
    assert [round(image.dpi, -1) for image in report.images] == [dpi, dpi]


def test_vector_labels_have_no_images_and_pass() -> None:
    report = preflight(LabelSpec())
    assert report.images == [] and not report.failed


def test_turned_page_measures_the_same_dpi_and_finds_the_barcode() -> None:
    """Page rotation changes neither the measure nor which image holds a barcode."""
    report = preflight(LabelSpec(raster_dpi=150, rotated=True))
    assert [(round(i.dpi, -1), i.barcode) for i in report.images] == [(150, True), (150, True)]


def test_a_page_scaled_down_to_fit_gains_dpi() -> None:
    """An A4 sheet printed on 62 mm tape is shrunk, so its images print finer than placed."""
    spec = LabelSpec(raster_dpi=200, size_mm=(150, 200), page_mm=(210, 297))
    page = pymupdf.open(stream=label_pdf(spec))[0]
    rendered = render_label(page, generic_geometry(parse_media("62x100mm"), 300))
    at_true_size = placed_images(page)[0].min_dpi
    report = check_page(page, rendered, PreflightConfig())
    assert report.images[0].dpi == pytest.approx(at_true_size / rendered.fit.zoom, rel=0.01)
    assert rendered.fit.zoom < 1
