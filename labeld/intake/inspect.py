"""A first look at an arriving file: is it a PDF we can open, how many pages, how big.

This runs before anything is accepted, so it must refuse bad input with a sentence, and it
must be cheap: it opens the document and reads page boxes, nothing is rendered.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass

import pymupdf

from labeld.errors import RejectedInput
from labeld.intake.images import png_as_pdf, sniff_image, svg_as_pdf
from labeld.reasons import Reason
from labeld.render.fit import pt_to_mm
from labeld.render.rasterize import ink_box

PDF_MAGIC = b"%PDF-"


@dataclass(frozen=True)
class PageInfo:
    width_mm: float
    height_mm: float


@dataclass(frozen=True)
class DocumentInfo:
    kind: str  # "pdf" | "zpl"
    pages: tuple[PageInfo, ...]
    #: A PNG or SVG label arrives as a picture and is kept as the PDF page made from it: these bytes.
    converted: bytes | None = None
    #: What arrived: "pdf", "zpl", "png" or "svg".
    origin: str = ""
    #: Every page renders blank (asked for with ``blank_check``: a signed link that failed).
    blank: bool = False


def sniff_kind(head: bytes) -> str | None:
    """"pdf", "zpl" or None from the first bytes of a file."""
    if PDF_MAGIC in head[:1024]:
        return "pdf"
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    if text.startswith((b"^XA", b"~", b"^")) and b"^XA" in head:
        return "zpl"
    return None


def inspect_document(data: bytes, *, max_pages: int, max_page_mm: float,
                     sizes: Sequence[tuple[float, float]] = (), blank_check: bool = False) -> DocumentInfo:
    """Open ``data`` and check it can be printed at all; :class:`RejectedInput` says why not.

    A PNG or SVG is first made into a PDF page of its size (:mod:`labeld.intake.images`; ``sizes``
    are the media a pixel count may match); the answer carries that PDF in ``converted``."""
    if not data:
        raise RejectedInput(Reason("intake.empty"))
    kind = sniff_kind(data[:4096])
    if kind == "zpl":
        return DocumentInfo("zpl", (PageInfo(0.0, 0.0),), origin="zpl")
    picture = sniff_image(data[:4096]) if kind is None else None
    if picture is not None:
        pdf = png_as_pdf(data, sizes) if picture == "png" else svg_as_pdf(data, sizes=sizes)
        info = inspect_document(pdf, max_pages=max_pages, max_page_mm=max_page_mm, blank_check=blank_check)
        return dataclasses.replace(info, converted=pdf, origin=picture)
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
        blank = blank_check and all(ink_box(doc[number]) is None for number in range(count))
        return DocumentInfo("pdf", tuple(pages), origin="pdf", blank=blank)
    finally:
        doc.close()
