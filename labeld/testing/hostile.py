"""PDFs built to hurt a renderer, for tests of the render worker's limits.

Written byte by byte (no PDF library), so they are exactly as hostile as intended.
"""

from __future__ import annotations

import zlib

LABEL_BOX = b"[0 0 212.6 340.2]"  # 75 x 120 mm


def raw_pdf(objects: list[bytes], *, xref_loop: bool = False) -> bytes:
    """A PDF of numbered objects (1 = catalog) with a correct cross-reference table; with
    ``xref_loop`` the trailer's /Prev points back at the same table (an endless xref chain)."""
    out = bytearray(b"%PDF-1.7\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    prev = b" /Prev %d" % xref if xref_loop else b""
    out += b"trailer\n<< /Size %d /Root 1 0 R%s >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, prev, xref)
    return bytes(out)


def one_page(content: bytes) -> bytes:
    """A 75x120 mm page drawing ``content`` (deflated: hostile content is small on the wire)."""
    data = zlib.compress(content, 1)
    return raw_pdf([
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox " + LABEL_BOX + b" /Contents 4 0 R >>",
        b"<< /Filter /FlateDecode /Length %d >>\nstream\n" % len(data) + data + b"\nendstream",
    ])


def slow_page(fills: int = 2_000_000) -> bytes:
    """Millions of full-page fills: seconds of rendering from a few hundred kilobytes."""
    return one_page(b"10 10 150 300 re f\n" * fills)


def memory_page(segments: int = 3_000_000) -> bytes:
    """One path of millions of segments: the rasteriser's edge list outgrows any sane limit."""
    return one_page(b"0 0 m " + b"200 300 l 0 0 l " * segments + b"f\n")
