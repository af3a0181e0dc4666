"""The sources' decisions, in process, against the marketplace emulators over real HTTPS.

Each test runs the real coordinator, HTTP client, link intake (which fetches Ozon's ``file_url``)
and accept path on a real spool, with the emulator on loopback TLS (a CA made for the test).
What is checked is what the spool and the emulator saw: labels taken once, postings retried,
trouble shown, the key kept to itself.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from labeld.config import Config, parse_config
from labeld.intake.accept import Acceptor
from labeld.intake.remote import RemoteIntake
from labeld.sources import SourceManager
from labeld.sources.handoff import AcceptorSink
from labeld.spool.spool import Spool
from labeld.spool.store import DocumentStore
from labeld.testing.marketplace import MarketplaceApp, MarketplaceServer, Tls, make_tls
from labeld.testing.ozon_emulator import OzonMarketplace
from labeld.testing.wb_emulator import WildberriesMarketplace

KEY = "ozon-KEY-9f3c2b7e"
TOKEN = "wb-TOKEN-51d0aa"
QUICK = {"interval": "0.3s", "not_ready_retry": "0.3s", "max_backoff": "2s", "rate": 50}


@dataclass
class Engine:
    """A spool, the accept path, the link intake and the source manager, as the daemon wires them."""

    config: Config
    spool: Spool
    manager: SourceManager
    remote: RemoteIntake

    def wait(self, predicate: Callable[[], bool], what: str, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while not predicate():
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {what}: {json.dumps(self.manager.snapshots())}")
            time.sleep(0.05)

    def snapshot(self) -> dict[str, Any]:
        return self.manager.snapshots()[0]

    def postings(self) -> list[tuple[str | None, str | None, str]]:
        return sorted((j.posting, j.tracking, j.state.value) for j in self.spool.jobs(limit=1000))


@pytest.fixture
def tls(tmp_path: Path) -> Tls:
    return make_tls(tmp_path / "tls")


def key_file(tmp_path: Path, value: str) -> Path:
    path = tmp_path / "key"
    path.write_text(value + "\n")
    path.chmod(0o600)
    return path


def source_toml(kind: str, server: MarketplaceServer, key: Path, ca: Path, **extra: Any) -> str:
    values: dict[str, Any] = {"name": "shop", "type": kind, "api_key_file": str(key), "base_url": server.url,
                              "ca_bundle": str(ca), **QUICK, **extra}
    if kind == "ozon":
        values["client_id"] = "1234"
    links = f'[links]\nca_bundle = {json.dumps(str(ca))}\nbackoff = "0.2s"\n'
    return links + "[[source]]\n" + "".join(f"{k} = {json.dumps(v)}\n" for k, v in values.items())


@pytest.fixture
def engines(tmp_path: Path) -> Iterator[Callable[..., Engine]]:
    """Makes an engine on a config text; every one made is stopped afterwards."""
    made: list[tuple[SourceManager, RemoteIntake]] = []

    def make(source: str, media: str = "75x120mm", driver: str = "preview", spool_dir: Path | None = None) -> Engine:
        printer = (f'[[printer]]\nname = "p"\ndriver = "{driver}"\nuri = "dir://{tmp_path}/out"\nmedia = "{media}"\n'
                   f'dpi = 300\n')
        config = parse_config(printer + source, tmp_path / "config.toml")
        root = spool_dir or tmp_path / "state"
        spool = Spool(root / "spool.db")
        acceptor = Acceptor(config, spool, DocumentStore(root))
        remote = RemoteIntake(config, spool, acceptor, None)
        manager = SourceManager(config, spool, AcceptorSink(acceptor, spool, remote.wake))
        made.append((manager, remote))
        remote.start()
        manager.start()
        return Engine(config, spool, manager, remote)

    yield make
    for manager, remote in made:
        manager.stop()
        remote.stop()


def serve(app: MarketplaceApp, tls: Tls) -> Iterator[MarketplaceServer]:
    server = MarketplaceServer(app, tls)
    yield server
    server.stop()


@pytest.fixture
def ozon(tls: Tls) -> Iterator[tuple[OzonMarketplace, MarketplaceServer]]:
    app = OzonMarketplace("1234", KEY, ready_after=0.0)
    for server in serve(app, tls):
        yield app, server


@pytest.fixture
def wildberries(tls: Tls) -> Iterator[tuple[WildberriesMarketplace, MarketplaceServer]]:
    app = WildberriesMarketplace(TOKEN)
    for server in serve(app, tls):
        yield app, server


def test_postings_not_ready_are_fetched_once_they_are(ozon: Any, tls: Tls, tmp_path: Path,
                                                      engines: Callable[..., Engine]) -> None:
    """Labels that Ozon has not made yet wait, then each arrives exactly once with its posting and tracking."""
    app, server = ozon
    numbers = app.add_postings(6, ready_after=1.5)
    engine = engines(source_toml("ozon", server, key_file(tmp_path, KEY), tls.ca_bundle))
    engine.wait(lambda: engine.snapshot()["postings"]["fetched"] == 6, "6 labels")
    assert [p for p, _, _ in engine.postings()] == numbers
    assert all(t == app.postings[p].tracking for p, t, _ in engine.postings())
    assert engine.spool.read("SELECT COUNT(*) FROM documents")[0][0] == 6
    assert app.count("/v1/posting/fbs/package-label/get") > 6, "the not-ready tasks were asked again"
    assert not any(r.with_key for r in app.requests if r.path.startswith("/files/")), "the key went to the file host"


def test_a_restart_resumes_without_fetching_again(ozon: Any, tls: Tls, tmp_path: Path,
                                                  engines: Callable[..., Engine]) -> None:
    """A second engine on the same spool knows what the first fetched and asks Ozon for none of it."""
    app, server = ozon
    app.add_postings(4)
    toml = source_toml("ozon", server, key_file(tmp_path, KEY), tls.ca_bundle)
    first = engines(toml)
    first.wait(lambda: first.snapshot()["postings"]["fetched"] == 4, "4 labels")
    first.manager.stop()
    made = dict(app.labels_made)
    polls = first.snapshot()["polls"]
    second = engines(toml, spool_dir=tmp_path / "state")
    second.wait(lambda: second.snapshot()["polls"] > polls + 1, "two more polls")
    assert app.labels_made == made
    assert len(second.postings()) == 4


def test_a_regenerated_label_is_fetched_under_its_new_tracking(ozon: Any, tls: Tls, tmp_path: Path,
                                                               engines: Callable[..., Engine]) -> None:
    """A new tracking number for a fetched posting is a new label: fetched once more, both keep the posting."""
    app, server = ozon
    [number] = app.add_postings(1)
    engine = engines(source_toml("ozon", server, key_file(tmp_path, KEY), tls.ca_bundle))
    engine.wait(lambda: engine.snapshot()["labels_fetched"] == 1, "the first label")
    old = app.postings[number].tracking
    new = app.regenerate(number)
    engine.wait(lambda: engine.snapshot()["labels_fetched"] == 2, "the regenerated label")
    assert [(p, t) for p, t, _ in engine.postings()] == [(number, old), (number, new)]


def test_403_puts_the_source_in_trouble_without_the_key(ozon: Any, tls: Tls, tmp_path: Path,
                                                        engines: Callable[..., Engine]) -> None:
    """A refused key: trouble that says what to do, polled slowly, and the key in no word of it."""
    app, server = ozon
    app.add_postings(2)
    app.fault("auth")
    engine = engines(source_toml("ozon", server, key_file(tmp_path, KEY), tls.ca_bundle))
    engine.wait(lambda: engine.snapshot()["state"] == "trouble", "trouble")
    snapshot = engine.snapshot()
    assert snapshot["trouble"]["reason_code"] == "source.key_refused"
    assert "90 days" in snapshot["trouble"]["reason"] and str(tmp_path / "key") in snapshot["trouble"]["reason"]
    assert snapshot["errors"] == {"auth": 1}
    assert snapshot["next_poll"] - snapshot["last_poll"] == pytest.approx(2.0, abs=0.5)
    assert KEY not in json.dumps(snapshot)
    app.clear()
    engine.wait(lambda: engine.snapshot()["postings"]["fetched"] == 2, "recovery", timeout=20)
    assert engine.snapshot()["trouble"] is None
    assert engine.snapshot()["last_error"]["reason_code"] == "source.key_refused"


def test_a_429_storm_backs_off_and_loses_nothing(ozon: Any, tls: Tls, tmp_path: Path,
                                                 engines: Callable[..., Engine]) -> None:
    """Twelve 429s in a row: the client waits, the source backs off, and every label still arrives once."""
    app, server = ozon
    app.add_postings(10)
    app.fault("rate", count=12)
    engine = engines(source_toml("ozon", server, key_file(tmp_path, KEY), tls.ca_bundle))
    engine.wait(lambda: engine.snapshot()["postings"]["fetched"] == 10, "10 labels", timeout=90)
    assert app.count("/v3/posting/fbs/unfulfilled/list", 429) + app.count(
        "/v2/posting/fbs/package-label/create", 429) >= 1
    assert engine.snapshot()["errors"].get("rate", 0) >= 1
    assert sorted({p for p, _, _ in engine.postings()}) == sorted(app.postings)
    assert len(engine.postings()) == 10


def test_requests_stay_under_the_rate(ozon: Any, tls: Tls, tmp_path: Path, engines: Callable[..., Engine]) -> None:
    """With rate = 5, no second carries more than the burst plus five API requests. (The label files
    behind file_url are fetched by the link intake, without the key, from Ozon's file host: they
    are not API methods and are not paced with them.)"""
    app, server = ozon
    app.add_postings(8)
    engine = engines(source_toml("ozon", server, key_file(tmp_path, KEY), tls.ca_bundle, rate=5))
    engine.wait(lambda: engine.snapshot()["postings"]["fetched"] == 8, "8 labels", timeout=60)
    assert app.busiest_second("/v") <= 10


def test_task_endpoint_switched_off_falls_back_to_the_synchronous_call(ozon: Any, tls: Tls, tmp_path: Path,
                                                                       engines: Callable[..., Engine]) -> None:
    """404 on package-label/create: the synchronous package-label call fetches the labels instead."""
    app, server = ozon
    app.add_postings(3)
    app.fault("off", path="/v2/posting/fbs/package-label/create")
    engine = engines(source_toml("ozon", server, key_file(tmp_path, KEY), tls.ca_bundle))
    engine.wait(lambda: engine.snapshot()["postings"]["fetched"] == 3, "3 labels")
    assert app.count("/v2/posting/fbs/package-label", 200) == 3


def test_both_label_endpoints_gone_is_trouble_naming_the_path(ozon: Any, tls: Tls, tmp_path: Path,
                                                              engines: Callable[..., Engine]) -> None:
    """With the synchronous call switched off as well, the source says which path to set."""
    app, server = ozon
    app.add_postings(1)
    app.fault("off", path="/v2/posting/fbs/package-label")
    engine = engines(source_toml("ozon", server, key_file(tmp_path, KEY), tls.ca_bundle, label_flow="sync"))
    engine.wait(lambda: engine.snapshot()["state"] == "trouble", "trouble")
    assert engine.snapshot()["trouble"]["reason_code"] == "source.endpoint_gone"
    assert "/v2/posting/fbs/package-label" in engine.snapshot()["trouble"]["reason"]


def test_a_truncated_file_is_fetched_again(ozon: Any, tls: Tls, tmp_path: Path,
                                           engines: Callable[..., Engine]) -> None:
    """Half a PDF (with an honest Content-Length) behind file_url: the link intake refuses that
    link's job as incomplete (as for any label_url), and the source asks Ozon for a fresh label,
    which arrives whole under the posting's retry key."""
    app, server = ozon
    [number] = app.add_postings(1)
    app.fault("truncated", count=1)
    engine = engines(source_toml("ozon", server, key_file(tmp_path, KEY), tls.ca_bundle))
    engine.wait(lambda: engine.spool.read("SELECT COUNT(*) FROM documents WHERE kind = 'pdf'")[0][0] == 1,
                "the whole label")
    jobs = sorted(engine.spool.jobs(limit=10), key=lambda j: j.id)
    assert (jobs[0].posting, jobs[0].state.value, jobs[0].reason.code) == (number, "rejected", "link.incomplete")
    assert len(jobs) == 2 and jobs[1].state.value == "queued" and jobs[1].posting == number
    keys = sorted(r[0] for r in engine.spool.read("SELECT intake_key FROM documents"))
    assert keys == [f"ozon:shop/{number}/{app.postings[number].tracking}",
                    f"ozon:shop/{number}/{app.postings[number].tracking}#r1"]
    assert app.count("/v2/posting/fbs/package-label/create") == 2
    assert getattr(engine.manager.coordinators["shop"].state.posting(number), "state", "") == "fetched"


