"""The catalogues cover every message a person can see: each reason in labeld/messages.py and each
string marked with ``_()``/``N_()`` in the source and the page's templates has a Russian and a Chinese
translation that keeps the same fields, and the compiled .mo files say what the .po files say."""

from __future__ import annotations

import gettext
import string
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

import labeld
from labeld.i18n import LOCALE_DIR
from labeld.messages import MESSAGES
from labeld.reasons import Reason

ROOT = Path(labeld.__file__).parent.parent
LANGUAGES = ("ru", "zh_CN")
KEYWORDS = {"_": None, "N_": None, "gettext": None}
METHODS = [("labeld/**.py", "python"), ("labeld/web/templates/**.html", "jinja2")]


def source_messages() -> dict[str, str]:
    """Every marked string in the source and templates (as ``scripts/i18n.sh`` extracts them) → where."""
    found: dict[str, str] = {}
    for filename, _lineno, message, _comments, _context in extract_from_dir(
            str(ROOT), METHODS, keywords=KEYWORDS, comment_tags=()):
        if isinstance(message, str) and message:
            found.setdefault(message, filename)
    return found


def catalogue(lang: str) -> dict[str, str]:
    path = LOCALE_DIR / lang / "LC_MESSAGES" / "labeld.po"
    with path.open("rb") as handle:
        return {m.id: m.string for m in read_po(handle) if m.id and m.string and not m.fuzzy
                and isinstance(m.id, str) and isinstance(m.string, str)}


def fields(template: str) -> list[tuple[str, str]]:
    return sorted((name, spec or "") for _, name, spec, _ in string.Formatter().parse(template) if name is not None)


def test_the_extraction_finds_the_reasons_and_the_page() -> None:
    """The extraction itself works: it sees the reason catalogue and the templates' strings."""
    found = source_messages()
    assert set(MESSAGES.values()) - {"{text}", "{parts:parts}"} <= set(found)
    assert "Scan a label" in found


@pytest.mark.parametrize("lang", LANGUAGES)
def test_every_message_is_translated(lang: str) -> None:
    """A string marked for translation that a catalogue lacks fails here, naming it and its file
    (run scripts/i18n.sh, translate it in the .po, run scripts/i18n.sh again)."""
    translated = catalogue(lang)
    missing = sorted(f"{where}: {message!r}" for message, where in source_messages().items()
                     if message not in translated)
    assert missing == []


@pytest.mark.parametrize("lang", LANGUAGES)
def test_translations_keep_the_fields(lang: str) -> None:
    """A translation uses exactly the fields (and format specs) of its English source."""
    wrong = [message for message, words in catalogue(lang).items() if fields(message) != fields(words)]
    assert wrong == []


@pytest.mark.parametrize("lang", LANGUAGES)
def test_compiled_catalogue_matches_its_source(lang: str) -> None:
    """The committed .mo says what the .po says (scripts/i18n.sh compiles it)."""
    with (LOCALE_DIR / lang / "LC_MESSAGES" / "labeld.mo").open("rb") as handle:
        compiled = gettext.GNUTranslations(handle)
    stale = [message for message, words in catalogue(lang).items() if compiled.gettext(message) != words]
    assert stale == []


def test_reasons_come_out_in_each_language() -> None:
    """A stored reason is shown in Russian and Chinese, nested reasons and durations too."""
    fit = Reason("fit", parts=[Reason("fit.cropped"), Reason("fit.scaled", zoom=0.5)])
    reason = Reason("job.ready_warning", printer="zd", fit=fit, warnings=[Reason("label.expiring", left=600)])
    assert reason.text("ru") == ("подготовлена для zd (обрезано по содержимому, масштаб 50%); внимание: "
                                 "срок этикетки истекает через 10 мин")
    assert reason.text("zh_CN") == "已为 zd 渲染（已裁剪到内容, 缩放至 50%）；警告：面单将在 10 分钟后过期"
    assert reason.text("ru_RU.UTF-8") == reason.text("ru")
    assert reason.text() == "rendered for zd (cropped to content, scaled to 50%); warning: label expires in 10 min"
