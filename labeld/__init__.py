"""labeld: a print-server daemon for thermal shipping labels."""

import os
import sys

__version__ = "0.1.0"

# PyMuPDF >= 2 imports its optional layout-analysis package and pymupdf4llm (and with them
# onnxruntime) when it is imported: ~55 MB resident and 0.15-0.2 s per process, for text-layout and
# Markdown features labeld never uses. Marking the modules absent makes PyMuPDF skip them.
# LABELD_PYMUPDF_LAYOUT=1 keeps them for integrators who want them in the same process.
if os.environ.get("LABELD_PYMUPDF_LAYOUT") != "1":
    for _optional in ("pymupdf.layout", "pymupdf4llm"):
        sys.modules.setdefault(_optional, None)  # type: ignore[arg-type]