def test_a_redirecting_file_url_is_refused_naming_its_target(ozon: Any, tls: Tls, tmp_path: Path,
                                                             engines: Callable[..., Engine]) -> None:
    """A file_url that answers 302 is not followed: its job is refused naming where it pointed (without
    the signature), and the posting asks Ozon again; after three such links it is given up, loudly."""
    app, server = ozon
    [number] = app.add_postings(1)
    app.fault("redirect")
    engine = engines(source_toml("ozon", server, key_file(tmp_path, KEY), tls.ca_bundle))
    state = engine.manager.coordinators["shop"].state
    engine.wait(lambda: getattr(state.posting(number), "state", "") == "failed", "the posting given up")
    jobs = sorted(engine.spool.jobs(limit=10), key=lambda j: j.id)
    assert [(j.state.value, j.reason.code) for j in jobs] == [("rejected", "link.redirect")] * 3
    assert "https://cdn.example.invalid/moved/" in jobs[0].reason.text() and "sig=" not in jobs[0].reason.text()
    row = state.posting(number)
    assert row is not None and row.reason is not None and row.reason.code == "posting.link_gave_up"
    assert not any(r.method == "GET" for r in app.requests if r.path.startswith("/files/")), "a redirect was followed"
    app.clear()
    assert engine.manager.fetch(number).state == "fetched"
    engine.wait(lambda: engine.spool.read("SELECT COUNT(*) FROM documents WHERE kind = 'pdf'")[0][0] == 1,
                "the label an operator asked for")


