"""A first look at an arriving file: is it a PDF we can open, how many pages, how big.

This runs before anything is accepted, so it must refuse bad input with a sentence, and it
must be cheap: it opens the document and reads page boxes, nothing is rendered.
"""

from __future__ import annotations

from dataclasses import dataclass

import pymupdf

from labeld.errors import RejectedInput
from labeld.reasons import Reason
from labeld.render.fit import pt_to_mm

PDF_MAGIC = b"%PDF-"


@dataclass(frozen=True)
class PageInfo:
    width_mm: float
    height_mm: float


@dataclass(frozen=True)
class DocumentInfo:
    kind: str  # "pdf" | "zpl"
    pages: tuple[PageInfo, ...]


def sniff_kind(head: bytes) -> str | None:
    """"pdf", "zpl" or None from the first bytes of a file."""
    if PDF_MAGIC in head[:1024]:
        return "pdf"
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    if text.startswith((b"^XA", b"~", b"^")) and b"^XA" in head:
        return "zpl"
    return None


def inspect_document(data: bytes, *, max_pages: int, max_page_mm: float) -> DocumentInfo:
    """Open ``data`` and check it can be printed at all; :class:`RejectedInput` says why not."""
    if not data:
        raise RejectedInput(Reason("intake.empty"))
    kind = sniff_kind(data[:4096])
    if kind == "zpl":
        return DocumentInfo("zpl", (PageInfo(0.0, 0.0),))
    if kind is None:
        raise RejectedInput(Reason("intake.not_pdf"), {"head": data[:16].hex()})
    try:
        doc = pymupdf.open(stream=data, filetype="pdf")
    except Exception as error:  # PyMuPDF raises several types for broken files
        raise RejectedInput(Reason("intake.unreadable_pdf", error=str(error))) from error
    try:
        if doc.needs_pass or doc.is_encrypted:
            raise RejectedInput(Reason("intake.encrypted"))
        count = doc.page_count
        if count == 0:
            raise RejectedInput(Reason("intake.no_pages"))
        if count > max_pages:
            raise RejectedInput(Reason("intake.too_many_pages", pages=count, limit=max_pages))
        pages = []
        for number in range(count):
            try:
                rect = doc[number].rect
            except Exception as error:
                raise RejectedInput(Reason("intake.page_unreadable", page=number + 1, error=str(error))) from error
            width, height = pt_to_mm(rect.width), pt_to_mm(rect.height)
            if width <= 0 or height <= 0:
                raise RejectedInput(Reason("intake.page_no_area", page=number + 1, width=width, height=height))
            if max(width, height) > max_page_mm:
                raise RejectedInput(
                    Reason("intake.page_too_large", page=number + 1, width=width, height=height, limit=max_page_mm),
                    {"page": number + 1, "size_mm": [round(width, 1), round(height, 1)]},
                )
            pages.append(PageInfo(round(width, 2), round(height, 2)))
        return DocumentInfo("pdf", tuple(pages))
    finally:
        doc.close()
