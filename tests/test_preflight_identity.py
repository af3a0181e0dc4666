"""Posting and tracking numbers from the sidecar, the barcodes and the page text."""

from __future__ import annotations

import pymupdf

from labeld.config import PreflightConfig
from labeld.labelmaker import LabelSpec, Symbol, label_pdf
from labeld.media import generic_geometry, parse_media
from labeld.preflight import PageReport, check_page
from labeld.preflight.identity import find_tracking, identify
from labeld.render.rasterize import render_label

PATTERN = PreflightConfig().posting_pattern


def preflight(spec: LabelSpec, accept: bool = False, **sidecar: str) -> PageReport:
    page = pymupdf.open(stream=label_pdf(spec))[0]
    rendered = render_label(page, generic_geometry(parse_media("75x120mm"), 300))
    return check_page(page, rendered, PreflightConfig(), accept_posting_mismatch=accept, **sidecar)


def test_sidecar_wins() -> None:
    """A posting number the label agrees with, and a tracking number, are taken from the sidecar."""
    report = preflight(LabelSpec(), sidecar_posting="12345678-0012-1", sidecar_tracking="SIDE123456")
    assert (report.posting, report.posting_source) == ("12345678-0012-1", "sidecar")
    assert (report.tracking, report.tracking_source) == ("SIDE123456", "sidecar")
    assert not [f for f in report.findings if f.check == "identity"]


def test_a_given_posting_the_label_contradicts_is_refused_naming_both() -> None:
    """The label's Code128 says 64081225-0660-7 but 12345678-0000-1 was given: a failed identity check,
    and the label keeps its own posting so that a reprint by the wrong number cannot find it."""
    report = preflight(LabelSpec(posting="64081225-0660-7"), sidecar_posting="12345678-0000-1")
    [finding] = [f for f in report.findings if f.check == "identity"]
    assert finding.severity == "fail" and finding.reason.code == "preflight.posting_mismatch"
    assert "64081225-0660-7" in finding.reason.text() and "12345678-0000-1" in finding.reason.text()
    assert (report.posting, report.posting_source) == ("64081225-0660-7", "barcode")


def test_a_contradicted_posting_can_be_accepted_on_purpose() -> None:
    """--posting-mismatch=accept keeps the given number and records a warning naming both."""
    report = preflight(LabelSpec(posting="64081225-0660-7"), accept=True, sidecar_posting="12345678-0000-1")
    [finding] = [f for f in report.findings if f.check == "identity"]
    assert (finding.severity, finding.reason.code) == ("warn", "preflight.posting_mismatch_accepted")
    assert report.posting == "12345678-0000-1"


def test_a_label_without_a_posting_of_its_own_takes_the_given_one() -> None:
    """Nothing on the label looks like a posting number: nothing contradicts the given one."""
    report = preflight(LabelSpec(posting="not a number", symbols=()), sidecar_posting="12345678-0000-1")
    assert report.posting == "12345678-0000-1" and not report.findings


def test_barcode_value_before_text() -> None:
    """The Code128 says 11111111-0001-1 while the text says otherwise: the barcode is believed."""
    code = Symbol("code128", "11111111-0001-1", 4, 4, 0.4, height_mm=15)
    report = preflight(LabelSpec(posting="22222222-0002-2", symbols=(code,)))
    assert (report.posting, report.posting_source) == ("11111111-0001-1", "barcode")


def test_text_when_no_barcode_holds_a_posting() -> None:
    report = preflight(LabelSpec(posting="33333333-0003-3", tracking="TRK000000777", symbols=()))
    assert (report.posting, report.posting_source) == ("33333333-0003-3", "text")
    assert (report.tracking, report.tracking_source) == ("TRK000000777", "text")


def test_nothing_found_is_none() -> None:
    identity = identify(text="Thank you for your order", barcode_values=["ABC"], posting_pattern=PATTERN)
    assert (identity.posting, identity.tracking) == (None, None)


def test_tracking_pattern_reads_common_label_words() -> None:
    assert find_tracking(None, "Трек-номер: 0012345678\n")[0] == "0012345678"
    assert find_tracking(None, "Tracking No. RA123456789RU")[0] == "RA123456789RU"
    assert find_tracking(None, "Track: short")[0] is None
