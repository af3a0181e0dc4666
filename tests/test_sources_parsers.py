"""The marketplace answers, parsed by pure functions: the documented shapes are read, and an
answer of another shape is refused with a sentence instead of being half-read."""

from __future__ import annotations

import base64
import stat
from pathlib import Path

import pytest

from labeld.credentials import Secret, SecretUnavailable, load_secret, read_secret_file
from labeld.intake.remote import IncompleteLabel, check_label_bytes
from labeld.intake.web import tls_context, without_query
from labeld.sources.handoff import base_key
from labeld.sources.http import Pacer
from labeld.sources.ozon_api import (
    PATHS,
    AnswerError,
    is_not_ready,
    merged_paths,
    parse_label,
    parse_postings,
    parse_task_state,
    parse_tasks,
)
from labeld.sources.wb_api import parse_orders, parse_statuses, parse_stickers, sticker_type
from labeld.spool.source_state import Seen


def test_ozon_postings_page_and_paging() -> None:
    """Postings come with their tracking number; ``count`` says whether another page follows."""
    body = {"result": {"postings": [{"posting_number": "1-1", "tracking_number": "T1", "status": "awaiting_deliver"}],
                       "count": 3}}
    page = parse_postings(body, limit=1, offset=0)
    assert page.postings == (Seen("1-1", "T1", "awaiting_deliver"),)
    assert page.more is True
    assert parse_postings(body, limit=1, offset=2).more is False


def test_ozon_tasks_v2_and_v1() -> None:
    """v2 answers a task per label size, v1 a single task id (the big label)."""
    v2 = {"result": {"tasks": [{"task_id": 5, "task_type": "big_label"}, {"task_id": 6, "task_type": "small_label"}]}}
    assert parse_tasks(v2) == {"big_label": 5, "small_label": 6}
    assert parse_tasks({"result": {"task_id": 7}}) == {"big_label": 7}
    with pytest.raises(AnswerError):
        parse_tasks({"result": {"tasks": []}})


def test_ozon_task_states() -> None:
    """pending, completed with a link, and error with the postings that are not ready."""
    assert not parse_task_state({"result": {"status": "pending"}}).finished
    done = parse_task_state({"result": {"status": "completed", "file_url": "https://cdn/x.pdf"}})
    assert done.file_url == "https://cdn/x.pdf"
    failed = parse_task_state({"result": {"status": "error", "unprinted_postings": [
        {"posting_number": "1-1", "msg": "The next postings aren't ready"}]}})
    assert is_not_ready(failed.unprinted["1-1"])
    with pytest.raises(AnswerError):
        parse_task_state({"result": {"status": "done"}})


def test_ozon_label_answer_by_content_type() -> None:
    """A PDF body, JSON with Base64 ``file_content``, JSON with ``file_url``; anything else is refused."""
    pdf = b"%PDF-1.7\n...%%EOF\n"
    assert parse_label("application/pdf", pdf).pdf == pdf
    encoded = base64.b64encode(pdf).decode()
    assert parse_label("application/json", f'{{"file_content": "{encoded}"}}'.encode()).pdf == pdf
    assert parse_label("application/json", b'{"file_url": "https://cdn/y.pdf"}').url == "https://cdn/y.pdf"
    with pytest.raises(AnswerError):
        parse_label("text/html", b"<html>")


def test_ozon_paths_table_overrides() -> None:
    """An override replaces one path; an unknown name is reported, not ignored."""
    paths, unknown = merged_paths((("label_get", "/v2/posting/fbs/package-label/get"), ("labels", "/x")))
    assert paths["label_get"] == "/v2/posting/fbs/package-label/get"
    assert paths["postings"] == PATHS["postings"]
    assert unknown == ["labels"]


def test_wildberries_answers() -> None:
    """Orders with their cursor, statuses by id, stickers decoded from Base64."""
    assert parse_orders({"next": 9, "orders": [{"id": 7}, {"id": 9}]}) == ([7, 9], 9)
    assert parse_statuses({"orders": [{"id": 7, "supplierStatus": "confirm"}]}) == {7: "confirm"}
    stickers = parse_stickers({"stickers": [{"orderId": 7, "partA": "231648", "partB": "9753", "barcode": "!x",
                                             "file": base64.b64encode(b"<svg/>").decode()}]})
    assert stickers[0].file == b"<svg/>"
    assert stickers[0].sticker_id == "231648-9753"
    with pytest.raises(ValueError):
        parse_stickers({"stickers": [{"orderId": 7, "file": "***"}]})


