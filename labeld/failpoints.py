"""Named crash points for tests: ``LABELD_FAILPOINT=name`` makes the daemon SIGKILL itself there.

Crash-consistency tests need to stop the daemon at an exact step (between "accepted" and
"archived", say) and not only at random moments. A failpoint costs one dict lookup when unset.
"""

from __future__ import annotations

import os
import signal

_ACTIVE = os.environ.get("LABELD_FAILPOINT", "")


def hit(name: str) -> None:
    """Die here, like kill -9, if the environment names this failpoint."""
    if _ACTIVE and name == _ACTIVE:
        os.kill(os.getpid(), signal.SIGKILL)
