"""Run labeld's benchmark suite: ``python -m benchmarks.run [--quick] [--out FILE] [--only S,…]``.

Generates its corpus into a scratch folder, runs every measurement (see the ``bench_*``
modules), prints Markdown tables for BENCHMARKS.md and writes everything as JSON with
``--out``. ``--quick`` is a smoke run of every section with tiny inputs: its numbers say
nothing about speed, only that the suite still works.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.metadata
import io
import json
import os
import platform
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make ``benchmarks`` and ``labeld`` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks import (  # after the path fix above
    bench_batch,
    bench_control,
    bench_convert,
    bench_latency,
    bench_links,
    bench_preflight,
    bench_profile,
    bench_resources,
    bench_sandbox,
    bench_wire,
)
from benchmarks.corpus import PAGE_COUNTS, Corpus

Section = Callable[[Corpus, Path, bool], dict[str, Any]]
LIBRARIES = ("pymupdf", "numpy", "pillow", "brother-ql-next", "zebrafy", "pypdfium2", "zxing-cpp", "psutil",
             "onnxruntime")


def machine() -> dict[str, Any]:
    cpu = ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    versions = {}
    for name in LIBRARIES:
        with contextlib.suppress(importlib.metadata.PackageNotFoundError):
            versions[name] = importlib.metadata.version(name)
    return {"nproc": os.cpu_count(), "cpu": cpu, "kernel": platform.release(), "python": platform.python_version(),
            "libraries": versions, "load_average_at_start": [round(v, 2) for v in os.getloadavg()]}


def corpus_section(corpus: Corpus, scratch: Path, quick: bool) -> dict[str, Any]:
    counts = (1,) if quick else PAGE_COUNTS
    start = time.perf_counter()
    files = corpus.generate(counts)
    return {"page_counts": list(counts), "seconds": round(time.perf_counter() - start, 2),
            "files": [{"name": f.path.name, "pages": f.pages, "bytes": f.path.stat().st_size} for f in files]}


def convert_section(corpus: Corpus, scratch: Path, quick: bool) -> dict[str, Any]:
    return bench_convert.run(corpus, scratch, quick)


def preflight_section(corpus: Corpus, scratch: Path, quick: bool) -> dict[str, Any]:
    """bench_preflight's own output (the whole of it; only its stage timings with --quick)."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        (bench_preflight.stage_times if quick else bench_preflight.main)()
    return {"text": out.getvalue()}


def links_section(corpus: Corpus, scratch: Path, quick: bool) -> dict[str, Any]:
    """A batch of labels handed over as links against the same batch dropped as files (#16)."""
    return {"cases": bench_links.run(3 if quick else 100)}


SECTIONS: dict[str, Section] = {
    "corpus": corpus_section,
    "convert": convert_section,
    "wire": bench_wire.run,
    "profile": bench_profile.run,
    "first_byte": bench_latency.run,
    "batch": bench_batch.run,
    "links": links_section,
    "resources": bench_resources.run,
    "control": bench_control.run,
    "sandbox": bench_sandbox.run,
    "preflight": preflight_section,
}


def floor_section(convert: dict[str, Any]) -> dict[str, Any]:
    """Measurement 2, from the same run as measurement 1: labeld against PyMuPDF's bare render."""
    keys = ("case", "bare_render_ms", "bare_render_aa_ms", "labeld_no_verify_ms", "labeld_no_verify_over_bare",
            "labeld_verify_ms", "labeld_verify_over_bare")
    return {"cases": [{k: row[k] for k in keys} for row in convert["cases"]]}


def run(quick: bool, only: list[str]) -> dict[str, Any]:
    results: dict[str, Any] = {"quick": quick, "machine": machine()}
    with tempfile.TemporaryDirectory(prefix="labeld-bench-") as temp:
        scratch = Path(temp)
        corpus = Corpus(scratch / "corpus")
        for name, section in SECTIONS.items():
            if only and name not in only:
                continue
            start = time.perf_counter()
            print(f"# {name} …", file=sys.stderr, flush=True)
            results[name] = section(corpus, scratch, quick)
            results[name]["section_seconds"] = round(time.perf_counter() - start, 1)
    if "convert" in results:
        results["floor"] = floor_section(results["convert"])
    results["machine"]["load_average_at_end"] = [round(v, 2) for v in os.getloadavg()]
    return results


