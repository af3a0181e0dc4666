"""The station page's small rules, pinned in-process: which language a browser gets, one-time
tickets, where a form may send the browser back to, and which words a printer state becomes."""

from __future__ import annotations

import pytest
from starlette.datastructures import FormData

from labeld.i18n import gettext
from labeld.web.app import back
from labeld.web.language import negotiate, supported, translator
from labeld.web.security import Tickets
from labeld.web.words import PRINTER_REASON_WORDS, STATE_WORDS


@pytest.mark.parametrize(("header", "lang"), [
    ("ru-RU,ru;q=0.9,en-US;q=0.8,en;q=0.7", "ru"),
    ("zh-CN,zh;q=0.9", "zh_CN"),
    ("zh-Hans", "zh_CN"),
    ("zh-TW", "en"),
    ("de-DE,en;q=0.5,ru;q=0.9", "ru"),
    ("en-GB,ru;q=0.8", "en"),
    ("ru;q=0, zh", "zh_CN"),
    ("", "en"),
    ("garbage;;q=x", "en"),
])
def test_accept_language_picks_the_best_catalogue(header: str, lang: str) -> None:
    """q-values decide; regions map onto the catalogue (zh-Hans → zh_CN), unknown ones fall to English."""
    assert negotiate(header) == lang


def test_supported_languages() -> None:
    """Only languages with a catalogue (and English) are offered."""
    assert [supported(t) for t in ("ru-RU", "zh", "en-US", "fr")] == ["ru", "zh_CN", "en", None]


def test_a_ticket_works_once_and_only_while_fresh() -> None:
    """A ticket logs in once; after its lifetime, or a second time, it does not; a made-up one never."""
    now = [1000.0]
    tickets = Tickets(lifetime=300, clock=lambda: now[0])
    first, second = tickets.issue(), tickets.issue()
    assert first != second and len(first) >= 40
    assert tickets.redeem(first) and not tickets.redeem(first)
    now[0] += 301
    assert not tickets.redeem(second)
    assert not tickets.redeem("made-up")


@pytest.mark.parametrize(("target", "expected"), [
    ("/jobs/4", "/jobs/4"), ("/?state=held", "/?state=held"), ("//evil.example/x", "/"),
    ("http://evil.example/", "/"), ("/\\evil.example", "/"), (None, "/"),
])
def test_back_stays_on_the_page(target: str | None, expected: str) -> None:
    """After an action the browser goes back to a path of this page only (no open redirect)."""
    form = FormData({"back": target} if target is not None else {})
    assert back(form) == expected


def test_state_and_fault_words_are_translated() -> None:
    """Every job state and printer fault word has Russian and Chinese words."""
    for words in (*STATE_WORDS.values(), *PRINTER_REASON_WORDS.values()):
        for lang in ("ru", "zh_CN"):
            assert gettext(lang, words) != words, (lang, words)
    assert translator("ru")("paper out") == "закончилась бумага"
    assert translator("en")("paper out") == "paper out"
