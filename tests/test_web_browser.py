"""The station page in a real headless browser (Debian's chromium, Selenium), against a real labeld in
a child process printing on the ZPL emulator over TCP: log in with the one-time link of
``labelctl web``, watch a label print and see the exact bitmap the printer got, see a paper-out
banner come and go, switch languages. A screenshot of each main view lands in the test's folder."""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import requests
from selenium.webdriver.common.keys import Keys

from labeld.bitmap import from_png
from labeld.i18n import LOCALE_DIR
from labeld.labelmaker import LabelSpec, Symbol, label_pdf
from labeld.testing.bench import EmulatorBench
from labeld.testing.daemon import DaemonProcess
from labeld.testing.emulator_base import Emulator, Fault
from labeld.testing.zpl_emulator import make_emulator
from tests.browser import CHROMEDRIVER, CHROMIUM, Browser
from tests.conftest import decode

pytestmark = pytest.mark.skipif(not (CHROMIUM.exists() and CHROMEDRIVER.exists()),
                                reason="chromium and chromium-driver are not installed (scripts/setup.sh test)")


def posting(n: int) -> str:
    return f"{73710000 + n:08d}-0456-1"


def ozon_label(n: int) -> LabelSpec:
    """A 58×40 mm label like Ozon's: the posting number as Code128 and ``OZON:<posting>`` as QR."""
    return LabelSpec(posting=posting(n), tracking=f"TRK{n:09d}", size_mm=(58.0, 40.0), symbols=(
        Symbol("code128", posting(n), 3.0, 3.0, 0.3, height_mm=10.0),
        Symbol("qr", f"OZON:{posting(n)}", 40.0, 22.0, 0.5),
    ))


class Station:
    """A labeld with the page on a free loopback port and one ZPL emulator ``zd`` on TCP."""

    def __init__(self, root: Path, bench: EmulatorBench, faults: tuple[Fault, ...] = (),
                 web: dict[str, str] | None = None) -> None:
        self.emulator: Emulator = make_emulator(root / "zd-out", dpi=203, speed_mm_s=5000.0, faults=faults, name="zd")
        uri = bench.attach(self.emulator, "tcp", "zd")
        self.daemon = DaemonProcess(root / "labeld", printers=[
            {"name": "zd", "driver": "zpl", "uri": uri, "dpi": 203, "media": "58x40mm", "default": True}],
            sections={"web": {"listen": ["127.0.0.1:0"], **(web or {})}}, env=bench.env)
        self.daemon.start()
        self.url = self.daemon.web_url()

    def login_link(self) -> str:
        """What an operator gets from ``labelctl web`` (the real command, over the control socket)."""
        done = subprocess.run([sys.executable, "-m", "labeld.cli.labelctl", "--socket", str(self.daemon.socket),
                               "web"], capture_output=True, text=True, timeout=30, check=True)
        link = re.search(r"http://\S+", done.stdout)
        assert link is not None, done.stdout
        return link.group(0)

    def drop(self, name: str, numbers: range) -> None:
        self.daemon.drop(name, label_pdf([ozon_label(n) for n in numbers]))


@pytest.fixture
def station(bench: EmulatorBench, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Station]:
    faults, web = request.node.get_closest_marker("faults"), request.node.get_closest_marker("web")
    made = Station(tmp_path, bench, faults.args if faults else (), web.kwargs if web else None)
    yield made
    made.daemon.stop()


@pytest.fixture
def browser(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Browser]:
    marker = request.node.get_closest_marker("accept_language")
    opened = Browser(tmp_path / "screenshots", marker.args[0] if marker else "en-US,en")
    yield opened
    opened.quit()


def log_in(browser: Browser, station: Station) -> None:
    browser.get(station.login_link())
    browser.wait(lambda: browser.all("#scan") and browser.url.rstrip("/") == station.url, "the station view")
    browser.wait(lambda: browser.script("return document.body.dataset.live") == "1", "the live stream")


def history_states(browser: Browser) -> list[str]:
    return [row.get_attribute("class") or "" for row in browser.all(".history tr[data-job]")]


