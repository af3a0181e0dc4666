"""Hostile input: fuzzed sidecars, configs and PDFs meet only the documented refusals, and a
running daemon files every strange file in archive/ or rejected/ (with a reason) and keeps going."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pymupdf
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from reliability_helpers import sized

from labeld.config import parse_config
from labeld.errors import ConfigError, RejectedInput
from labeld.intake.inspect import inspect_document
from labeld.intake.sidecar import Sidecar, parse_sidecar
from labeld.labelmaker import LabelSpec, batch_pdf, label_pdf
from labeld.testing.daemon import DaemonProcess
from labeld.testing.hostile import raw_pdf

LIMITS = {"max_pages": 50, "max_page_mm": 600.0}
FUZZ = settings(max_examples=sized(150, 3000), deadline=None, suppress_health_check=[HealthCheck.too_slow])
JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=30),
                    lambda inner: st.lists(inner, max_size=4)
                    | st.dictionaries(st.text(max_size=10), inner, max_size=4),
                    max_leaves=12)
KEYS = st.sampled_from(["printer", "copies", "posting_number", "tracking_number", "issued_at", "extra"])


def _refusal_has_reason(error: RejectedInput | ConfigError) -> None:
    text = error.reason.text() if isinstance(error, RejectedInput) else "\n".join(error.problems)
    assert text.strip(), "a refusal without a reason"


@FUZZ
@given(st.binary(max_size=300) | st.dictionaries(KEYS, JSON, max_size=5).map(lambda d: json.dumps(d).encode()))
def test_sidecar_parser_refuses_only_with_reasons(data: bytes) -> None:
    """Any bytes: a Sidecar or a RejectedInput that says why; never another exception."""
    try:
        assert isinstance(parse_sidecar(data), Sidecar)
    except RejectedInput as error:
        _refusal_has_reason(error)


SECTION = st.sampled_from(["daemon", "intake", "render", "preflight", "clock", "printer", "route", "bogus"])
TOML_VALUE = st.one_of(st.integers(-10**12, 10**12), st.booleans(), st.text(max_size=20).map(json.dumps),
                       st.sampled_from(['"4h"', '"-1s"', '"1e999"', '"50MB"', '"x"', "[]", '["a", 1]', "{}", "1e400"]))
CONFIG_LINE = st.tuples(st.text("abcdefghilmnoprstuvwxy_", min_size=1, max_size=14), TOML_VALUE).map(
    lambda kv: f"{kv[0]} = {kv[1]}")


@FUZZ
@given(st.lists(st.tuples(SECTION, st.booleans(), st.lists(CONFIG_LINE, max_size=4)), max_size=5)
       | st.text(max_size=200))
def test_config_parser_refuses_only_with_reasons(body: list[tuple[str, bool, list[str]]] | str) -> None:
    """Any TOML-ish text: a Config or a ConfigError listing problems; never another exception."""
    if isinstance(body, str):
        text = body
    else:
        text = "\n".join((f"[[{s}]]" if array else f"[{s}]") + "\n" + "\n".join(lines) for s, array, lines in body)
    try:
        parse_config(text)
    except ConfigError as error:
        _refusal_has_reason(error)


@pytest.fixture(scope="module")
def real_pdf() -> bytes:
    return batch_pdf(2)


@FUZZ
@given(data=st.data())
def test_pdf_intake_refuses_only_with_reasons(real_pdf: bytes, data: st.DataObject) -> None:
    """Mutated real PDFs (flipped, cut, spliced bytes): DocumentInfo or RejectedInput with a reason."""
    pdf = bytearray(real_pdf)
    for _ in range(data.draw(st.integers(1, 8))):
        at = data.draw(st.integers(0, len(pdf) - 1))
        action = data.draw(st.sampled_from(["flip", "cut", "splice"]))
        if action == "flip":
            pdf[at] = data.draw(st.integers(0, 255))
        elif action == "cut":
            del pdf[at:]
            if not pdf:
                break
        else:
            pdf[at:at] = data.draw(st.binary(max_size=40))
    try:
        info = inspect_document(bytes(pdf), **LIMITS)
        assert info.pages
    except RejectedInput as error:
        _refusal_has_reason(error)


def _encrypted() -> bytes:
    doc = pymupdf.open(stream=batch_pdf(1), filetype="pdf")
    data = doc.tobytes(encryption=pymupdf.PDF_ENCRYPT_AES_256, user_pw="secret", owner_pw="owner")
    doc.close()
    return bytes(data)


def _self_referencing() -> bytes:
    """A page tree whose Pages node lists itself as its own kid, and an xref that points at itself."""
    objects = [b"<< /Type /Catalog /Pages 2 0 R >>", b"<< /Type /Pages /Kids [2 0 R 3 0 R] /Count 2 >>",
               b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 200 300] /Contents 4 0 R >>",
               b"<< /Length 5 0 R >>\nstream\n" + b"q Q\n" * 4 + b"endstream"]
    return raw_pdf(objects, xref_loop=True)


def _deep_nesting(depth: int = 50_000) -> bytes:
    objects = [b"<< /Type /Catalog /Pages 2 0 R >>", b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
               b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 200 300] /X " + b"[" * depth + b"]" * depth + b" >>"]
    return raw_pdf(objects)


HOSTILE_PDFS = {
    "encrypted.pdf": _encrypted,
    "self-referencing.pdf": _self_referencing,
    "deep-nesting.pdf": _deep_nesting,
    "too-many-pages.pdf": lambda: label_pdf([LabelSpec()] * 60),
    "huge-page.pdf": lambda: label_pdf(LabelSpec(size_mm=(2000.0, 3000.0))),
    "truncated.pdf": lambda: batch_pdf(1)[:700],
    "garbage-xref.pdf": lambda: batch_pdf(1).replace(b"xref", b"xre\xff"),
    "empty.pdf": lambda: b"",
    "not-a-pdf.pdf": lambda: b"MZ\x90\x00" + os.urandom(2000),
    "zip-bomb-ish.pdf": lambda: b"%PDF-1.7\n" + b"0" * 3_000_000,
}


@pytest.mark.parametrize("name", sorted(HOSTILE_PDFS))
def test_hostile_pdf_is_refused_or_read(name: str) -> None:
    """Each crafted PDF is read or refused with a reason, quickly and without another exception."""
    data = HOSTILE_PDFS[name]()
    try:
        info = inspect_document(data, **LIMITS)
    except RejectedInput as error:
        _refusal_has_reason(error)
    else:
        assert name in ("self-referencing.pdf", "deep-nesting.pdf", "garbage-xref.pdf", "truncated.pdf"), info


ATHERIS_TARGET = textwrap.dedent("""
    import sys
    import atheris
    with atheris.instrument_imports():
        from labeld.errors import ConfigError, RejectedInput
        from labeld.config import parse_config
        from labeld.intake.inspect import inspect_document
        from labeld.intake.sidecar import parse_sidecar

    def one(data: bytes) -> None:
        fdp = atheris.FuzzedDataProvider(data)
        which = fdp.ConsumeIntInRange(0, 2)
        rest = fdp.ConsumeBytes(fdp.remaining_bytes())
        try:
            if which == 0:
                parse_sidecar(rest)
            elif which == 1:
                parse_config(rest.decode("utf-8", "replace"))
            else:
                inspect_document(b"%PDF-1.7\\n" + rest, max_pages=50, max_page_mm=600.0)
        except (RejectedInput, ConfigError) as error:
            assert str(error).strip()

    atheris.Setup(sys.argv, one)
    atheris.Fuzz()
