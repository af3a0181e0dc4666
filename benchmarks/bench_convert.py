"""Measurements 1, 2 and 6: convert throughput, the bare-render floor, bytes on the wire.

For each case (driver × label size × barcode kind) the same PDF goes through:

- labeld's convert path (``labeld.convert.convert_document``), once with pre-flight defaults
  (barcode verification and repair on) and once with ``verify_barcodes=False,
  barcode_repair="off"``;
- the peer, used the way its users do: for Brother, PyMuPDF page → PIL image at 300 dpi →
  ``brother_ql.conversion.convert`` with the label id (as brother_ql's README shows); for ZPL,
  zebrafy's ``ZebrafyPDF(...).to_zpl()`` (it renders with pypdfium2 itself);
- the floor: PyMuPDF's bare ``page.get_pixmap`` of every page at the printer's dpi, gray, with
  labeld's anti-aliasing setting (off), plus the same with MuPDF's default anti-aliasing.

Peers render with MuPDF's default anti-aliasing: labeld switches it off process-wide at import,
and measuring a peer with labeld's setting would flatter the peer's render time.
"""

from __future__ import annotations

import contextlib
import logging
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pymupdf
from PIL import Image

from benchmarks import median_ms, ratio
from benchmarks.corpus import Corpus, CorpusFile
from labeld.config import PreflightConfig, PrinterConfig
from labeld.convert import convert_document

NO_VERIFY = PreflightConfig(verify_barcodes=False, barcode_repair="off")
DEFAULTS = PreflightConfig()
BROTHER_LABEL = "62"
BROTHER_MODEL = "QL-820NWB"
MUPDF_DEFAULT_AA = 8


@dataclass(frozen=True)
class Case:
    """One row of the table: a driver, a label size, vector, raster or rich labels, and the printer's
    dpi (0: the driver's usual, 300 for Brother, 203 for ZPL)."""

    driver: str  # brother_ql | zpl
    size: str
    kind: str
    printer_dpi: int = 0

    @property
    def dpi(self) -> int:
        return self.printer_dpi or (300 if self.driver == "brother_ql" else 203)

    @property
    def name(self) -> str:
        return f"{self.driver} {self.size} {self.kind}" + (f" {self.printer_dpi} dpi" if self.printer_dpi else "")

    def printer(self) -> PrinterConfig:
        if self.driver == "brother_ql":
            return PrinterConfig(name="bench", driver="brother_ql", uri="dir:///dev/null", media=BROTHER_LABEL,
                                 model=BROTHER_MODEL, dpi=300)
        return PrinterConfig(name="bench", driver="zpl", uri="dir:///dev/null", media=f"{self.size}mm", dpi=self.dpi)


FULL_CASES = (*(Case(d, s, k) for d in ("brother_ql", "zpl") for s in ("58x40", "75x120")
                for k in ("vector", "raster")),
              Case("brother_ql", "75x120", "rich"), Case("zpl", "75x120", "rich"),
              Case("zpl", "75x120", "vector", 300), Case("zpl", "75x120", "rich", 300))
QUICK_CASES = (Case("zpl", "58x40", "raster"),)


@contextlib.contextmanager
def mupdf_antialias(level: int) -> Iterator[None]:
    """MuPDF's anti-aliasing at ``level`` for the block (it is a process-wide setting)."""
    previous = pymupdf.TOOLS.show_aa_level()["graphics"]
    pymupdf.TOOLS.set_aa_level(level)
    try:
        yield
    finally:
        pymupdf.TOOLS.set_aa_level(previous)


def labeld_convert(path: Path, case: Case, out: Path, preflight: PreflightConfig) -> int:
    """labeld's whole convert path; the number of bytes it wrote."""
    return convert_document(path, case.printer(), out, preflight=preflight).bytes_written


def brother_ql_convert(path: Path) -> bytes:
    """What a brother_ql user does with a PDF: render each page at 300 dpi, hand the images over."""
    from brother_ql.conversion import convert
    from brother_ql.raster import BrotherQLRaster

    with mupdf_antialias(MUPDF_DEFAULT_AA), pymupdf.open(path) as doc:
        images = []
        for page in doc:
            pix = page.get_pixmap(dpi=300)
            images.append(Image.frombytes("RGB", (pix.width, pix.height), pix.samples))
    raster = BrotherQLRaster(BROTHER_MODEL)
    logging.getLogger("brother_ql.conversion").setLevel(logging.ERROR)  # "Need to resize the image..." per page
    convert(raster, images, BROTHER_LABEL, rotate="auto", threshold=70.0, dither=False, compress=True,
            red=False, dpi_600=False, hq=True, cut=True)
    data: bytes = raster.data
    return data