def test_login_link_then_a_printed_label_shows_the_bitmap_the_printer_got(browser: Browser, station: Station) -> None:
    """No session → the login page and no data; the link of ``labelctl web`` logs in once; a label
    printed on the ZPL emulator appears live, and its job page shows exactly the printer's bitmap."""
    browser.get(station.url + "/")
    assert "/login" in browser.url and "labelctl web" in browser.text("main") and not browser.all("#scan")
    link = station.login_link()
    browser.get(link)
    browser.wait(lambda: browser.all("#scan"), "the station view after login")
    assert requests.get(link, timeout=10, allow_redirects=False).status_code == 403  # a link works once
    browser.wait(lambda: browser.script("return document.body.dataset.live") == "1", "the live stream")

    station.drop("batch_2.pdf", range(2))
    browser.wait(lambda: history_states(browser) == ["printed", "printed"], "two printed rows, without a reload")
    assert "batch_2.pdf: 2/2 printed" in browser.text(".batches")
    assert browser.text(".printer[data-printer=zd] .printed-today") == "2"
    browser.screenshot("station")

    job = station.daemon.jobs()[0]
    browser.find(f'.history tr[data-job="{job["id"]}"] a').click()
    browser.wait(lambda: browser.script("const i = document.querySelector('img.picture');"
                                        "return i && i.complete && i.naturalWidth > 0"), "the label's picture")
    picture = requests.get(f"{station.url}/jobs/{job['id']}/picture.png", cookies=browser.cookies(), timeout=10)
    shown = from_png(picture.content)
    assert browser.script("return document.querySelector('img.picture').naturalWidth") == shown.shape[1]
    assert np.array_equal(shown, station.daemon.spooled_bitmap(job["id"]))
    assert np.array_equal(shown, station.emulator.labels[0])
    assert set(decode(shown)) == {posting(0), f"OZON:{posting(0)}"}
    assert "Code128" in browser.text(".findings") and "printed on zd" in browser.text(".facts")
    browser.screenshot("job")


@pytest.mark.faults(Fault("paper-out", 1))
def test_paper_out_raises_the_banner_and_loading_paper_clears_it(browser: Browser, station: Station) -> None:
    """Paper runs out after the first label: within seconds a banner names the printer and the fault
    (and the alarm sound starts); once paper is loaded the banner goes and the second label prints."""
    log_in(browser, station)
    station.drop("two.pdf", range(2))
    browser.wait(lambda: "paper out" in browser.text("#alarms"), "the paper-out banner")
    assert "zd" in browser.text("#alarms .alarm")
    assert browser.script("return document.body.dataset.alarms") == "printer:zd"
    assert "waiting: paper out" in browser.text(".printer[data-printer=zd] .state")
    browser.screenshot("alarm")

    station.emulator.clear_fault()
    browser.wait(lambda: not browser.all("#alarms .alarm"), "the banner to clear")
    browser.wait(lambda: history_states(browser) == ["printed", "printed"], "both labels printed")
    assert browser.script("return document.body.dataset.alarms") == ""
    assert len(station.emulator.labels) == 2


def scan(browser: Browser, code: str) -> None:
    """Type into the page as a keyboard-wedge scanner does: key by key into whatever has focus, then Enter."""
    assert browser.script("return document.activeElement.id") == "scan"
    focused = browser.driver.switch_to.active_element
    for key in code:
        focused.send_keys(key)
    focused.send_keys(Keys.ENTER)


def test_scanning_the_qr_text_shows_the_label_and_one_press_reprints_it(browser: Browser, station: Station) -> None:
    """``OZON:<posting>`` typed key by key + Enter shows that label's picture and state; one press on
    Reprint prints it again: the emulator decodes the same label twice."""
    log_in(browser, station)
    station.drop("one.pdf", range(1))
    browser.wait(lambda: history_states(browser) == ["printed"], "the printed row")
    scan(browser, f"OZON:{posting(0)}")
    browser.wait(lambda: browser.script("const i = document.querySelector('#scanned img.picture');"
                                        "return i && i.complete && i.naturalWidth > 0"), "the scanned label's picture")
    assert posting(0) in browser.text("#scanned h2")
    assert browser.script("return document.activeElement.id") == "scan"  # ready for the next parcel
    browser.screenshot("scan")

    browser.find("#reprint").click()
    browser.wait(lambda: "job 2" in browser.text(".flash.ok"), "the reprint message")
    assert station.emulator.wait_labels(2, timeout=30)
    first, again = station.emulator.labels
    assert np.array_equal(first, again)
    assert set(decode(again)) == {posting(0), f"OZON:{posting(0)}"}


