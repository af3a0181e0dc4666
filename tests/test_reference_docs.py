"""docs/reference/ is labeld's contract: these checks keep the parts that can be checked true to the code."""

from __future__ import annotations

import argparse
import dataclasses
import re
from pathlib import Path

import pytest

from labeld.cli import labelctl
from labeld.cli.labeld_cmd import build_parser as labeld_parser
from labeld.cli.pipes import EXIT_BROKEN_PIPE
from labeld.config import Config, PrinterConfig, RouteConfig, SourceConfig, parse_config
from labeld.intake.names import IGNORED_PREFIXES, IGNORED_SUFFIXES, TAKEN_SUFFIXES
from labeld.intake.sidecar import MAX_COPIES, Sidecar
from labeld.spool.states import TRANSITIONS, JobState

ROOT = Path(__file__).resolve().parent.parent
REFERENCE = ROOT / "docs" / "reference"
SECTIONS = {"daemon", "intake", "render", "preflight", "clock"}
#: The smallest [[printer]] that makes a config valid, for reading a documented default.
PRINTER = '[[printer]]\nname = "p"\ndriver = "preview"\nuri = "dir:///tmp/p"\n'


def page(name: str) -> str:
    return (REFERENCE / name).read_text(encoding="utf-8")


def rows(text: str) -> list[list[str]]:
    """The cells of every Markdown table row in ``text``."""
    return [[cell.strip().replace("\\|", "|") for cell in re.split(r"(?<!\\)\|", line.strip().strip("|"))]
            for line in text.splitlines() if line.startswith("| ") and not line.startswith("|---")]


def section(text: str, heading: str) -> str:
    """The part of ``text`` under ``## heading``, up to the next ``##``."""
    match = re.search(rf"^## {re.escape(heading)}\n(.*?)(?=^## |\Z)", text, re.MULTILINE | re.DOTALL)
    assert match, f"no section {heading!r}"
    return match.group(1)


def ticked(cell: str) -> list[str]:
    return re.findall(r"`([^`]+)`", cell)


def test_every_allowed_move_is_the_state_machine() -> None:
    """The table of allowed moves in states.md is TRANSITIONS, state by state, nothing more or less."""
    table = {JobState(ticked(cells[0])[0]): {JobState(s) for s in ticked(cells[1])}
             for cells in rows(section(page("states.md"), "Every allowed move"))[1:12]}
    assert table == {state: set(targets) for state, targets in TRANSITIONS.items()}


def test_every_state_is_explained() -> None:
    """Each JobState has a row in the states table."""
    named = [ticked(cells[0])[0] for cells in rows(section(page("states.md"), "The states"))[1:]]
    assert named == [state.value for state in JobState]


def _documented_defaults(heading: str) -> dict[str, str]:
    return {ticked(cells[0])[0]: cells[1] for cells in rows(section(page("configuration.md"), heading))[1:]}


@pytest.mark.parametrize("name", sorted(SECTIONS))
def test_every_section_key_is_documented_with_its_real_default(name: str) -> None:
    """configuration.md lists each key of the section once, and its default reads back as the real one."""
    documented = _documented_defaults(f"[{name}]")
    fields = {f.name: f for f in dataclasses.fields(getattr(Config(), name))}
    assert list(documented) == list(fields)
    for key, cell in documented.items():
        if cell == "(unset)":
            assert getattr(getattr(Config(), name), key) is None, key
            continue
        value = cell.strip("`")
        parsed = parse_config(f"[{name}]\n{key} = {value}\n{PRINTER}")
        assert getattr(getattr(parsed, name), key) == getattr(getattr(Config(), name), key), key


@pytest.mark.parametrize(("heading", "cls"), [("[[printer]]", PrinterConfig), ("[[route]]", RouteConfig),
                                              ("[[source]]", SourceConfig)])
def test_every_printer_route_and_source_key_is_documented(heading: str, cls: type) -> None:
    """Every [[printer]], [[route]] and [[source]] key is listed, required ones as required;
    a printer's documented defaults read back as the real ones."""
    documented = _documented_defaults(heading)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    assert list(documented) == list(fields)
    for key, cell in documented.items():
        field = fields[key]
        if cell in ("(required)", "(unset)"):
            assert (field.default is dataclasses.MISSING) == (cell == "(required)")
            assert cell == "(required)" or field.default is None
        elif cls is PrinterConfig:
            printer = parse_config(f"{PRINTER}{key} = {cell.strip('`')}\n").printers[0]
            assert getattr(printer, key) == field.default, key


def _subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(action.choices)


def test_every_labelctl_command_and_option_is_documented() -> None:
    """labelctl.md has a row for each command, naming each of its options."""
    documented = {ticked(cells[0])[0].split()[0]: cells[0] for cells in rows(section(page("labelctl.md"),
                                                                                      "Commands"))[1:]}
    commands = _subcommands(labelctl.build_parser())
    assert set(documented) == set(commands)
    for name, parser in commands.items():
        for action in parser._actions:
            longest = max(action.option_strings, key=len, default="")
            if longest and longest != "--help" and action.help != argparse.SUPPRESS:  # --json repeated after
                # a command is the global option, documented once
                assert longest in documented[name] or action.option_strings[0] in documented[name], (name, longest)


def test_labelctl_exit_codes() -> None:
    """The exit-code table is labelctl's constants."""
    table = {int(cells[0]) for cells in rows(section(page("labelctl.md"), "Exit codes"))[1:]}
    assert table == {labelctl.EXIT_OK, labelctl.EXIT_REFUSED, labelctl.EXIT_USAGE, labelctl.EXIT_UNREACHABLE,
                     labelctl.EXIT_NOT_PRINTED, 130, EXIT_BROKEN_PIPE}


def test_every_labeld_command_is_documented() -> None:
    """labeld.md's synopsis and sections name every `labeld` command and option."""
    text = page("labeld.md")
    synopsis = text.split("\n## ", 1)[0]
    for name, parser in _subcommands(labeld_parser()).items():
        assert f"labeld {name}" in synopsis
        for action in parser._actions:
            if action.option_strings and "--help" not in action.option_strings:
                assert any(option in synopsis for option in action.option_strings), (name, action.option_strings)


def test_hot_folder_names_and_sidecar_keys() -> None:
    """hot-folder.md names every taken and ignored name pattern and every sidecar key with its limit."""
    text = page("hot-folder.md")
    for pattern in (*TAKEN_SUFFIXES, *IGNORED_SUFFIXES, *IGNORED_PREFIXES):
        assert f"`{pattern}`" in text
    keys = {ticked(cells[0])[0] for cells in rows(section(text, "Sidecar"))[1:]}
    assert keys == {f.name for f in dataclasses.fields(Sidecar)}
    assert f"1–{MAX_COPIES}" in text


def test_no_reference_points_outside_the_repository() -> None:
    """Docstrings and docs point at the repository's reference, not at a contracts.md it does not have."""
    cited = [str(path.relative_to(ROOT)) for folder in ("labeld", "docs", "tests")
             for path in (ROOT / folder).rglob("*") if path.suffix in (".py", ".md", ".yaml")
             and path != Path(__file__) and "contracts.md" in path.read_text(encoding="utf-8")]
    assert cited == []
    assert "docs/reference/README.md" in (ROOT / "README.md").read_text(encoding="utf-8")