def test_an_untrusted_certificate_is_refused(ozon: Any, tmp_path: Path, engines: Callable[..., Engine]) -> None:
    """Against a CA labeld was not told to trust, nothing is fetched and the source says TLS failed."""
    app, server = ozon
    app.add_postings(1)
    other = make_tls(tmp_path / "other-ca")
    engine = engines(source_toml("ozon", server, key_file(tmp_path, KEY), other.ca_bundle))
    engine.wait(lambda: engine.snapshot()["state"] == "trouble", "trouble")
    assert engine.snapshot()["trouble"]["reason_code"] == "source.unreachable"
    assert "certificate" in engine.snapshot()["trouble"]["reason"].lower()
    assert app.requests == []


def test_pause_resume_and_fetch_now(ozon: Any, tls: Tls, tmp_path: Path, engines: Callable[..., Engine]) -> None:
    """A paused source does not poll; an operator's fetch still gets one posting's label, once."""
    app, server = ozon
    engine = engines(source_toml("ozon", server, key_file(tmp_path, KEY), tls.ca_bundle))
    engine.manager.set_paused("shop", True)
    time.sleep(0.2)
    polls = engine.snapshot()["polls"]
    [number] = app.add_postings(1)
    time.sleep(1.0)
    assert engine.snapshot()["polls"] == polls
    row = engine.manager.fetch(number)
    assert row.state == "fetched"
    assert engine.manager.fetch(number).state == "fetched"
    assert app.labels_made == {number: 1}
    engine.manager.set_paused("shop", False)
    engine.wait(lambda: engine.snapshot()["polls"] > polls, "a poll after resume")


