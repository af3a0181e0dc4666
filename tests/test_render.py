"""Rendering onto the dot grid: exact widths, 1:1, turning, cropping, scaling, no grey."""

from __future__ import annotations

import numpy as np
import pymupdf
import pytest

from labeld.labelmaker import A4_MM, LabelSpec, Symbol, label_pdf
from labeld.media import generic_geometry, parse_media
from labeld.render.rasterize import render_label
from tests.conftest import decode

VALUES = ["12345678-0012-1", "https://ozon.example/t/TRK000000001"]


def page_of(spec: LabelSpec) -> pymupdf.Page:
    return pymupdf.open("pdf", label_pdf(spec))[0]


@pytest.mark.parametrize("dpi, size", [(300, (886, 1417)), (203, (599, 959))])
def test_same_size_page_is_one_to_one(dpi: int, size: tuple[int, int]) -> None:
    """A 75×120 mm page on 75×120 mm media fills exactly the media's dots, unscaled and unturned."""
    rendered = render_label(page_of(LabelSpec()), generic_geometry(parse_media("75x120mm"), dpi))
    assert (rendered.bitmap.shape[1], rendered.bitmap.shape[0]) == size
    assert rendered.bitmap.dtype == np.bool_
    assert not rendered.fit.rotate and rendered.fit.zoom == 1.0 and not rendered.fit.cropped
    assert decode(rendered.bitmap) == sorted(VALUES)


def test_bars_land_on_whole_dots() -> None:
    """A Code128 with 0.254 mm modules at 300 dpi (exactly 3 dots) renders every bar as a multiple of 3 dots."""
    spec = LabelSpec(size_mm=(75, 120), symbols=(Symbol("code128", "12345678-0012-1", 5.08, 5.08, 0.254, 15.0),))
    rendered = render_label(page_of(spec), generic_geometry(parse_media("75x120mm"), 300))
    row = rendered.bitmap[60]  # through the bars
    edges = np.flatnonzero(np.diff(row.astype(np.int8)))
    runs = np.diff(edges)
    inner = runs[1:-1]  # ignore the label border on each side
    assert len(inner) > 50
    assert set((inner % 3).tolist()) == {0}


def test_turned_page_is_turned_back() -> None:
    """A page delivered turned (a 120×75 page with /Rotate) prints upright on 75×120 media."""
    rendered = render_label(page_of(LabelSpec(rotated=True)), generic_geometry(parse_media("75x120mm"), 300))
    assert rendered.fit.rotate
    assert rendered.bitmap.shape == (1417, 886)
    plain = render_label(page_of(LabelSpec()), generic_geometry(parse_media("75x120mm"), 300))
    same = (rendered.bitmap == plain.bitmap).mean()
    assert same > 0.97  # the same label, give or take sub-dot placement
    assert decode(rendered.bitmap) == sorted(VALUES)


def test_a4_sheet_is_cropped_to_the_label() -> None:
    """A label on an A4 page is cropped to its ink and printed at true size."""
    rendered = render_label(page_of(LabelSpec(page_mm=A4_MM, offset_mm=(30, 40))),
                            generic_geometry(parse_media("75x120mm"), 203))
    assert rendered.fit.cropped and rendered.fit.zoom == 1.0
    assert rendered.bitmap.shape == (959, 599)
    assert decode(rendered.bitmap) == sorted(VALUES)


def test_content_too_large_is_scaled_down_with_a_warning() -> None:
    rendered = render_label(page_of(LabelSpec()), generic_geometry(parse_media("58x40mm"), 300))
    assert rendered.fit.zoom < 1.0
    assert rendered.warnings and "does not fit" in rendered.warnings[0].text()
    assert rendered.bitmap.shape == (472, 685)


def test_endless_media_takes_the_label_length() -> None:
    """On endless tape the bitmap is the printable width wide and as long as the label."""
    geometry = generic_geometry(parse_media("62x100mm"), 300)
    endless = type(geometry)(300, 696, None, geometry.media)
    rendered = render_label(page_of(LabelSpec(size_mm=(58, 40))), endless)
    assert rendered.bitmap.shape == (472, 696)
    assert decode(rendered.bitmap) == sorted(VALUES)


def test_transform_maps_page_points_to_dots() -> None:
    """The transform tells pre-flight where a thing on the page landed in the bitmap."""
    rendered = render_label(page_of(LabelSpec()), generic_geometry(parse_media("75x120mm"), 300))
    point = pymupdf.Point(72, 144) * rendered.transform  # 1 in, 2 in from the top-left
    assert (round(point.x), round(point.y)) == (300, 600)


def test_two_colour_render_keeps_white_white_and_black_the_same() -> None:
    """On black/red media the black plane is the one-colour render where nothing is red (a white page
    stays white), and only the red ink lands in the red plane."""
    doc = pymupdf.open("pdf", label_pdf(LabelSpec()))
    doc[0].draw_rect(pymupdf.Rect(10, 200, 80, 240), color=None, fill=(1, 0, 0))
    geometry = generic_geometry(parse_media("75x120mm"), 203)
    plain, split = render_label(doc[0], geometry), render_label(doc[0], geometry, red=True)
    assert split.red is not None and split.red.sum() > 1000
    assert np.array_equal(split.bitmap, plain.bitmap & ~split.red)
    assert decode(split.bitmap) == sorted(VALUES)
