"""scripts/check-test-machine.sh checks every program the test suite runs, so a machine that lacks
one fails at setup with a sentence naming it, not halfway through the suite (issue 15)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
#: In Debian's essential set (or the interpreter itself): always there.
ESSENTIAL = {"sh", "bash", "sleep"}
RUNNERS = {"run", "Popen", "check_output", "check_call", "call", "_run"}


def programs_run(source: str, cupsd_module: bool = False) -> set[str]:
    """The programs ``source`` starts by name: ``subprocess.run(["lpadmin", ...])``, ``_run("useradd", ...)``,
    ``cupsd.run("cancel", ...)`` (a CUPS tool against the private cupsd), ``shutil.which("cupsd")``."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.Call) or not node.args:
            continue
        func, first = node.func, node.args[0]
        name = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""
        owner = func.value if isinstance(func, ast.Attribute) else None
        receiver = owner.id if isinstance(owner, ast.Name) else owner.attr if isinstance(owner, ast.Attribute) else ""
        if name in RUNNERS and isinstance(first, ast.List | ast.Tuple) and first.elts:
            first = first.elts[0]
        elif not (name == "_run" or name == "which" or (name == "run" and (
                "cupsd" in receiver or (cupsd_module and receiver == "self")))):
            continue
        if isinstance(first, ast.Constant) and isinstance(first.value, str) and re.fullmatch(r"[a-z][\w.-]*",
                                                                                            first.value):
            found.add(first.value)
    return found


def checked_programs() -> set[str]:
    """Programs check-test-machine.sh asks for: ``need_command NAME`` and ``need_file .../NAME``."""
    script = (REPO / "scripts" / "check-test-machine.sh").read_text()
    commands = set(re.findall(r"^need_command (\S+)", script, re.MULTILINE))
    files = {Path(path).name for path in re.findall(r"^need_file (\S+)", script, re.MULTILINE)}
    return commands | files


def test_every_program_the_suite_runs_is_checked() -> None:
    """Each program started by a test or a test helper is named in check-test-machine.sh."""
    used: dict[str, set[str]] = {}
    for path in [*(REPO / "tests").glob("*.py"), *(REPO / "labeld" / "testing").glob("*.py")]:
        for program in programs_run(path.read_text(encoding="utf-8"), cupsd_module=path.name == "cupsd.py"):
            used.setdefault(program, set()).add(path.name)
    missing = {p: sorted(files) for p, files in used.items() if p not in checked_programs() | ESSENTIAL}
    assert "lpadmin" in used and "useradd" in used  # the scan itself works
    assert missing == {}, f"add to scripts/check-test-machine.sh (and its package to setup.sh): {missing}"


def test_scan_finds_programs_in_each_form() -> None:
    """List arguments, helper ``_run`` calls, the private cupsd's tools and ``which`` are all found;
    a labelctl subcommand (``ctl.run("cancel")``) and ``sys.executable`` are not programs."""
    source = '''
subprocess.run(["mount", "-t", "tmpfs"], check=True)
_run("useradd", "--system", "x")
cupsd.run("cupsenable", "q")
rig.cupsd.run("lpinfo", "-v")
shutil.which("systemd-analyze")
ctl.run("cancel", "3")
subprocess.run([sys.executable, "-m", "labeld"])
'''
    assert programs_run(source) == {"mount", "useradd", "cupsenable", "lpinfo", "systemd-analyze"}
