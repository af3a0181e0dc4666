"""One page's pre-flight: every check run once, the outcome as plain data the spool can store.

``check_page`` never decides a job's fate: each finding carries the check it came from
(``resolution`` → ``on_low_dpi``, ``barcode`` → ``on_unreadable``) and a severity, and the
pipeline applies the configured policy. It returns the bitmap to print, which differs from the
plain render only where a barcode was redrawn on the dot grid.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field, fields
from typing import Any

import pymupdf

from labeld.bitmap import Bitmap
from labeld.config import PreflightConfig
from labeld.preflight.barcodes import (
    TruthBarcode,
    Verification,
    dot_box,
    find_truth,
    module_dots,
    reads_along_x,
    verify,
    verify_at,
)
from labeld.preflight.identity import identify
from labeld.preflight.layers import page_text
from labeld.preflight.repair import faithful, repair
from labeld.preflight.resolution import PlacedImage, below, placed_images, print_zoom, shown_dpi
from labeld.reasons import Reason
from labeld.render.rasterize import RenderedLabel

FAIL, WARN, INFO = "fail", "warn", "info"


@dataclass(frozen=True)
class Finding:
    """One outcome worth telling: ``check`` names what found it, ``reason`` says it to a person.

    ``policy`` is empty where pre-flight made it; the page job fills in the configured answer
    (reject | hold | warn) that the pipeline then applies."""

    check: str  # resolution | barcode | repair | fit
    severity: str  # fail | warn | info
    reason: Reason
    policy: str = ""

    def to_json(self) -> dict[str, Any]:
        return {"check": self.check, "severity": self.severity, "policy": self.policy,
                "reason": self.reason.text(), "reason_code": self.reason.code,
                "reason_params": dict(self.reason.params)}


@dataclass(frozen=True)
class BarcodeReport:
    symbology: str
    value: str
    verified: bool  # decodes to its value on the bitmap that will be printed
    robust: bool  # ... also with one dot of print gain and one of loss
    failures: list[str]
    dots_per_module: float  # as the PDF placed it on this printer's grid
    repaired: bool
    repaired_dots: int | None  # whole dots per module after a redraw
    box: list[int]  # x0, y0, x1, y1 in dots on the final bitmap


@dataclass(frozen=True)
class ImageReport:
    box: list[float]  # page points
    pixels: list[int]
    dpi: float  # the lower of the two axes
    barcode: bool  # the image holds (part of) a barcode
    judged_dpi: float  # what the rule compared: along the scan direction for 1-D barcodes, else the lower axis
    judged: str  # "scan direction" | "both axes"


@dataclass
class PageReport:
    """Everything pre-flight learnt about one label. ``to_dict`` is the JSON form (bitmap left out)."""

    bitmap: Bitmap
    dpi: int
    findings: list[Finding] = field(default_factory=list)
    barcodes: list[BarcodeReport] = field(default_factory=list)
    images: list[ImageReport] = field(default_factory=list)
    posting: str | None = None
    posting_source: str | None = None
    tracking: str | None = None
    tracking_source: str | None = None
    timings_ms: dict[str, float] = field(default_factory=dict)
    #: The value of every barcode found on the label (what a scanner can read off it).
    codes: list[str] = field(default_factory=list)

    @property
    def failed(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == FAIL]

    @property
    def repaired(self) -> bool:
        return any(b.repaired for b in self.barcodes)

    def to_dict(self) -> dict[str, Any]:
        # What ``dataclasses.asdict`` gave, without its deep copy of the bitmap (and of each
        # finding, replaced below anyway): every report below holds only flat values.
        data = {f.name: _plain(getattr(self, f.name)) for f in fields(self) if f.name not in ("bitmap", "findings")}
        data["findings"] = [finding.to_json() for finding in self.findings]
        data["passed"] = not self.failed
        return data


def _plain(value: Any) -> Any:
    """``value`` as JSON-ready data: a report as a dict, lists and dicts copied (one level deeper for reports)."""
    if isinstance(value, (BarcodeReport, ImageReport)):
        return {f.name: _plain(getattr(value, f.name)) for f in fields(value)}
    if isinstance(value, list):
        return [_plain(item) for item in value]
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    return value


def check_page(page: pymupdf.Page, rendered: RenderedLabel, cfg: PreflightConfig, *,
               sidecar_posting: str | None = None, sidecar_tracking: str | None = None,
               accept_posting_mismatch: bool = False, sticker: bool = False) -> PageReport:
    """Run resolution, barcode verification and repair, and identity for one rendered page.

    A ``sticker`` (a marketplace PNG sticker, 254 dpi by design) has its image measured and reported
    but not held to ``min_dpi``: its barcodes, verified on the printer's bitmap, decide."""
    report = PageReport(bitmap=rendered.bitmap, dpi=rendered.dpi)
    started = time.perf_counter()
    text = page_text(page, rendered.drawn)
    checking = cfg.verify_barcodes or cfg.barcode_repair == "auto"
    # The full-page decode is the expensive part: with checks off it runs only when the posting
    # number cannot be had from the sidecar or the page text, or a given one is not in the text.
    in_text = [match.group(0) for match in re.finditer(cfg.posting_pattern, text)]
    need_truth = checking or (sidecar_posting not in in_text if sidecar_posting else not in_text)
    truth = find_truth(page, drawn=rendered.drawn) if need_truth else []
    report.codes = sorted({barcode.value for barcode in truth})
    report.timings_ms["truth"] = _ms(started)
    _check_images(report, page, rendered, cfg, truth, sticker)
    started = time.perf_counter()
    for barcode in truth if checking else ():
        _check_barcode(report, barcode, rendered, cfg)
    report.timings_ms["barcodes"] = _ms(started)
    identity = identify(text=text,
                        barcode_values=[b.value for b in truth], posting_pattern=cfg.posting_pattern,
                        sidecar_posting=sidecar_posting, sidecar_tracking=sidecar_tracking)
    report.posting, report.posting_source = identity.posting, identity.posting_source
    report.tracking, report.tracking_source = identity.tracking, identity.tracking_source
    if sidecar_posting:
        _check_given_posting(report, sidecar_posting, [b.value for b in truth], text, cfg.posting_pattern,
                             accept_posting_mismatch)
    return report


