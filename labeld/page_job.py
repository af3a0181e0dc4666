"""One label's way from a stored PDF page to checked dots, as a single picklable call.

``render_page_job`` is what the daemon runs in its render worker process (see
``labeld.render.sandbox``), and what ``labeld convert`` runs in-process: open the document
(the last one stays open, so a 1000-page batch is opened once), render the page onto the
printer's dot grid (``labeld.render``), run the pre-flight checks on the result
(``labeld.preflight``) and attach the configured policy to each finding. It sits above both
packages, so that neither imports the other's caller.
"""

from __future__ import annotations

import dataclasses
import hashlib
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pymupdf

from labeld.bitmap import Bitmap
from labeld.config import PreflightConfig
from labeld.media import Geometry, same_size
from labeld.preflight import Finding, check_page
from labeld.reasons import Reason
from labeld.render.fit import fits, pt_to_mm
from labeld.render.image import is_sticker
from labeld.render.rasterize import RenderedLabel, render_label


@dataclass(frozen=True)
class RenderRequest:
    document_path: str
    page: int
    geometry: Geometry
    threshold: int
    preflight: PreflightConfig
    posting: str | None = None
    tracking: str | None = None
    #: Content that would print smaller than this is refused rather than shrunk.
    min_zoom: float = 0.8
    #: Other printers' media (name, width mm, length mm or None) to suggest when it does not fit.
    alternatives: tuple[tuple[str, float, float | None], ...] = ()
    #: Split the page into black and red planes (two-colour media).
    red: bool = False
    #: A given posting number the label contradicts: "refuse" (reject it) or "accept" (warn).
    posting_mismatch: str = "refuse"


@dataclass(frozen=True)
class RenderResult:
    packed: bytes  # np.packbits of the bitmap rows
    shape: tuple[int, int]
    content_hash: str
    posting: str | None
    tracking: str | None
    findings: tuple[Finding, ...] = ()
    record: dict[str, Any] = field(default_factory=dict)
    red_packed: bytes | None = None

    @property
    def bitmap(self) -> Bitmap:
        return self._unpack(self.packed)

    @property
    def red(self) -> Bitmap | None:
        """The red plane (two-colour media), or None."""
        return None if self.red_packed is None else self._unpack(self.red_packed)

    def _unpack(self, packed: bytes) -> Bitmap:
        rows, dots = self.shape
        bits = np.unpackbits(np.frombuffer(packed, dtype=np.uint8).reshape(rows, -1), axis=1)
        return bits[:, :dots].astype(np.bool_)


_open: dict[str, pymupdf.Document] = {}


def open_document(path: str) -> pymupdf.Document:
    """The document at ``path``, kept open for the next page of the same batch."""
    doc = _open.get(path)
    if doc is None:
        for old in _open.values():
            old.close()
        _open.clear()
        doc = pymupdf.open(path, filetype="pdf")
        _open[path] = doc
    return doc


def render_page_job(request: RenderRequest) -> RenderResult:
    doc = open_document(request.document_path)
    page = doc[request.page]
    rendered = render_label(page, request.geometry, request.threshold, red=request.red)
    bitmap, posting, tracking, findings, record = run_preflight(page, rendered, request)
    too_small = fit_finding(rendered, request, (pt_to_mm(page.rect.width), pt_to_mm(page.rect.height)))
    if too_small:
        findings.insert(0, too_small)
    record.setdefault("fit", rendered.fit.describe().text())
    record.setdefault("fit_reason", rendered.fit.describe().to_json())
    if rendered.warnings:
        record.setdefault("warnings", [w.to_json() for w in rendered.warnings])
    return RenderResult(
        packed=np.packbits(bitmap, axis=1).tobytes(),
        shape=(int(bitmap.shape[0]), int(bitmap.shape[1])),
        content_hash=content_hash(page),
        posting=posting,
        tracking=tracking,
        findings=tuple(findings),
        record=record,
        red_packed=None if rendered.red is None else np.packbits(rendered.red, axis=1).tobytes(),
    )


#: Which configured policy answers a failed check.
POLICY_OF = {"resolution": "on_low_dpi", "barcode": "on_unreadable"}


def run_preflight(page: pymupdf.Page, rendered: RenderedLabel, request: RenderRequest
                  ) -> tuple[Bitmap, str | None, str | None, list[Finding], dict[str, Any]]:
    """Resolution, barcode verification and repair, identity — and what each failure means here."""
    cfg = request.preflight
    report = check_page(page, rendered, cfg, sidecar_posting=request.posting, sidecar_tracking=request.tracking,
                        accept_posting_mismatch=request.posting_mismatch == "accept", sticker=is_sticker(page))
    findings = []
    for finding in report.findings:
        if finding.severity == "fail" and finding.check == "identity":
            policy = "reject"  # a label for another parcel is never printed by default (--posting-mismatch=accept)
        elif finding.severity == "fail":
            policy = getattr(cfg, POLICY_OF.get(finding.check, "on_unreadable"))
        elif finding.severity == "warn":
            policy = "warn"
        else:
            continue
        findings.append(dataclasses.replace(finding, policy=policy))
    record = report.to_dict()
    record["size_mm"] = [round(pt_to_mm(page.rect.width), 1), round(pt_to_mm(page.rect.height), 1)]
    record["redrawn"] = [f.reason.text() for f in report.findings if f.check == "repair" and f.severity == "info"]
    return report.bitmap, report.posting, report.tracking, findings, record


def fit_finding(rendered: RenderedLabel, request: RenderRequest, page_mm: tuple[float, float]) -> Finding | None:
    """A label that would have to shrink below ``min_zoom`` is refused: its barcodes would not scan.

    A page made for exactly this medium is the exception: die-cut labels (Brother's) cannot be
    printed to their edges, and shrinking such a page into the printable area is what its author
    expects."""
    fit = rendered.fit
    media = request.geometry.media
    room = (media.width_mm, media.length_mm or max(page_mm))
    if fit.zoom >= request.min_zoom or same_size(page_mm, room) or same_size(page_mm[::-1], room):
        return None
    width, height = fit.box.size_mm()
    others = [name for name, w, h in request.alternatives
              if fits((width, height), (w, h)) or fits((height, width), (w, h))]
    common = {"width": width, "height": height, "media": request.geometry.media.describe(), "zoom": fit.zoom}
    if others:
        reason = Reason("preflight.too_large_elsewhere", printers=others, first=others[0], **common)
    else:
        reason = Reason("preflight.too_large", **common)
    return Finding("fit", "fail", reason, policy="reject")


def content_hash(page: pymupdf.Page) -> str:
    """A hash of what the page draws (content streams and images), not of the file around it,
    so that the same label fetched twice is recognised even if the PDF's metadata differs."""
    digest = hashlib.sha256(f"{page.rect.width:.2f}x{page.rect.height:.2f}/{page.rotation}".encode())
    digest.update(page.read_contents())
    doc = page.parent
    for image in page.get_images(full=True):
        digest.update(doc.xref_stream_raw(image[0]) or b"")
    return digest.hexdigest()