""")


def test_atheris_fuzz_of_the_parsers(tmp_path: Path) -> None:
    """Coverage-guided fuzzing (atheris) of sidecar, config and PDF intake: no unexpected exception."""
    pytest.importorskip("atheris", reason="atheris is not installed (pip install atheris; needs a clang-built wheel)")
    script = tmp_path / "fuzz_parsers.py"
    script.write_text(ATHERIS_TARGET, encoding="utf-8")
    runs = sized(3000, 200_000)
    result = subprocess.run([sys.executable, str(script), f"-atheris_runs={runs}", "-max_len=2048", "-seed=12"],
                            capture_output=True, text=True, timeout=800, cwd=tmp_path, check=False)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Done" in result.stderr


STRANGE_NAMES = {
    "newline": "two\nlines.pdf",
    "long": "L" * 251 + ".pdf",
    "non-utf8": b"caf\xe9-\xff.pdf",
}


def test_running_daemon_files_every_hostile_input(tmp_path: Path) -> None:
    """Hostile PDFs, wrong-typed sidecars and strange names: each ends archived or rejected with a reason."""
    daemon = DaemonProcess(tmp_path / "labeld", sections={"intake": {"max_pages": 50},
                                                           "preflight": {"verify_barcodes": False}})
    inbox = os.fsencode(daemon.inbox)
    expect: dict[bytes, str] = {}
    with daemon:
        for name, make in HOSTILE_PDFS.items():
            daemon.drop(name, make())
            expect[name.encode()] = "any"
        for number, sidecar in enumerate([{"copies": "two"}, {"copies": 10**9}, {"printer": 7}, {"issued_at": []},
                                          [1, 2], {"posting_number": {"a": 1}}]):
            daemon.drop(f"sidecar-{number}.pdf", batch_pdf(1, first_posting=60000000 + number), sidecar=sidecar)
            expect[f"sidecar-{number}.pdf".encode()] = "rejected"
        for number, raw in enumerate(os.fsencode(n) if isinstance(n, str) else n for n in STRANGE_NAMES.values()):
            temp = os.path.join(inbox, b".incoming.part")
            Path(os.fsdecode(temp)).write_bytes(batch_pdf(1, first_posting=61000000 + number))
            os.rename(temp, os.path.join(inbox, raw))
            expect[raw] = "archive"
        daemon.wait_for(lambda: not _inbox_files(inbox), 60, "the inbox to empty")
        daemon.wait_for(lambda: len(_filed(daemon, "rejected")) + len(_filed(daemon, "archive")) >= len(expect), 20,
                        "every file to be filed")
        assert daemon.process is not None and daemon.process.poll() is None
    archived, rejected = _filed(daemon, "archive"), _filed(daemon, "rejected")
    for name, where in expect.items():
        in_archive, in_rejected = _has(archived, name), _has(rejected, name)
        assert in_archive != in_rejected, f"{name!r} is in archive/ {in_archive}, rejected/ {in_rejected}"
        if where != "any":
            assert in_archive if where == "archive" else in_rejected, name
    for name in rejected:
        error = _error_json(daemon, name)
        assert error["reason"].strip(), name


def _has(names: set[bytes], name: bytes) -> bool:
    """``name`` is among ``names``, or a 255-byte name was filed shortened (same start, same extension)."""
    return name in names or any(n.startswith(name[:100]) and n.endswith(b".pdf") for n in names)


def _inbox_files(inbox: bytes) -> list[bytes]:
    return [n for n in os.listdir(inbox) if not n.startswith(b".") and os.path.isfile(os.path.join(inbox, n))]


def _filed(daemon: DaemonProcess, where: str) -> set[bytes]:
    root = os.fsencode(daemon.archive if where == "archive" else daemon.rejected)
    found = set()
    for _, _, files in os.walk(root):
        found.update(f for f in files if not f.endswith(b".json"))
    return found


def _error_json(daemon: DaemonProcess, name: bytes) -> dict[str, object]:
    rejected = os.fsencode(daemon.rejected)
    stem = name.rsplit(b".", 1)[0]
    candidates = [f for f in os.listdir(rejected) if f.endswith(b".error.json") and f.startswith(stem[:200])]
    assert candidates, f"no error.json beside rejected {name!r}"
    with open(os.path.join(rejected, candidates[0]), "rb") as src:
        loaded: dict[str, object] = json.loads(src.read())
    return loaded