def test_wildberries_stickers_by_printer_type(wildberries: Any, tls: Tls, tmp_path: Path,
                                              engines: Callable[..., Engine]) -> None:
    """Orders on assembly get one sticker each: ZPL for a ZPL printer, kept as the raw ZPL document."""
    app, server = wildberries
    confirm = app.add_orders(5)
    app.add_orders(2, status="new")
    engine = engines(source_toml("wildberries", server, key_file(tmp_path, TOKEN), tls.ca_bundle), media="58x40mm",
                     driver="zpl")
    engine.wait(lambda: engine.snapshot()["postings"]["fetched"] == 5, "5 stickers")
    assert sorted(p for p, _, _ in engine.postings()) == sorted(str(i) for i in confirm)
    kinds = {r[0] for r in engine.spool.read("SELECT kind FROM documents")}
    assert kinds == {"zpl"}
    assert all(t and "-" in t for _, t, _ in engine.postings())
    assert app.stickers_made == dict.fromkeys(confirm, 1)


def test_wildberries_401_and_409(wildberries: Any, tls: Tls, tmp_path: Path, engines: Callable[..., Engine]) -> None:
    """A wrong token is trouble about the token; 409s back the source off and then it carries on."""
    app, server = wildberries
    app.add_orders(2)
    engine = engines(source_toml("wildberries", server, key_file(tmp_path, "wrong"), tls.ca_bundle))
    engine.wait(lambda: engine.snapshot()["state"] == "trouble", "trouble")
    assert engine.snapshot()["trouble"]["reason_code"] == "source.key_refused"
    engine.manager.stop()
    app.fault("conflict", count=2)
    good = source_toml("wildberries", server, key_file(tmp_path, TOKEN), tls.ca_bundle)
    engine2 = engines(good, spool_dir=tmp_path / "s2")
    engine2.wait(lambda: engine2.snapshot()["postings"]["fetched"] == 2, "2 stickers", timeout=30)
    assert engine2.snapshot()["errors"].get("rate", 0) >= 1
