"""Routing and fitting through a real daemon: pages of different sizes reach the right printer,
rendered in the sandbox onto each printer's own dot grid, and their barcodes decode.

The label rules (expiry, newer labels, repeats, too-large labels) are pinned in process by
tests/test_engine_rules.py; this proves the real path they run on."""

from __future__ import annotations

import json
from pathlib import Path

from labeld.bitmap import from_png
from labeld.labelmaker import A4_MM, LabelSpec, label_pdf
from labeld.testing.daemon import DaemonProcess
from tests.conftest import decode


def test_routing_and_fitting_by_page_size(tmp_path: Path) -> None:
    """58×40 pages go to the small printer by [[route]]; turned and A4 pages fit the big one."""
    printers = [
        {"name": "big", "driver": "preview", "uri": f"dir://{tmp_path / 'big'}", "media": "75x120mm", "dpi": 203,
         "default": True},
        {"name": "small", "driver": "preview", "uri": f"dir://{tmp_path / 'small'}", "media": "58x40mm",
         "dpi": 203},
    ]
    routes = [{"folder": "returns", "printer": "small"}, {"size": "58x40mm", "printer": "small"}]
    with DaemonProcess(tmp_path / "d", printers=printers, routes=routes) as d:
        assert (d.inbox / "returns").is_dir(), "a route's folder is made at start-up, like a printer's"
        d.drop("return.pdf", label_pdf(LabelSpec(posting="55555555-0001-1", size_mm=(58, 40))), folder="returns")
        d.drop("turned.pdf", label_pdf(LabelSpec(posting="11111111-0001-1", rotated=True)))
        d.drop("sheet.pdf", label_pdf(LabelSpec(posting="22222222-0001-1", page_mm=A4_MM)))
        d.drop("small.pdf", label_pdf(LabelSpec(posting="33333333-0001-1", size_mm=(58, 40))))
        d.drop("small-turned.pdf", label_pdf(LabelSpec(posting="44444444-0001-1", size_mm=(58, 40), rotated=True)))
        d.wait_states(5)
        jobs = {job["document"]: job for job in d.jobs()}
        assert {name: job["printer"] for name, job in jobs.items()} == {
            "turned.pdf": "big", "sheet.pdf": "big", "small.pdf": "small", "small-turned.pdf": "small",
            "return.pdf": "small"}
        assert json.loads(jobs["turned.pdf"]["preflight"])["fit"] == "whole page, turned 90°, true size"
        assert json.loads(jobs["sheet.pdf"]["preflight"])["fit"] == "cropped to content, true size"
        for folder, shape in (("big", (959, 599)), ("small", (320, 464))):
            for png in (tmp_path / folder).glob("*.png"):
                bitmap = from_png(png.read_bytes())
                assert bitmap.shape == shape
                assert any(v.endswith("-0001-1") for v in decode(bitmap))
