"""A private cupsd with labeld's own CUPS backend installed, as scripts/install.sh installs it.

cupsd runs a 0755 backend as ``lp``. The backend file is the repository's ``cups/backend/labeld``
with its first line pointing at a Python that ``lp`` may run and that imports this checkout's
labeld: this virtualenv's when ``lp`` can run it, else the system ``python3`` with
``PYTHONPATH`` set to the checkout (a virtualenv made from a Python under a private home folder
is closed to ``lp``; the backend needs only the standard library, which a test checks), else —
the checkout itself sits in a folder ``lp`` may not enter, as a clone in root's home or under a
``mktemp -d`` does — the system ``python3`` with ``PYTHONPATH`` set to a copy of the package that
``lp`` may read, made once per test process.
"""

from __future__ import annotations

import atexit
import functools
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from labeld.testing.cupsd import PrivateCupsd
from tests.conftest import become

REPO = Path(__file__).resolve().parent.parent
BACKEND = REPO / "cups" / "backend" / "labeld"
PPD = REPO / "cups" / "labeld.ppd"
PROBE = "import labeld.cli.cups_backend"


def backend_python() -> tuple[str, dict[str, str]]:
    """(interpreter, environment it needs) for running labeld's backend as cupsd's backend user."""
    if os.geteuid() != 0:
        return sys.executable, {}
    if _runs_as_lp([sys.executable, "-c", PROBE], {}):
        return sys.executable, {}
    system = shutil.which("python3", path="/usr/bin:/bin")
    for where in (REPO, _readable_copy()):
        env = {"PYTHONPATH": str(where)}
        if system and _runs_as_lp([system, "-c", PROBE], env):
            return system, env
    raise RuntimeError(f"no Python that user lp can run imports labeld from {REPO}: tried {sys.executable}, "
                       f"and {system} with PYTHONPATH at the checkout and at a copy lp may read")


@functools.cache
def _readable_copy() -> Path:
    """This checkout's ``labeld`` package copied where every user may read it (removed at exit)."""
    root = Path(tempfile.mkdtemp(prefix="labeld-backend-"))
    atexit.register(shutil.rmtree, root, ignore_errors=True)
    shutil.copytree(REPO / "labeld", root / "labeld", ignore=shutil.ignore_patterns("__pycache__"))
    for path in [root, *root.rglob("*")]:
        path.chmod(0o755 if path.is_dir() else 0o644)
    return root


def _runs_as_lp(command: list[str], env: dict[str, str]) -> bool:
    try:
        result = subprocess.run(command, env={"PATH": "/usr/bin:/bin", **env}, cwd="/", capture_output=True,
                                timeout=60, check=False, preexec_fn=lambda: become("lp"))
    except PermissionError:  # lp may not even execute it
        return False
    return result.returncode == 0


def backend_text(python: str) -> str:
    """The repository's backend with ``python`` on its first line, as install.sh writes it."""
    first, rest = BACKEND.read_text().split("\n", 1)
    assert first.startswith("#!"), first
    return f"#!{python}\n{rest}"


def cupsd_with_labeld(socket: Path | None, *, wait: float = 60.0, directives: Sequence[str] = (),
                      env: dict[str, str] | None = None) -> PrivateCupsd:
    """A started private cupsd whose ``labeld`` backend talks to ``socket`` and waits ``wait`` s."""
    python, python_env = backend_python()
    settings = {**python_env, "LABELD_CUPS_WAIT": f"{wait:g}", **(env or {})}
    if socket is not None:
        settings["LABELD_SOCKET"] = str(socket)
    cupsd = PrivateCupsd(env=settings, directives=directives).start()
    cupsd.add_backend("labeld", backend_text(python))
    return cupsd
