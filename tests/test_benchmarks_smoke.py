"""The benchmark suite still runs end to end (``benchmarks/run.py --quick``), so it cannot rot.

Speeds are not asserted: the quick run's inputs are tiny and the machine is shared. What is
asserted is that every section is there and measured something real.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parent.parent
SECTIONS = {"machine", "corpus", "convert", "floor", "wire", "profile", "first_byte", "batch", "links", "resources",
            "control", "sandbox", "preflight"}


@pytest.fixture(scope="module")
def quick_results(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    out = tmp_path_factory.mktemp("bench") / "results.json"
    done = subprocess.run([sys.executable, str(REPO / "benchmarks" / "run.py"), "--quick", "--out", str(out)],
                          cwd=REPO, capture_output=True, text=True, timeout=600, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    results: dict[str, Any] = json.loads(out.read_text(encoding="utf-8"))
    results["_stdout"] = done.stdout
    return results


@pytest.mark.timeout(900)  # a hang bound: ~20 s on a quiet machine
def test_quick_run_measures_every_section(quick_results: dict[str, Any]) -> None:
    """Every section is present, every label went through, and every timing is a real number."""
    r = quick_results
    assert set(r) >= SECTIONS
    assert r["machine"]["nproc"] >= 1 and r["machine"]["libraries"]["pymupdf"]
    for case in r["convert"]["cases"]:
        assert case["labeld_no_verify_ms"] > 0 and case["peer_ms"] > 0 and case["bare_render_ms"] > 0
        assert case["peer_over_labeld_no_verify"] is not None
    assert all(run["exit"] == 0 and run["bytes"] > 0 for run in r["convert"]["cli"]["runs"])
    assert all(row["labeld_bytes"] > 0 for row in r["wire"]["cases"])
    assert r["floor"]["cases"][0]["labeld_no_verify_over_bare"] > 0
    assert r["first_byte"]["printed"] == r["first_byte"]["jobs"] and r["first_byte"]["first_byte_1_page_ms"] > 0
    assert [b["labels"] for b in r["batch"]["cases"]] == [3, 3, 3]
    assert all(b["batch_s"] >= b["pure_print_s"] > 0 for b in r["batch"]["cases"])
    assert [(c["mode"], c["count"]) for c in r["links"]["cases"]] == [("files", 3), ("links", 3)]
    assert all(c["all_printed_s"] > 0 and c["first_byte_ms"] > 0 for c in r["links"]["cases"])
    assert r["resources"]["printed"] == r["resources"]["pages"] and r["resources"]["peak_rss_mib"] > 0
    assert r["profile"]["profiles"][0]["top_own_time"]
    assert [(c["accepted"], c["status_failures"]) for c in r["control"]["cases"]] == [(20, 0), (20, 0)]
    assert all(c["status_calls"] >= 1 and c["status_max_ms"] > 0 for c in r["control"]["cases"])
    assert r["sandbox"]["workers_started"] == 1 and r["sandbox"]["per_call_us"] > 0
    assert "check_page total" in r["preflight"]["text"]
    assert "| case |" in r["_stdout"]
