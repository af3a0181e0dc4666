"""``import labeld`` keeps PyMuPDF's optional layout and Markdown packages (and onnxruntime) out of
the process: each labeld process (CLI, daemon, render worker) would pay ~0.15 s and ~55 MB for them."""

from __future__ import annotations

import os
import subprocess
import sys

PROBE = ("import sys, labeld, pymupdf; "
         "print(sorted(m for m in ('onnxruntime', 'pymupdf4llm', 'pymupdf.layout') if sys.modules.get(m)))")


def _loaded(**env: str) -> str:
    done = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=120, check=True,
                          env={**os.environ, **env})
    return done.stdout.strip()


def test_pymupdf_extras_stay_out_of_labeld_processes() -> None:
    assert _loaded(LABELD_PYMUPDF_LAYOUT="0") == "[]"
