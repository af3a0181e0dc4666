"""Reasons are codes with parameters: every code the source uses exists with the parameters its
words need, the words come out in the reader's language, and a stored reason survives JSON."""

from __future__ import annotations

import ast
import json
import string
from pathlib import Path

import pytest

import labeld
from labeld.i18n import language_from_env, normalise
from labeld.messages import MESSAGES
from labeld.reasons import Reason, UnknownReason, format_duration

ROOT = Path(labeld.__file__).parent


def template_fields(template: str) -> set[str]:
    return {name.split(".")[0].split("[")[0] for _, name, _, _ in string.Formatter().parse(template) if name}


def reason_calls() -> list[tuple[str, set[str] | None, str]]:
    """(code, keyword names or None where ``**`` passes more, where) of every ``Reason("code", …)``."""
    found = []
    for path in sorted(ROOT.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "Reason"
                    and node.args and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str)):
                names = {k.arg for k in node.keywords if k.arg is not None}
                spread = any(k.arg is None for k in node.keywords)
                found.append((node.args[0].value, None if spread else names, f"{path.relative_to(ROOT)}:{node.lineno}"))
    return found


def test_every_code_used_in_the_source_exists_with_its_parameters() -> None:
    """A Reason("code", …) whose code is missing, or that lacks a parameter its words use, is a bug."""
    problems = []
    for code, names, where in reason_calls():
        if code not in MESSAGES:
            problems.append(f"{where}: no message {code!r}")
        elif names is not None and template_fields(MESSAGES[code]) - names:
            problems.append(f"{where}: {code!r} lacks {sorted(template_fields(MESSAGES[code]) - names)}")
    assert problems == []


def test_every_message_is_used_somewhere() -> None:
    """A code nobody names is dead words for the translators (codes chosen at run time appear as strings)."""
    source = "\n".join(p.read_text(encoding="utf-8") for p in ROOT.rglob("*.py") if p.name != "messages.py")
    unused = [code for code in MESSAGES if f'"{code}"' not in source]
    assert unused == []


def test_every_template_formats_with_its_own_fields() -> None:
    """Every template is a valid format string (a stray brace would only show when the reason is shown)."""
    for code, template in MESSAGES.items():
        list(string.Formatter().parse(template))
        assert template.strip(), code


def test_unknown_code_and_missing_parameter_are_refused() -> None:
    """Making a reason checks its code and parameters at once, not when it is shown."""
    with pytest.raises(UnknownReason):
        Reason("no.such.code")
    with pytest.raises(UnknownReason):
        Reason("job.printer_gone")


def test_reason_round_trips_through_json_with_nested_reasons() -> None:
    """What the spool stores comes back as the same reason, nested reasons and all."""
    fit = Reason("fit", parts=[Reason("fit.cropped"), Reason("fit.scaled", zoom=0.48)])
    reason = Reason("job.ready_warning", printer="zebra", fit=fit, warnings=[Reason("label.expiring", left=600)])
    stored = json.loads(json.dumps(reason.to_json()))
    again = Reason.from_json(stored)
    assert again == reason
    assert again.text() == "rendered for zebra (cropped to content, scaled to 48%); warning: label expires in 10 min"
    assert stored["text"] == again.text()


def test_a_stored_code_this_labeld_does_not_know_keeps_its_words() -> None:
    """A reason written by a newer labeld shows its English words rather than failing."""
    reason = Reason.from_json({"code": "future.thing", "params": {}, "text": "something new happened"})
    assert reason.text() == "something new happened"


def test_durations_are_words_in_each_language() -> None:
    """Durations follow the reader's language; English without a catalogue."""
    assert [format_duration(s) for s in (12, 47 * 60, 3 * 3600 + 300, 3 * 3600, 2 * 86400)] == [
        "12 s", "47 min", "3 h 5 min", "3 h", "2 d"]
    assert format_duration(12, "xx") == "12 s"


def test_language_names_are_normalised() -> None:
    """LANG-style names become catalogue names; C and POSIX mean English."""
    assert [normalise(x) for x in ("ru_RU.UTF-8", "zh-cn", "C", "POSIX", "en")] == ["ru_RU", "zh_CN", "en", "en",
                                                                                   "en"]
    assert language_from_env({"LANG": "ru_RU.UTF-8"}) == "ru_RU"
    assert language_from_env({"LANGUAGE": "zh_CN:en", "LANG": "ru_RU.UTF-8"}) == "zh_CN"
    assert language_from_env({}) == "en"