def zebrafy_convert(path: Path, form: str = "Z64", dpi: int = 203) -> bytes:
    """zebrafy's PDF → ZPL at ``dpi``, thresholded (its dithering would ruin barcodes)."""
    from zebrafy.zebrafy_pdf import ZebrafyPDF

    zpl: str = ZebrafyPDF(path.read_bytes(), format=form, dpi=dpi, dither=False, split_pages=True).to_zpl()
    return zpl.encode("ascii")


def peer_convert(path: Path, case: Case) -> bytes:
    return brother_ql_convert(path) if case.driver == "brother_ql" else zebrafy_convert(path, dpi=case.dpi)


def bare_render(path: Path, dpi: int) -> None:
    """The floor: open the document and rasterise every page at ``dpi``, gray, nothing else."""
    with pymupdf.open(path) as doc:
        matrix = pymupdf.Matrix(dpi / 72, dpi / 72)
        for page in doc:
            page.get_pixmap(matrix=matrix, colorspace=pymupdf.csGRAY, alpha=False)


def measure_case(case: Case, source: CorpusFile, scratch: Path, rounds: int) -> dict[str, Any]:
    path, pages = source.path, source.pages
    out = scratch / f"{case.driver}-{case.size}-{case.kind}-{case.dpi}.out"
    fast = median_ms(lambda: labeld_convert(path, case, out, NO_VERIFY), rounds, pages)
    checked = median_ms(lambda: labeld_convert(path, case, out, DEFAULTS), rounds, pages)
    peer = median_ms(lambda: peer_convert(path, case), rounds, pages)
    floor = median_ms(lambda: bare_render(path, case.dpi), rounds, pages)
    with mupdf_antialias(MUPDF_DEFAULT_AA):
        floor_aa = median_ms(lambda: bare_render(path, case.dpi), rounds, pages)
    return {
        "case": case.name, "driver": case.driver, "size": case.size, "kind": case.kind, "dpi": case.dpi,
        "pages": pages, "rounds": rounds,
        "labeld_no_verify_ms": fast, "labeld_verify_ms": checked,
        "peer": "brother_ql" if case.driver == "brother_ql" else "zebrafy", "peer_ms": peer,
        "bare_render_ms": floor, "bare_render_aa_ms": floor_aa,
        "peer_over_labeld_no_verify": ratio(peer, fast), "peer_over_labeld_verify": ratio(peer, checked),
        "labeld_no_verify_over_bare": ratio(fast, floor), "labeld_verify_over_bare": ratio(checked, floor),
    }


def cli_once(source: CorpusFile, scratch: Path) -> dict[str, Any]:
    """``labeld convert`` as a user types it, once, interpreter start-up included."""
    rows = []
    for driver, media in (("brother_ql", BROTHER_LABEL), ("zpl", f"{source.size}mm")):
        out = scratch / f"cli-{driver}.bin"
        command = [sys.executable, "-m", "labeld.cli.labeld_cmd", "convert", str(source.path), "--driver", driver,
                   "--media", media, "-o", str(out)]
        start = time.perf_counter()
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        seconds = time.perf_counter() - start
        rows.append({"driver": driver, "media": media, "pages": source.pages, "exit": done.returncode,
                     "seconds": round(seconds, 3), "ms_per_label": round(seconds * 1000 / source.pages, 2),
                     "bytes": out.stat().st_size if out.exists() else 0,
                     "stderr_tail": done.stderr.strip().splitlines()[-1:] if done.stderr else []})
    return {"file": source.path.name, "runs": rows}


def run(corpus: Corpus, scratch: Path, quick: bool) -> dict[str, Any]:
    pages, rounds = (3, 1) if quick else (20, 5)
    cases = QUICK_CASES if quick else FULL_CASES
    results = [measure_case(case, corpus.file(case.size, case.kind, pages), scratch, rounds) for case in cases]
    cli = cli_once(corpus.file("58x40", "vector", 1 if quick else 100), scratch)
    return {"cases": results, "cli": cli}
