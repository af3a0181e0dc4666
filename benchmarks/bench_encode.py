"""Encoders alone, on the same bitmaps: labeld's Brother raster vs brother_ql's own conversion,
and the four ``^GF`` encodings of the ZPL driver. Bytes per label and encode time per label.

Run: python benchmarks/bench_encode.py
"""

from __future__ import annotations

import functools
import statistics
import time
from collections.abc import Callable

import pymupdf
from brother_ql.conversion import convert
from brother_ql.raster import BrotherQLRaster

from labeld.bitmap import Bitmap, to_image
from labeld.config import PrinterConfig
from labeld.drivers.brother_ql import BrotherQLDriver
from labeld.drivers.zpl_graphics import graphic_field
from labeld.labelmaker import LabelSpec, label_pdf
from labeld.media import generic_geometry, parse_media
from labeld.render.rasterize import render_label

ROUNDS = 30


def median_ms(work: Callable[[], object]) -> float:
    work()
    times = []
    for _ in range(ROUNDS):
        started = time.perf_counter()
        work()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def brother_rows() -> list[str]:
    rows = []
    for media, size in (("62", (58.0, 40.0)), ("62x100", (62.0, 100.0))):
        driver = BrotherQLDriver(PrinterConfig(name="ql", driver="brother_ql", uri="tcp://x", media=media,
                                               model="QL-820NWB"))
        page = pymupdf.open("pdf", label_pdf(LabelSpec(size_mm=size)))[0]
        bitmap = render_label(page, driver.geometry).bitmap
        image = to_image(bitmap).convert("L")  # brother_ql wants ink as dark pixels in a grey image

        def theirs(image: object = image, media: str = media) -> bytes:
            raster = BrotherQLRaster("QL-820NWB")
            raster.exception_on_warning = True
            return bytes(convert(raster, [image], media, cut=True, dither=False, compress=True, rotate="0"))

        ours = driver.encode(bitmap)
        ours_ms = median_ms(functools.partial(driver.encode, bitmap))
        rows.append(f"| Brother {media} ({bitmap.shape[1]}×{bitmap.shape[0]} dots) | {ours_ms:.2f} "
                    f"| {len(ours)} | {median_ms(theirs):.2f} | {len(theirs())} |")
    return rows


def zpl_rows() -> list[str]:
    rows = []
    for dpi in (203, 300):
        page = pymupdf.open("pdf", label_pdf(LabelSpec()))[0]
        bitmap: Bitmap = render_label(page, generic_geometry(parse_media("75x120mm"), dpi)).bitmap
        for compression in ("z64", "ascii", "b64", "hex"):
            size = len(graphic_field(bitmap, compression))
            ms = median_ms(functools.partial(graphic_field, bitmap, compression))
            rows.append(f"| ZPL ^GF {compression}, 75×120 mm at {dpi} dpi | {ms:.2f} | {size} | | |")
    return rows


def main() -> None:
    print("| case | labeld ms | labeld bytes | brother_ql convert ms | brother_ql bytes |")
    print("|---|---|---|---|---|")
    for row in brother_rows() + zpl_rows():
        print(row)


if __name__ == "__main__":
    main()
