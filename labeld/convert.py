"""The pipeline without a daemon: ``labeld convert`` and ``labeld preflight``.

The same code the daemon runs (inspect, render, pre-flight, encode), in-process and in order,
so that what ``convert`` writes is byte for byte what the daemon would send.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from labeld.config import PreflightConfig, PrinterConfig, RenderConfig
from labeld.drivers.base import Driver, make_driver
from labeld.intake.inspect import inspect_document
from labeld.page_job import RenderRequest, RenderResult, render_page_job


@dataclass
class ConvertReport:
    labels: int = 0
    bytes_written: int = 0
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def lines(self) -> list[str]:
        return [*self.notes, *self.problems, f"{self.labels} label(s), {self.bytes_written} bytes"]


def render_pages(path: Path, driver: Driver[Any], preflight: PreflightConfig | None = None) -> list[RenderResult]:
    """Every page rendered and checked as the daemon's pipeline would, with the default render settings."""
    data = path.read_bytes()
    info = inspect_document(data, max_pages=100_000, max_page_mm=2000.0)
    cfg = preflight or PreflightConfig()
    render = RenderConfig()
    document = str(path.resolve())
    return [
        render_page_job(RenderRequest(document, page, driver.geometry, render.threshold, cfg,
                                      min_zoom=render.min_zoom, red=driver.prints_red))
        for page in range(len(info.pages))
    ]


def convert_document(path: Path, printer: PrinterConfig, output: Path, *, copies: int = 1,
                     preflight: PreflightConfig | None = None) -> ConvertReport:
    driver = make_driver(printer)
    report = ConvertReport()
    results = render_pages(path, driver, preflight)
    if driver.extension == "png":
        output.mkdir(parents=True, exist_ok=True)
    chunks = []
    for number, result in enumerate(results, start=1):
        for finding in result.findings:
            line = f"label {number}: {finding.check}: {finding.reason}"
            (report.problems if finding.policy in ("reject", "hold") else report.notes).append(line)
        data = driver.encode(result.bitmap, copies)
        if driver.extension == "png":
            (output / f"{number:04d}.png").write_bytes(data)
        else:
            chunks.append(data)
        report.labels += 1
        report.bytes_written += len(data)
    if chunks:
        output.write_bytes(b"".join(chunks))
    return report


def preflight_document(path: Path, printer: PrinterConfig) -> dict[str, Any]:
    driver = make_driver(printer)
    labels = []
    ok = True
    for number, result in enumerate(render_pages(path, driver), start=1):
        failing = [f for f in result.findings if f.policy in ("reject", "hold")]
        ok = ok and not failing
        labels.append({
            "label": number,
            "ok": not failing,
            "posting_number": result.posting,
            "tracking_number": result.tracking,
            "findings": [f.to_json() for f in result.findings],
            "record": result.record,
        })
    return {"file": str(path), "printer": {"driver": printer.driver, "dpi": driver.geometry.dpi,
                                           "media": printer.media}, "ok": ok, "labels": labels}
