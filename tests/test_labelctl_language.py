"""labelctl's words and the reasons it shows follow LANG: with a catalogue for the reader's language,
fixed words come from it and reasons are made from their codes in that language; without one, English.
A made-up catalogue pins the wiring; the shipped Russian and Chinese ones are checked against a real daemon."""

from __future__ import annotations

import os
import struct
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

import labeld.i18n
from labeld.cli import formatting as fmt
from labeld.reasons import Reason
from labeld.testing.daemon import DaemonProcess

PLURALS = "Content-Type: text/plain; charset=UTF-8\nPlural-Forms: nplurals=2; plural=(n != 1);\n"


def write_mo(path: Path, messages: dict[str, str]) -> None:
    """A GNU gettext catalogue (what Babel's compile step writes) holding ``messages``."""
    entries = sorted({"": PLURALS, **messages}.items())
    ids = b"".join(k.encode() + b"\0" for k, _ in entries)
    strs = b"".join(v.encode() + b"\0" for _, v in entries)
    count = len(entries)
    start = 7 * 4 + 16 * count
    offsets, position = [], start
    for key, _ in entries:
        offsets += [len(key.encode()), position]
        position += len(key.encode()) + 1
    for _, value in entries:
        offsets += [len(value.encode()), position]
        position += len(value.encode()) + 1
    header = struct.pack("<7I", 0x950412DE, 0, count, 28, 28 + 8 * count, 0, 0)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(header + struct.pack(f"<{4 * count}I", *offsets) + ids + strs)


@pytest.fixture
def catalogue(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """A catalogue for the made-up language "xx", read by labeld.i18n as a real one would be."""
    write_mo(tmp_path / "xx" / "LC_MESSAGES" / "labeld.mo", {
        "jobs: {jobs}": "ZADANIYA: {jobs}",
        "ALARM": "TREVOGA",
        "{n} alarm — needs a person now:\0{n} alarms — need a person now:": "{n} TREVOGA\0{n} TREVOGI",
        "printer {printer} stopped ({reasons:list}): {message:reason}": "PRINTER {printer} STOYIT: {message:reason}",
    })
    monkeypatch.setattr(labeld.i18n, "LOCALE_DIR", tmp_path)
    labeld.i18n.translations.cache_clear()
    yield
    labeld.i18n.translations.cache_clear()


def status(alarms: int) -> dict[str, object]:
    reason = Reason("printer.stopped", printer="zd", reasons=["media-empty"], message=Reason.plain("out of paper"))
    alarm = {"id": "printer:zd", "kind": "printer", "since": None, "ack": None, "reason": reason.text(),
             "reason_code": reason.code, "reason_params": dict(reason.params)}
    return {"version": "0", "uptime": 5, "summary": "1 printer", "jobs": {"printed": 2}, "printers": [],
            "alarms": [alarm] * alarms, "rejected_today": 0}


def test_words_and_reasons_follow_the_readers_language(catalogue: None, monkeypatch: pytest.MonkeyPatch) -> None:
    """LANGUAGE=xx: fixed words, plural forms and the alarm's reason all come from the xx catalogue."""
    monkeypatch.setenv("LANGUAGE", "xx")
    text = fmt.status_text(status(1), time.time())
    assert "ZADANIYA: 2 printed" in text
    assert "1 TREVOGA" in text and "!! TREVOGA  PRINTER zd STOYIT: out of paper" in text
    assert "2 TREVOGI" in fmt.status_text(status(2), time.time())


def test_a_language_without_a_catalogue_reads_english(catalogue: None, monkeypatch: pytest.MonkeyPatch) -> None:
    """LANG=de_DE (no catalogue): English words and English reasons."""
    monkeypatch.delenv("LANGUAGE", raising=False)
    monkeypatch.delenv("LC_ALL", raising=False)
    monkeypatch.delenv("LC_MESSAGES", raising=False)
    monkeypatch.setenv("LANG", "de_DE.UTF-8")
    text = fmt.status_text(status(1), time.time())
    assert "jobs: 2 printed" in text and "!! ALARM  printer zd stopped (media-empty): out of paper" in text


def test_labelctl_speaks_russian_and_chinese_with_the_shipped_catalogues(daemon: DaemonProcess) -> None:
    """Against a real daemon: LANG=ru_RU.UTF-8 gives Russian words and a Russian reason for a rejected
    file's alarm, LANG=zh_CN.UTF-8 Chinese, and LANG=C English."""
    daemon.drop("empty.pdf", b"")
    daemon.wait_for(lambda: bool(daemon.query("SELECT 1 FROM rejected_files")), what="the rejected file")

    def status(lang: str) -> str:
        env = {**os.environ, "LABELD_SOCKET": str(daemon.socket), "LANG": lang}
        env.pop("LANGUAGE", None)
        env.pop("LC_ALL", None)
        done = subprocess.run([sys.executable, "-m", "labeld.cli.labelctl", "status"], capture_output=True, text=True,
                              env=env, timeout=60)
        assert done.returncode == 0, done.stderr
        return done.stdout

    russian = status("ru_RU.UTF-8")
    assert "!! ТРЕВОГА  файл empty.pdf отклонён: файл пустой (0 байт)" in russian
    assert "ПРИНТЕР" in russian and "файлов отклонено сегодня: 1" in russian
    chinese = status("zh_CN.UTF-8")
    assert "!! 警报" in chinese and "打印机" in chinese
    assert "!! ALARM  file empty.pdf was rejected: the file is empty (0 bytes)" in status("C.UTF-8")