def test_sticker_type_follows_the_printer() -> None:
    """ZPL printers get ZPL (horizontal on a 58 mm medium), every other printer SVG."""
    assert sticker_type("zpl", 58.0) == "zplh"
    assert sticker_type("zpl", 40.0) == "zplv"
    assert sticker_type("brother_ql", 62.0) == "svg"
    assert sticker_type("cups", 58.0, "zpl") == "zplh"


def test_truncated_files_are_caught() -> None:
    """A PDF without its end, an unclosed SVG and a ZPL without ^XZ are incomplete: the sources hand
    bytes over through the label_code check (labeld.intake.remote)."""
    assert check_label_bytes(b"%PDF-1.7 ... %%EOF\n") == "pdf"
    for data in (b"%PDF-1.7 ...", b"<svg><rect/>", b"^XA^FO0,0"):
        with pytest.raises(IncompleteLabel):
            check_label_bytes(data)


def test_retry_keys() -> None:
    """A label taken again after its link gave none is keyed ``key#rN``; the base key is what a posting is."""
    assert base_key("ozon:shop/123-1/T1") == "ozon:shop/123-1/T1"
    assert base_key("ozon:shop/123-1/T1#r2") == "ozon:shop/123-1/T1"
    assert base_key("ozon:shop/1/#rx") == "ozon:shop/1/#rx"


def test_pacer_spaces_requests() -> None:
    """After the burst, each request waits 1/rate seconds."""
    now = [0.0]
    pacer = Pacer(rate=2.0, burst=2, clock=lambda: now[0])
    assert [pacer.delay(), pacer.delay()] == [0.0, 0.0]
    assert pacer.delay() == pytest.approx(0.5)


def test_signed_links_lose_their_query_in_logs() -> None:
    """A file link is logged without its signature."""
    assert without_query("https://cdn.example/f/1.pdf?sig=abc&x=1") == "https://cdn.example/f/1.pdf"


def test_secret_file_must_be_private(tmp_path: Path) -> None:
    """A key readable by others, a missing file and an empty one are refused; the value stays masked."""
    key = tmp_path / "key"
    key.write_text("s3cr3t-KEY\n")
    key.chmod(0o644)
    with pytest.raises(SecretUnavailable, match="chmod 600"):
        read_secret_file(key)
    key.chmod(stat.S_IRUSR | stat.S_IWUSR)
    secret = read_secret_file(key)
    assert secret.reveal() == "s3cr3t-KEY"
    assert "s3cr3t" not in repr(secret) and "s3cr3t" not in str(secret)
    with pytest.raises(SecretUnavailable, match="does not exist"):
        read_secret_file(tmp_path / "nope")
    (tmp_path / "empty").write_text("")
    (tmp_path / "empty").chmod(0o600)
    with pytest.raises(SecretUnavailable, match="empty"):
        read_secret_file(tmp_path / "empty")


def test_systemd_credential(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A credential is read from $CREDENTIALS_DIRECTORY; without it the error says how to set one up."""
    monkeypatch.delenv("CREDENTIALS_DIRECTORY", raising=False)
    with pytest.raises(SecretUnavailable, match="LoadCredential"):
        load_secret(None, "ozon-key")
    (tmp_path / "ozon-key").write_text("k")
    (tmp_path / "ozon-key").chmod(0o400)
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(tmp_path))
    assert load_secret(None, "ozon-key") == Secret("k")


def test_the_emulator_command_serves_a_marketplace(tmp_path: Path) -> None:
    """``labeld-emulator ozon`` prints its URL, CA bundle and key file, and answers over verified TLS."""
    import json
    import signal
    import subprocess
    import sys

    import httpx

    process = subprocess.Popen([sys.executable, "-m", "labeld.testing.emulator_cli", "ozon", "--out", str(tmp_path),
                                "--postings", "3", "--ready-after", "0"], stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        ready = json.loads(process.stdout.readline())
        key = Path(ready["api_key_file"]).read_text().strip()
        assert Path(ready["api_key_file"]).stat().st_mode & 0o077 == 0
        answer = httpx.post(ready["url"] + "/v3/posting/fbs/unfulfilled/list",
                            verify=tls_context(Path(ready["ca_bundle"])),
                            headers={"Client-Id": ready["client_id"], "Api-Key": key},
                            json={"filter": {"cutoff_from": "2020-01-01T00:00:00Z", "cutoff_to": "2099-01-01T00:00:00Z",
                                             "status": "awaiting_deliver"}, "limit": 10, "offset": 0})
        assert answer.json()["result"]["count"] == 3
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(10)
