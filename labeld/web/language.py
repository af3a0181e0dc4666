"""Which language a page is shown in: the one chosen on the page (kept in the session), else the
browser's ``Accept-Language``, else English. Only languages with a catalogue are offered."""

from __future__ import annotations

from collections.abc import Callable

from labeld.i18n import gettext, normalise

#: Code → the language's own name, as the switch on the page shows it.
LANGUAGES = {"en": "English", "ru": "Русский", "zh_CN": "中文"}


def supported(tag: str) -> str | None:
    """``ru-RU`` → ``ru``; ``zh``, ``zh-CN``, ``zh-Hans`` → ``zh_CN``; ``en-GB`` → ``en``; else None."""
    name = normalise(tag.strip())
    language = name.split("_")[0]
    if language == "zh":
        return "zh_CN" if name in ("zh", "zh_CN", "zh_HANS", "zh_SG") else None
    return language if language in LANGUAGES else None


def negotiate(accept_language: str) -> str:
    """The best supported language of an ``Accept-Language`` header (q-values respected)."""
    choices: list[tuple[float, int, str]] = []
    for position, item in enumerate(accept_language.split(",")):
        tag, _, params = item.partition(";")
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                quality = 0.0
        lang = supported(tag)
        if lang is not None and quality > 0:
            choices.append((-quality, position, lang))
    return min(choices)[2] if choices else "en"


def translator(lang: str) -> Callable[[str], str]:
    """``_`` for templates and views: the catalogue's words for ``lang``, English where it has none."""
    def translate(message: str) -> str:
        return gettext(lang, message) if lang != "en" else message
    return translate