def _table(header: list[str], rows: list[list[Any]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join("" if v is None else str(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def _convert_md(convert: dict[str, Any]) -> str:
    rows = [[c["case"], c["labeld_no_verify_ms"], c["labeld_verify_ms"], f"{c['peer']} {c['peer_ms']}",
             c["peer_over_labeld_no_verify"], c["peer_over_labeld_verify"], c["bare_render_ms"],
             c["labeld_no_verify_over_bare"], c["labeld_verify_over_bare"]] for c in convert["cases"]]
    table = _table(["case", "labeld ms/label, no verify", "labeld ms/label, defaults", "peer ms/label",
                    "peer ÷ labeld (no verify)", "peer ÷ labeld (defaults)", "bare render ms",
                    "labeld ÷ bare (no verify)", "labeld ÷ bare (defaults)"], rows)
    cli = _table(["`labeld convert`", "pages", "seconds (with start-up)", "ms/label", "exit"],
                 [[r["driver"], r["pages"], r["seconds"], r["ms_per_label"], r["exit"]]
                  for r in convert["cli"]["runs"]])
    return f"{table}\n\n{cli}"


def _wire_md(wire: dict[str, Any]) -> str:
    rows = [[c["case"], c["labeld_bytes"], c.get("brother_ql_bytes", c.get("zebrafy_z64_bytes")),
             c.get("zebrafy_ascii_compressed_bytes", ""), c.get("zebrafy_ascii_hex_bytes", "")] for c in wire["cases"]]
    return _table(["case", "labeld bytes/label", "peer bytes/label (brother_ql / zebrafy Z64)",
                   "zebrafy ASCII compressed", "zebrafy ASCII hex (its default)"], rows)


def _daemon_md(results: dict[str, Any]) -> str:
    parts = []
    if "first_byte" in results:
        f = results["first_byte"]
        parts.append(_table(["first byte", "1 page ms", f"{f['pages_big']} pages ms", "ratio", "rounds"],
                            [[f["printer"], f["first_byte_1_page_ms"], f["first_byte_big_ms"], f["big_over_1"],
                              f["rounds"]]]))
    if "batch" in results:
        parts.append(_table(["batch", "labels", "speed mm/s", "pure print s", "batch s", "overhead %",
                             "to first label s", "head idle between labels s", "largest gap ms",
                             "cold start: first label after start s"],
                            [[f"{b['driver']} {b['label']}", b["labels"], b["speed_mm_s"], b["pure_print_s"],
                              b["batch_s"], b["overhead_pct"], b["to_first_label_s"],
                              b["head_idle_between_labels_s"], b["largest_gap_ms"], b["cold_first_label_s"]]
                             for b in results["batch"]["cases"]]))
    if "links" in results:
        parts.append(_table(["batch handed over as", "labels", "all handed over ms", "to first byte ms",
                             "all printed s"],
                            [[c["mode"], c["count"], c["submit_ms"], c["first_byte_ms"], c["all_printed_s"]]
                             for c in results["links"]["cases"]]))
    if "resources" in results:
        r = results["resources"]
        parts.append(_table(["resources", "pages", "labels/s", "RSS at start MiB", "peak RSS MiB (VmHWM)",
                             "idle CPU % (s)"],
                            [[r["printer"], r["pages"], r["labels_per_s"], r["rss_at_start_mib"], r["peak_rss_mib"],
                              f"{r['idle']['cpu_percent']} ({r['idle']['idle_seconds']})"]]))
    if "control" in results:
        parts.append(_table(["control socket under load", "accepted", "all printed s", "status calls",
                             "median ms", "p95 ms", "slowest ms", "failures", "daemon RSS max MiB"],
                            [[c["load"], f"{c['accepted']}/{c['count']}", c["all_printed_s"], c["status_calls"],
                              c["status_median_ms"], c["status_p95_ms"], c["status_max_ms"], c["status_failures"],
                              c["rss_max_mib"]] for c in results["control"]["cases"]]))
    if "sandbox" in results:
        b = results["sandbox"]
        parts.append(_table(["render sandbox", "calls", "per call µs (reused worker)", "workers started",
                             "fresh worker per call ms", "fresh ÷ reused"],
                            [["trivial call", b["calls"], b["per_call_us"], b["workers_started"],
                              b["fresh_worker_ms"], b["fresh_over_reused"]]]))
    return "\n\n".join(parts)


def markdown(results: dict[str, Any]) -> str:
    """The tables BENCHMARKS.md shows, from one run's results."""
    m = results["machine"]
    out = [f"machine: {m['nproc']} CPUs, {m['cpu']}, Linux {m['kernel']}, Python {m['python']}; "
           f"load {m['load_average_at_start']} → {m['load_average_at_end']}",
           "libraries: " + ", ".join(f"{k} {v}" for k, v in m["libraries"].items())]
    if "convert" in results:
        out.append(_convert_md(results["convert"]))
    if "wire" in results:
        out.append(_wire_md(results["wire"]))
    out.append(_daemon_md(results))
    if "profile" in results:
        for p in results["profile"]["profiles"]:
            top = ", ".join(f"{t['function']} {t['share']:.0%}" for t in p["top_own_time"][:5])
            out.append(f"profile {p['case']} verify={p['verify']}: {p['total_ms']} ms for "
                       f"{results['profile']['pages']} labels; top own time: {top}")
    if "preflight" in results:
        out.append(results["preflight"]["text"])
    return "\n\n".join(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.run", description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="smoke run: every section, tiny inputs")
    parser.add_argument("--out", type=Path, help="write the results as JSON here")
    parser.add_argument("--only", default="", help=f"comma-separated sections: {', '.join(SECTIONS)}")
    args = parser.parse_args(argv)
    only = [s for s in args.only.split(",") if s]
    unknown = set(only) - set(SECTIONS)
    if unknown:
        parser.error(f"unknown section(s) {', '.join(sorted(unknown))}; choose from {', '.join(SECTIONS)}")
    started = time.perf_counter()
    results = run(args.quick, only)
    results["seconds"] = round(time.perf_counter() - started, 1)
    if args.out:
        args.out.write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(markdown(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
