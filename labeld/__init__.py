"""labeld: a print-server daemon for thermal shipping labels."""

import os
import sys

__version__ = "0.1.0"

# PyMuPDF >= 2 imports its optional layout-analysis package (and with it onnxruntime) when it is
# imported: ~55 MB resident and 0.2 s per process, for text-layout features labeld never uses.
# Marking the module absent makes PyMuPDF skip it. LABELD_PYMUPDF_LAYOUT=1 keeps it for
# integrators who want it in the same process.
if os.environ.get("LABELD_PYMUPDF_LAYOUT") != "1":
    sys.modules.setdefault("pymupdf.layout", None)  # type: ignore[arg-type]
