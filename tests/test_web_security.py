"""The station page's fences, against a real labeld on loopback TCP: no session → the login page and no
data; a state-changing request without the CSRF token, from another origin, or naming a foreign Host
is refused and changes nothing; a password logs in only when right; /metrics wants its token; the
page may not listen beyond loopback without a password."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from labeld.cli.client import Client, RequestRefused
from labeld.config import parse_config
from labeld.errors import ConfigError
from labeld.labelmaker import batch_pdf
from labeld.testing.daemon import DaemonProcess
from labeld.web.security import check_password, hash_password

PASSWORD = "correct horse battery"
TOKEN = "metrics-token-0123456789abcdef"


@pytest.fixture(scope="module")
def station(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DaemonProcess]:
    root = tmp_path_factory.mktemp("web-security")
    (root / "password").write_text(hash_password(PASSWORD) + "\n", encoding="utf-8")
    (root / "metrics-token").write_text(TOKEN + "\n", encoding="utf-8")
    with DaemonProcess(root / "labeld", sections={"web": {
            "listen": ["127.0.0.1:0"], "password_file": str(root / "password"),
            "metrics_token_file": str(root / "metrics-token")}}) as daemon:
        daemon.drop("one.pdf", batch_pdf(1))
        daemon.wait_states(1)
        yield daemon


def logged_in(daemon: DaemonProcess) -> tuple[requests.Session, str]:
    """A session logged in by a one-time link, and its CSRF token read off the page."""
    session = requests.Session()
    link = Client(daemon.socket).call("POST", "/v1/web/login")["url"]
    page = session.get(link, timeout=10)
    assert page.status_code == 200 and 'id="scan"' in page.text
    token = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert token is not None
    return session, token.group(1)


@pytest.mark.parametrize("path", ["/", "/jobs/1", "/jobs/1/picture.png", "/events"])
def test_without_a_session_every_page_is_a_redirect_to_login(station: DaemonProcess, path: str) -> None:
    """GET without a session: 303 to the login page, and not a byte of labeld's data."""
    answer = requests.get(station.web_url() + path, allow_redirects=False, timeout=10)
    assert answer.status_code == 303
    assert answer.headers["location"].startswith("/login")
    assert b"one.pdf" not in answer.content and b"PNG" not in answer.content


def test_a_post_without_a_session_changes_nothing(station: DaemonProcess) -> None:
    """POST without a session (even with a made-up token) is sent to the login page; no reprint."""
    before = len(station.jobs())
    answer = requests.post(station.web_url() + "/jobs/1/reprint", data={"csrf": "x"}, allow_redirects=False,
                           timeout=10)
    assert answer.status_code == 303 and answer.headers["location"].startswith("/login")
    assert len(station.jobs()) == before


@pytest.mark.parametrize("path", ["/jobs/1/reprint", "/jobs/1/cancel", "/printers/preview/pause",
                                  "/printers/preview/test", "/scan", "/language", "/logout"])
def test_a_post_without_the_csrf_token_is_refused(station: DaemonProcess, path: str) -> None:
    """A logged-in POST without the session's CSRF token (or with a wrong one) is 403 and does nothing."""
    session, token = logged_in(station)
    before = len(station.jobs())
    assert session.post(station.web_url() + path, data={"code": "x"}, allow_redirects=False, timeout=10
                        ).status_code == 403
    assert session.post(station.web_url() + path, data={"csrf": token[::-1]}, allow_redirects=False, timeout=10
                        ).status_code == 403
    assert len(station.jobs()) == before
    assert not station.printer("preview")["paused"]
    assert session.get(station.web_url() + "/", allow_redirects=False, timeout=10).status_code == 200


def test_the_right_token_from_the_page_itself_works(station: DaemonProcess) -> None:
    """The same POST with the page's token and no foreign Origin does reprint (so the refusals above
    are the fences, not a broken endpoint)."""
    session, token = logged_in(station)
    before = len(station.jobs())
    answer = session.post(station.web_url() + "/jobs/1/reprint", data={"csrf": token, "back": "/jobs/1"},
                          headers={"Origin": station.web_url()}, allow_redirects=False, timeout=10)
    assert answer.status_code == 303 and answer.headers["location"] == "/jobs/1"
    station.wait_states(before + 1)


def test_a_post_from_another_origin_is_refused_even_with_the_token(station: DaemonProcess) -> None:
    """Origin of another site (or Sec-Fetch-Site: cross-site) → 403, token or not."""
    session, token = logged_in(station)
    before = len(station.jobs())
    for headers in ({"Origin": "http://evil.example"}, {"Sec-Fetch-Site": "cross-site"}):
        assert session.post(station.web_url() + "/jobs/1/reprint", data={"csrf": token}, headers=headers,
                            allow_redirects=False, timeout=10).status_code == 403
    assert len(station.jobs()) == before