def _check_given_posting(report: PageReport, given: str, barcode_values: list[str], text: str, pattern: str,
                         accept: bool) -> None:
    """A posting number given with the label (sidecar, upload, ``--posting``) that the label's own barcodes
    and text contradict is refused, naming both: a later reprint by that number would print another
    parcel's label. ``accept`` keeps the given one, with a warning."""
    own = [m.group(0) for value in [*barcode_values, text] for m in re.finditer(pattern, value)]
    if not own or given in own:
        return
    found = own[0]
    if accept:
        report.findings.append(Finding("identity", WARN, Reason("preflight.posting_mismatch_accepted", found=found,
                                                                 given=given)))
        return
    report.findings.append(Finding("identity", FAIL, Reason("preflight.posting_mismatch", found=found, given=given)))
    report.posting, report.posting_source = found, "barcode" if found in " ".join(barcode_values) else "text"


def _ms(since: float) -> float:
    return round((time.perf_counter() - since) * 1000, 2)


def _check_images(report: PageReport, page: pymupdf.Page, rendered: RenderedLabel, cfg: PreflightConfig,
                  truth: list[TruthBarcode], sticker: bool = False) -> None:
    for image in placed_images(page, print_zoom(rendered.transform, rendered.dpi), rendered.drawn):
        held = [barcode for barcode in truth if _covers(image, barcode)]
        judged, how = judged_dpi(image, held)
        box = [round(v, 2) for v in (image.box.x0, image.box.y0, image.box.x1, image.box.y1)]
        report.images.append(ImageReport(box, list(image.pixels), round(image.min_dpi, 1), bool(held),
                                         round(judged, 2), how))
        if below(judged, cfg.min_dpi) and not sticker:
            code = "preflight.low_dpi_barcode" if held else "preflight.low_dpi_image"
            report.findings.append(Finding("resolution", FAIL, Reason(code, dpi=shown_dpi(judged),
                                                                      min_dpi=cfg.min_dpi)))


def judged_dpi(image: PlacedImage, held: list[TruthBarcode]) -> tuple[float, str]:
    """The resolution that matters for an image: for one holding only 1-D barcodes that read the same
    way, along that direction (a scanner resolves the module widths, not the bars' height); for
    anything else — 2-D codes, pictures, text — the lower of the two axes."""
    directions = {barcode.across_x for barcode in held}
    if held and all(barcode.linear for barcode in held) and len(directions) == 1:
        return image.dpi_along(directions.pop()), "scan direction"
    return image.min_dpi, "both axes"


def _covers(image: PlacedImage, barcode: TruthBarcode) -> bool:
    overlap = pymupdf.Rect(image.box) & barcode.box
    return not overlap.is_empty and overlap.get_area() >= 0.5 * barcode.box.get_area()


def _check_barcode(report: PageReport, barcode: TruthBarcode, rendered: RenderedLabel,
                   cfg: PreflightConfig) -> None:
    transform = rendered.transform
    dots = module_dots(barcode, transform)
    check = verify(report.bitmap, barcode, transform)
    box, new_dots = dot_box(barcode, transform), None
    name = f"{barcode.symbology} {barcode.value}"
    # A symbol drawn askew is never on the grid; it is redrawn (straight) only when it does not hold up.
    needed = not check.robust if barcode.skew else not faithful(dots, check)
    if cfg.barcode_repair == "auto" and needed:
        fixed = repair(report.bitmap, barcode, transform)
        if fixed is None:
            report.findings.append(Finding("repair", WARN, Reason("preflight.off_grid", symbol=name, dots=dots,
                                                                  dpi=rendered.dpi)))
        else:
            report.bitmap, redraw = fixed
            box, new_dots = redraw.box, redraw.new_dots
            check = verify_at(report.bitmap, barcode, box, new_dots, reads_along_x(barcode, transform))
            report.findings.append(Finding("repair", INFO, Reason("preflight.redrawn", symbol=name, dots=dots,
                                                                  new_dots=new_dots)))
    if cfg.verify_barcodes:
        _verification_findings(report, name, check)
    report.barcodes.append(BarcodeReport(
        barcode.symbology, barcode.value, check.plain, check.robust, check.failures(), round(dots, 2),
        new_dots is not None, new_dots, list(box)))


def _verification_findings(report: PageReport, name: str, check: Verification) -> None:
    if not check.plain:
        if check.found:
            reason = Reason("preflight.barcode_misread", symbol=name, found=check.found, dpi=report.dpi)
        else:
            reason = Reason("preflight.barcode_unreadable", symbol=name, dpi=report.dpi)
        report.findings.append(Finding("barcode", FAIL, reason))
    elif not check.robust:
        report.findings.append(Finding("barcode", WARN, Reason("preflight.barcode_fragile", symbol=name,
                                                               failures=check.failures(), dpi=report.dpi)))