@pytest.mark.web(scan_action="reprint")
def test_scan_action_reprint_prints_at_once_and_an_unknown_code_says_so(browser: Browser, station: Station) -> None:
    """With scan_action = "reprint" the scan alone reprints (a posting typed with spaces for dashes);
    a code no label holds is answered in words, and nothing prints."""
    log_in(browser, station)
    station.drop("one.pdf", range(1))
    browser.wait(lambda: history_states(browser) == ["printed"], "the printed row")
    scan(browser, posting(0).replace("-", " "))
    assert station.emulator.wait_labels(2, timeout=30)
    browser.wait(lambda: "job 2" in browser.text(".flash.ok"), "the reprint message")
    scan(browser, "OZON:99999999-0000-1")
    browser.wait(lambda: "99999999-0000-1" in browser.text("#scanned .error"), "the no-match answer")
    assert len(station.emulator.labels) == 2


def test_a_file_rejected_whole_raises_an_alarm_until_done(browser: Browser, station: Station) -> None:
    """A file that is not a PDF shows in the banner and under "Files refused whole" with its reason;
    "Done" clears the banner, the list keeps it."""
    log_in(browser, station)
    station.daemon.drop("garbage.pdf", b"this is not a PDF at all\n")
    browser.wait(lambda: "garbage.pdf" in browser.text("#alarms"), "the rejected-file banner")
    assert "not a PDF" in browser.text("#alarms")
    browser.wait(lambda: "garbage.pdf" in browser.text(".rejected"), "the rejected file in its list")
    browser.find("#alarms .alarm button").click()
    browser.wait(lambda: not browser.all("#alarms .alarm"), "the banner to clear")
    assert "garbage.pdf" in browser.text(".rejected")


def english_fragments() -> set[str]:
    """Words of the English source strings that a translated page must not show: each catalogue
    entry's literal parts of two words or more (single words like "zd" or "ZPL" may be names)."""
    from babel.messages.pofile import read_po

    with (LOCALE_DIR / "ru" / "LC_MESSAGES" / "labeld.po").open("rb") as handle:
        ids = [m.id for m in read_po(handle) if isinstance(m.id, str) and m.id]
    fragments = set()
    for message in ids:
        for part in re.split(r"\{[^}]*\}", message):
            part = part.strip(" :;,.()—-")
            if len(part.split()) >= 2 or (len(part) >= 5 and " " not in part and part.isalpha()):
                fragments.add(part)
    return fragments


def untranslated(text: str, fragments: set[str]) -> list[str]:
    return sorted(f for f in fragments if re.search(rf"(?<![A-Za-z]){re.escape(f)}(?![A-Za-z])", text))


@pytest.mark.accept_language("ru-RU,ru;q=0.9,en;q=0.5")
def test_the_main_view_in_russian_and_chinese_has_no_english_left(browser: Browser, station: Station) -> None:
    """The browser asks for Russian and gets it; the switch on the page turns it to Chinese; in
    either, nothing on the station view (printers, lists, reasons) is left in English."""
    log_in(browser, station)
    station.drop("batch_1.pdf", range(1))
    browser.wait(lambda: history_states(browser) == ["printed"], "the printed row")
    fragments = english_fragments()
    page = browser.text()
    assert "Принтеры" in page and "напечатана на zd" in page
    assert untranslated(page, fragments) == []
    browser.screenshot("station-ru")

    browser.find('.languages button[value="zh_CN"]').click()
    browser.wait(lambda: "打印机" in browser.text("main"), "the Chinese page")
    browser.wait(lambda: browser.script("return document.body.dataset.live") == "1", "the live stream")
    page = browser.text()
    assert "已在 zd 打印" in page
    assert untranslated(page, fragments) == []
    browser.screenshot("station-zh_CN")
