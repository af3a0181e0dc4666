"""Shell completion generated from labelctl's own argparse definitions (by shtab), so it cannot
fall behind the commands; printer names are asked of the running daemon when completing."""

from __future__ import annotations

import argparse

import shtab

#: A bash function that prints the daemon's printer names (nothing when it is not running).
PRINTERS_FUNCTION = "_labelctl_printers"
PREAMBLE = {
    "bash": f"""
{PRINTERS_FUNCTION}() {{
  compgen -W "$(labelctl --json printers 2>/dev/null | sed -n 's/^ *"name": "\\(.*\\)",$/\\1/p')" -- "$1"
}}
""",
}


def completes_printers(action: argparse.Action) -> argparse.Action:
    """Mark an argument whose value is a printer name."""
    action.complete = {"bash": PRINTERS_FUNCTION}  # type: ignore[attr-defined]  # shtab reads this attribute
    return action


def completes_files(action: argparse.Action) -> argparse.Action:
    """Mark an argument whose value is a file."""
    action.complete = shtab.FILE  # type: ignore[attr-defined]  # shtab reads this attribute
    return action


def bash_completion(parser: argparse.ArgumentParser) -> str:
    """A bash script: ``source <(labelctl completion bash)``."""
    return str(shtab.complete(parser, shell="bash", preamble=PREAMBLE["bash"]))
