"""The repository itself: no merge-conflict markers and no path of the machine it was built on
in any tracked text file."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
CONFLICT = re.compile(r"^(<{7}|>{7})( |$)|^={7}$", re.MULTILINE)
#: Home and build folders of a developer machine; the project's own docs use /etc, /var, /run, /opt.
MACHINE_PATH = re.compile(r"(/root/|/home/[a-z]|/work/|/tmp/pytest-of-)")


def tracked_text_files() -> list[Path]:
    names = subprocess.run(["git", "ls-files", "-z"], cwd=REPO, capture_output=True, check=True).stdout
    files = []
    for name in names.decode().split("\0"):
        path = REPO / name
        if name and path.is_file() and b"\0" not in path.read_bytes()[:8192]:
            files.append(path)
    return files


def test_no_merge_conflict_markers() -> None:
    """A conflict resolved by hand leaves no <<<<<<< / ======= / >>>>>>> lines behind."""
    found = [f"{p.relative_to(REPO)}" for p in tracked_text_files()
             if CONFLICT.search(p.read_text(encoding="utf-8", errors="replace"))]
    assert found == []


def test_no_path_of_a_developer_machine() -> None:
    """Nothing names a folder of the machine it was written on (home folders, scratch areas)."""
    found = [f"{p.relative_to(REPO)}: {m.group(0)}" for p in tracked_text_files()
             for m in [MACHINE_PATH.search(p.read_text(encoding="utf-8", errors="replace"))] if m
             and p.name != "test_repo_hygiene.py"]
    assert found == []
