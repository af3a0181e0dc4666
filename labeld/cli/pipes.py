"""Ending quietly when the reader of our output goes away (``labelctl jobs | head``)."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable

#: What a shell reports for a process whose reader went away (128 + SIGPIPE), as ``head`` expects.
EXIT_BROKEN_PIPE = 141


def quiet_on_broken_pipe(run: Callable[[], int]) -> int:
    """``run()``'s exit code; 141 and no traceback when stdout's reader closed the pipe."""
    try:
        code = run()
        sys.stdout.flush()  # a write the reader no longer takes fails here, not at interpreter exit
        return code
    except BrokenPipeError:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())  # Python's own flush at exit must not fail again
        return EXIT_BROKEN_PIPE
