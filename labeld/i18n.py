"""Languages: gettext catalogues under ``labeld/locale/<lang>/LC_MESSAGES/labeld.mo``.

Source strings are English. A message is translated at the moment it is shown, for the reader's
language: the browser's ``Accept-Language`` on the station page, ``LANG``/``LC_*`` for labelctl.
A language without a catalogue, or a message a catalogue lacks, shows in English.
"""

from __future__ import annotations

import gettext as _gettext
import os
from collections.abc import Mapping
from functools import cache
from pathlib import Path

DOMAIN = "labeld"
LOCALE_DIR = Path(__file__).parent / "locale"


def N_(message: str) -> str:  # the gettext convention for "mark for extraction only"
    """Marks a string for the catalogues without translating it here."""
    return message


@cache
def translations(lang: str) -> _gettext.NullTranslations:
    """The catalogue for ``lang`` (``"ru"``, ``"zh_CN"``, ``"ru_RU.UTF-8"``); English where there is none."""
    return _gettext.translation(DOMAIN, LOCALE_DIR, languages=[normalise(lang)], fallback=True)


def gettext(lang: str | None, message: str) -> str:
    return translations(lang).gettext(message) if lang else message


def normalise(lang: str) -> str:
    """``ru_RU.UTF-8`` → ``ru_RU``, ``zh-cn`` → ``zh_CN``, ``C``/``POSIX`` → ``en``."""
    base = lang.split(".")[0].split("@")[0].replace("-", "_")
    if base in ("", "C", "POSIX"):
        return "en"
    language, _, region = base.partition("_")
    return f"{language.lower()}_{region.upper()}" if region else language.lower()


def language_from_env(environ: Mapping[str, str] | None = None) -> str:
    """The language a terminal user reads, from ``LANGUAGE``, ``LC_ALL``, ``LC_MESSAGES``, ``LANG``."""
    env = os.environ if environ is None else environ
    for name in ("LANGUAGE", "LC_ALL", "LC_MESSAGES", "LANG"):
        value = env.get(name, "")
        if value:
            return normalise(value.split(":")[0])
    return "en"