def test_a_foreign_host_is_refused(station: DaemonProcess) -> None:
    """DNS rebinding: a name that is not this station's gets 400, with a valid session too."""
    session, _ = logged_in(station)
    answer = session.get(station.web_url() + "/", headers={"Host": "evil.example"}, allow_redirects=False,
                         timeout=10)
    assert answer.status_code == 400 and b"one.pdf" not in answer.content


def test_the_cookie_is_httponly_and_samesite_strict_and_pages_carry_a_csp(station: DaemonProcess) -> None:
    """The session cookie cannot be read by script nor sent by other sites; no inline script runs."""
    link = Client(station.socket).call("POST", "/v1/web/login")["url"]
    answer = requests.get(link, allow_redirects=False, timeout=10)
    cookie = answer.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie
    csp = answer.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp and "frame-ancestors 'none'" in csp


def test_a_login_link_works_once(station: DaemonProcess) -> None:
    """The second use of a link is refused with the login page and no session."""
    link = Client(station.socket).call("POST", "/v1/web/login")["url"]
    assert requests.get(link, allow_redirects=False, timeout=10).status_code == 303
    again = requests.get(link, allow_redirects=False, timeout=10)
    assert again.status_code == 403
    assert requests.get(station.web_url() + "/", cookies=again.cookies, allow_redirects=False,
                        timeout=10).status_code == 303


def test_the_password_logs_in_only_when_right(station: DaemonProcess) -> None:
    """The supervisor's password (scrypt hash in password_file) logs in; a wrong one does not."""
    session = requests.Session()
    form = session.get(station.web_url() + "/login", timeout=10).text
    token = re.search(r'name="csrf" value="([^"]+)"', form)
    assert token is not None and 'type="password"' in form
    wrong = session.post(station.web_url() + "/login", data={"csrf": token.group(1), "password": "nope"},
                         allow_redirects=False, timeout=10)
    assert wrong.status_code == 403
    assert session.get(station.web_url() + "/", allow_redirects=False, timeout=10).status_code == 303
    right = session.post(station.web_url() + "/login", data={"csrf": token.group(1), "password": PASSWORD},
                         allow_redirects=False, timeout=10)
    assert right.status_code == 303
    assert session.get(station.web_url() + "/", allow_redirects=False, timeout=10).status_code == 200


def test_metrics_want_the_bearer_token(station: DaemonProcess) -> None:
    """Prometheus on TCP: 401 without the token (no numbers), the metrics with it."""
    url = station.web_url() + "/metrics"
    refused = requests.get(url, timeout=10)
    assert refused.status_code == 401 and b"labeld_jobs" not in refused.content
    assert requests.get(url, headers={"Authorization": "Bearer wrong"}, timeout=10).status_code == 401
    answer = requests.get(url, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10)
    assert answer.status_code == 200
    assert 'labeld_labels_printed_total{printer="preview"}' in answer.text


def test_metrics_open_to_a_configured_network(tmp_path: Path) -> None:
    """With metrics_networks = ["127.0.0.0/8"] a scrape from loopback needs no token, and the page
    itself still needs a session."""
    with DaemonProcess(tmp_path / "labeld", sections={"web": {"listen": ["127.0.0.1:0"],
                                                              "metrics_networks": ["127.0.0.0/8"]}}) as daemon:
        assert "labeld_info" in requests.get(daemon.web_url() + "/metrics", timeout=10).text
        assert requests.get(daemon.web_url() + "/", allow_redirects=False, timeout=10).status_code == 303


def test_listening_beyond_loopback_needs_a_password(tmp_path: Path) -> None:
    """[web] listen on a LAN address without password_file is a config error that says what to do."""
    text = '[web]\nlisten = ["0.0.0.0:8631"]\n\n[[printer]]\nname = "p"\ndriver = "preview"\nuri = "dir:///tmp"\n'
    with pytest.raises(ConfigError) as error:
        parse_config(text, tmp_path / "config.toml")
    assert any("password_file" in problem and "[web] listen" in problem for problem in error.value.problems)
    loopback = parse_config(text.replace("0.0.0.0", "127.0.0.1"), tmp_path / "config.toml")
    assert loopback.web.listen == ("127.0.0.1:8631",)
    assert parse_config(text.replace('["0.0.0.0:8631"]', "[]")).web.listen == ()


def test_password_hashes_are_salted_scrypt() -> None:
    """Two hashes of one password differ (salt) and both check; another password does not."""
    first, second = hash_password(PASSWORD), hash_password(PASSWORD)
    assert first != second and first.startswith("scrypt$")
    assert check_password(PASSWORD, first) and check_password(PASSWORD, second)
    assert not check_password(PASSWORD + "!", first)


def test_labelctl_web_is_refused_when_the_page_is_off(daemon: DaemonProcess) -> None:
    """With [web] listen = [] the socket says the page is off and how to turn it on."""
    with pytest.raises(RequestRefused) as refused:
        Client(daemon.socket).call("POST", "/v1/web/login")
    assert refused.value.code == "web_off" and "[web] listen" in refused.value.message
