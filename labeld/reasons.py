"""Why something happened, as a stable code with parameters, put into words only when shown.

A job's state reason, a rejected file's reason and an operation's refusal are stored and sent
as a :class:`Reason`: a code from :mod:`labeld.messages` plus JSON parameters. The words are
made at the moment they are shown, in the reader's language (``Reason.text("ru")``), so the
spool, the API and ``error.json`` carry the code, the parameters *and* the English text.

Templates use ``str.format`` fields. Besides Python's own format specs (``{dpi:.1f}``,
``{zoom:.0%}``) these are understood:

``{x:duration}``  seconds, as "3 h 5 min" in the reader's language
``{x:reason}``    a nested reason (a :class:`Reason` or its JSON)
``{x:reasons}``   a list of nested reasons, joined by "; "
``{x:parts}``     a list of nested reasons, joined by ", "
``{x:list}``      a list, joined by ", "
"""

from __future__ import annotations

import json
import string
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

from labeld.i18n import gettext
from labeld.messages import MESSAGES

__all__ = ["Reason", "UnknownReason", "format_duration"]


class UnknownReason(ValueError):
    """A reason code that :mod:`labeld.messages` does not have, or a parameter its template needs is missing."""


@dataclass(frozen=True, init=False)
class Reason:
    """A code from :data:`labeld.messages.MESSAGES` and the parameters its template needs."""

    code: str
    params: Mapping[str, Any]

    def __init__(self, code: str, /, **params: Any) -> None:
        template = MESSAGES.get(code)
        if template is None:
            raise UnknownReason(f"no message {code!r} in labeld.messages")
        missing = _fields(template) - params.keys()
        if missing:
            raise UnknownReason(f"message {code!r} needs {', '.join(sorted(missing))}")
        object.__setattr__(self, "code", code)
        object.__setattr__(self, "params", {k: _plain(v) for k, v in params.items()})

    @classmethod
    def from_json(cls, value: Mapping[str, Any]) -> Reason:
        """The reason stored as ``{"code": …, "params": …}``; an unknown code keeps its text."""
        code, params = str(value.get("code", "")), dict(value.get("params") or {})
        try:
            return cls(code, **params)
        except UnknownReason:
            return cls("text", text=str(value.get("text") or code))

    @classmethod
    def plain(cls, text: str) -> Reason:
        """Words that have no code of their own (a printer's or a server's own message)."""
        return cls("text", text=text)

    def text(self, lang: str | None = None) -> str:
        """The reason in words: English, or ``lang`` (``"ru"``, ``"zh_CN"``) where it is translated."""
        template = MESSAGES[self.code]
        if lang:
            try:
                return _Formatter(lang).vformat(gettext(lang, template), (), self.params)
            except (KeyError, IndexError, ValueError, TypeError):
                pass  # a broken translation falls back to English
        return _Formatter(None).vformat(template, (), self.params)

    def to_json(self) -> dict[str, Any]:
        return {"code": self.code, "params": dict(self.params), "text": self.text()}

    def __str__(self) -> str:
        return self.text()

    def __hash__(self) -> int:
        return hash((self.code, json.dumps(self.params, sort_keys=True, default=str)))


def format_duration(seconds: float, lang: str | None = None) -> str:
    """A short human form: ``"47 min"``, ``"3 h 5 min"``, ``"12 s"``, in ``lang``."""
    seconds = abs(seconds)
    if seconds < 60:
        return Reason("unit.seconds", n=int(seconds)).text(lang)
    if seconds < 3600:
        return Reason("unit.minutes", n=int(seconds // 60)).text(lang)
    if seconds < 86400:
        hours, rest = divmod(int(seconds), 3600)
        if rest // 60:
            return Reason("unit.hours_minutes", h=hours, m=rest // 60).text(lang)
        return Reason("unit.hours", n=hours).text(lang)
    return Reason("unit.days", n=int(seconds // 86400)).text(lang)


class _Formatter(string.Formatter):
    def __init__(self, lang: str | None) -> None:
        self.lang = lang

    def format_field(self, value: Any, format_spec: str) -> str:
        if format_spec == "duration":
            return format_duration(float(value), self.lang)
        if format_spec == "reason":
            return _nested(value).text(self.lang)
        if format_spec in ("reasons", "parts"):
            joiner = "; " if format_spec == "reasons" else ", "
            return joiner.join(_nested(item).text(self.lang) for item in value)
        if format_spec == "list":
            return ", ".join(str(item) for item in value)
        return str(super().format_field(value, format_spec))


def _nested(value: Any) -> Reason:
    return value if isinstance(value, Reason) else Reason.from_json(value)


def _plain(value: Any) -> Any:
    """Parameters as plain JSON: nested reasons become ``{"code", "params"}``."""
    if isinstance(value, Reason):
        return {"code": value.code, "params": dict(value.params)}
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, Sequence) and not isinstance(value, str | bytes):
        return [_plain(v) for v in value]
    return value


@cache
def _fields(template: str) -> frozenset[str]:
    return frozenset(name.split(".")[0].split("[")[0]
                     for _, name, _, _ in string.Formatter().parse(template) if name)
