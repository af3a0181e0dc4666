"""A real headless browser for the station page's tests: Debian's chromium driven by Selenium through
Debian's chromedriver (both paths given, so Selenium never looks for, or downloads, a browser)."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from selenium import webdriver
from selenium.common.exceptions import StaleElementReferenceException, TimeoutException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support.wait import WebDriverWait

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
#: Only catches a hang: the conditions waited for normally hold within a second or two.
WAIT_SECONDS = 30.0
FLAGS = ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--autoplay-policy=no-user-gesture-required", "--window-size=1280,1000", "--disable-dev-shm-usage")


class Browser:
    """One chromium with a fresh profile; ``screenshot`` saves under ``out_dir`` (and under
    ``$LABELD_SCREENSHOTS`` when set, to refresh the documentation's pictures)."""

    def __init__(self, out_dir: Path, accept_language: str = "en-US,en") -> None:
        self.out_dir = out_dir
        self.profile = Path(tempfile.mkdtemp(prefix="labeld-chromium-"))
        options = webdriver.ChromeOptions()
        options.binary_location = str(CHROMIUM)
        for flag in FLAGS:
            options.add_argument(flag)
        options.add_argument(f"--user-data-dir={self.profile}")
        options.add_argument(f"--lang={accept_language.split(',')[0]}")
        options.add_experimental_option("prefs", {"intl.accept_languages": accept_language})
        self.driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)

    def get(self, url: str) -> None:
        self.driver.get(url)

    @property
    def url(self) -> str:
        return str(self.driver.current_url)

    def find(self, css: str) -> WebElement:
        return self.driver.find_element(By.CSS_SELECTOR, css)

    def all(self, css: str) -> list[WebElement]:
        return list(self.driver.find_elements(By.CSS_SELECTOR, css))

    def text(self, css: str = "body") -> str:
        """The visible text of the first element matching ``css`` (empty if there is none)."""
        try:
            found = self.all(css)
            return str(found[0].text) if found else ""
        except StaleElementReferenceException:  # replaced by a live update while read
            return ""

    def script(self, source: str, *args: Any) -> Any:
        return self.driver.execute_script(source, *args)

    def wait(self, condition: Callable[[], Any], what: str, timeout: float = WAIT_SECONDS) -> Any:
        """Poll ``condition`` until it returns something true; fail naming ``what`` and the page."""
        def attempt(_: Any) -> Any:
            try:
                return condition()
            except StaleElementReferenceException:
                return False
        try:
            return WebDriverWait(self.driver, timeout, poll_frequency=0.1).until(attempt)
        except TimeoutException:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}; page {self.url}:\n"
                                 f"{self.text()[:3000]}") from None

    def screenshot(self, name: str) -> Path:
        self.out_dir.mkdir(parents=True, exist_ok=True)
        path = self.out_dir / f"{name}.png"
        self.driver.save_screenshot(str(path))
        extra = os.environ.get("LABELD_SCREENSHOTS")
        if extra:
            Path(extra).mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, Path(extra) / path.name)
        return path

    def cookies(self) -> dict[str, str]:
        return {c["name"]: c["value"] for c in self.driver.get_cookies()}

    def quit(self) -> None:
        self.driver.quit()
        shutil.rmtree(self.profile, ignore_errors=True)
