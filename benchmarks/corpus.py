"""The benchmark's label corpus, generated on demand into a scratch folder.

Marketplace-shaped labels from ``labeld.labelmaker``: 75×120 mm ("big") and 58×40 mm
("small"), barcodes drawn as vectors or embedded as a 300-dpi raster image, or "rich" (vector
barcodes with more on the page, as Ozon's labels have: Cyrillic text blocks, a banner, rules, a
logo, the border), in documents of 1, 20, 100 and 1000 pages. Each page carries a distinct
posting number, and ``fresh`` hands out documents whose postings were never used before, so
that a daemon's duplicate and supersede rules do not swallow the second round of a repeated measurement.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from pathlib import Path

from labeld.labelmaker import batch_pdf

SIZES: dict[str, tuple[float, float]] = {"75x120": (75.0, 120.0), "58x40": (58.0, 40.0)}
KINDS: dict[str, int | None] = {"vector": None, "raster": 300, "rich": None}
PAGE_COUNTS = (1, 20, 100, 1000)
#: The rich layout is drawn for the big label only (on 58×40 it has no room).
RICH_SIZE = "75x120"


@dataclass(frozen=True)
class CorpusFile:
    size: str
    kind: str
    pages: int
    path: Path

    @property
    def size_mm(self) -> tuple[float, float]:
        return SIZES[self.size]


class Corpus:
    """PDFs under ``root``, made once per (size, kind, pages) and kept for the whole run."""

    def __init__(self, root: Path) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)
        self._files: dict[tuple[str, str, int], CorpusFile] = {}
        self._postings = itertools.count(20_000_000, 10_000)

    def file(self, size: str, kind: str, pages: int) -> CorpusFile:
        key = (size, kind, pages)
        if key not in self._files:
            self._files[key] = self._make(size, kind, pages, f"{size}-{kind}-{pages}.pdf")
        return self._files[key]

    def fresh(self, size: str, kind: str, pages: int) -> CorpusFile:
        """A new document of that shape whose postings no earlier document used."""
        return self._make(size, kind, pages, f"{size}-{kind}-{pages}-{next(self._postings)}.pdf")

    def generate(self, page_counts: tuple[int, ...] = PAGE_COUNTS) -> list[CorpusFile]:
        """Every size × kind × page count: the corpus the issue asks for."""
        return [self.file(size, kind, pages) for size in SIZES for kind in KINDS for pages in page_counts
                if kind != "rich" or size == RICH_SIZE]

    def _make(self, size: str, kind: str, pages: int, name: str) -> CorpusFile:
        first = next(self._postings)
        data = batch_pdf(pages, size_mm=SIZES[size], raster_dpi=KINDS[kind], first_posting=first,
                         rich=kind == "rich")
        path = self.root / name
        path.write_bytes(data)
        return CorpusFile(size, kind, pages, path)
