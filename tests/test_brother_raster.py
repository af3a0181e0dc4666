"""PackBits and the Brother raster job layout, as pure functions."""

from __future__ import annotations

import numpy as np
import pymupdf
import pytest
from hypothesis import given
from hypothesis import strategies as st

from labeld.config import PrinterConfig
from labeld.drivers.brother_ql import BrotherQLDriver
from labeld.drivers.brother_raster import RasterSetup, encode_job, head_rows, packbits, page_header, unpackbits
from labeld.labelmaker import LabelSpec, label_pdf
from labeld.render.rasterize import render_label

SETUP_62 = RasterSetup(head_bytes=90, offset_right=12, media_type=0x0A, width_mm=62, length_mm=0, feed_margin=35)


def test_packbits_matches_apple_technote_example() -> None:
    """The TN1023 example packs to the published bytes."""
    raw = bytes.fromhex("AAAAAA80002AAAAAAAAA80002A22AAAAAAAAAAAAAAAAAAAA")
    assert packbits(raw) == bytes.fromhex("FEAA0280002AFDAA0380002A22F7AA")


@pytest.mark.parametrize("raw", [
    b"", b"\x00", b"\x01\x02", b"\x05\x05", b"\x07" * 128, b"\x07" * 129, b"\x07" * 300,
    bytes(range(128)), bytes(range(129)), bytes(range(256)) * 2, b"\x01\x01\x02" * 50,
])
def test_packbits_round_trips_edge_cases(raw: bytes) -> None:
    """Empty input, runs and literals at the 128-byte block limits all come back unchanged."""
    assert unpackbits(packbits(raw)) == raw


@given(st.binary(max_size=400))
def test_packbits_round_trips_any_bytes(raw: bytes) -> None:
    """Every byte string survives pack and unpack, and never grows by more than 1 in 128."""
    packed = packbits(raw)
    assert unpackbits(packed) == raw
    assert len(packed) <= len(raw) + (len(raw) + 127) // 128


def test_packbits_compresses_a_blank_head_line_to_two_bytes() -> None:
    """A 90-byte white line is one run: 0xA7 0x00."""
    assert packbits(bytes(90)) == b"\xa7\x00"


def test_unpackbits_rejects_truncated_input() -> None:
    """A literal header promising more bytes than follow is an error, not silent garbage."""
    with pytest.raises(ValueError):
        unpackbits(b"\x05\x01\x02")


def test_head_rows_mirror_and_place_the_label_at_its_offset() -> None:
    """The label's rightmost dot is the head's first dot after the 12-dot right offset."""
    bitmap = np.zeros((1, 696), dtype=bool)
    bitmap[0, 695] = True
    bits = np.unpackbits(head_rows(bitmap, SETUP_62), axis=1)
    assert np.flatnonzero(bits[0]).tolist() == [12]


def test_job_layout_has_commands_in_order() -> None:
    """Invalidate, ESC @, raster mode, ESC i z with the line count, cutting, margins, M 02, lines, 1A."""
    bitmap = np.zeros((200, 696), dtype=bool)
    bitmap[10, :] = True
    job = encode_job(bitmap, SETUP_62, copies=2)
    assert job.startswith(b"\x00" * 400 + b"\x1b@\x1bia\x01\x1biz")
    assert job[409:419] == bytes((0xCE, 0x0A, 62, 0)) + (200).to_bytes(4, "little") + b"\x00\x00"
    assert b"\x1biM\x40\x1biA\x01\x1biK\x08\x1bid\x23\x00M\x02" in job
    assert job.count(b"\x1biz") == 2
    assert job.endswith(b"Z\x1a") and job.count(b"\x0c") == 1
    second_page = job.index(b"\x1biz", 420)
    assert job[second_page + 11] == 1


# The encoder packs whole pages with numpy. These tests hold it to a straightforward reference,
# written the plain way: each head row placed and mirrored dot by dot, each line packed byte by
# byte by TN1023's rule, one command per line.

def reference_packbits(data: bytes) -> bytes:
    out = bytearray()
    pending = bytearray()

    def flush() -> None:
        for start in range(0, len(pending), 128):
            chunk = pending[start : start + 128]
            out.append(len(chunk) - 1)
            out.extend(chunk)
        pending.clear()

    i = 0
    while i < len(data):
        run = 1
        while i + run < len(data) and run < 128 and data[i + run] == data[i]:
            run += 1
        if run >= 3 or (run == 2 and not pending):  # a pair after a literal stays in the literal
            flush()
            out += bytes((257 - run, data[i]))
        else:
            pending += data[i : i + run]
        i += run
    flush()
    return bytes(out)


def reference_head_row(row: np.ndarray, setup: RasterSetup) -> bytes:
    head = [False] * (setup.head_bytes * 8)
    dots = len(row)
    for x in range(dots):  # the label's last dot is the head's first after the right offset
        head[setup.offset_right + dots - 1 - x] = bool(row[x])
    return bytes(int("".join("1" if dot else "0" for dot in head[i : i + 8]), 2) for i in range(0, len(head), 8))


def reference_line(row: bytes, setup: RasterSetup, command: bytes) -> bytes:
    data = reference_packbits(row) if setup.compress else row
    return command + bytes((len(data),)) + data


def reference_job(bitmap: np.ndarray, setup: RasterSetup, copies: int, red: np.ndarray | None) -> bytes:
    lines = []
    for y in range(bitmap.shape[0]):
        black = reference_head_row(bitmap[y], setup)
        if setup.two_colour:
            reds = reference_head_row(red[y], setup) if red is not None else bytes(setup.head_bytes)
            lines.append(reference_line(black, setup, b"w\x01") + reference_line(reds, setup, b"w\x02"))
        else:
            lines.append(reference_line(black, setup, b"g\x00") if any(black) else b"Z")
    body = b"".join(lines)
    pages = [page_header(setup, bitmap.shape[0], first=n == 0) + body + (b"\x1a" if n == copies - 1 else b"\x0c")
             for n in range(copies)]
    return b"\x00" * setup.invalidate_bytes + b"\x1b@\x1bia\x01" + b"".join(pages)


def test_reference_packbits_is_the_technote() -> None:
    """The reference itself packs TN1023's example to the published bytes."""
    raw = bytes.fromhex("AAAAAA80002AAAAAAAAA80002A22AAAAAAAAAAAAAAAAAAAA")
    assert reference_packbits(raw) == bytes.fromhex("FEAA0280002AFDAA0380002A22F7AA")


@given(st.binary(max_size=400))
def test_packbits_equals_the_reference_on_any_bytes(raw: bytes) -> None:
    """Byte for byte the reference's output, pairs and 128-byte limits included."""
    assert packbits(raw) == reference_packbits(raw)


@pytest.mark.parametrize("alphabet", [2, 3, 256])
def test_packbits_equals_the_reference_at_every_length(alphabet: int) -> None:
    """Every length from 0 to 400 (across both 128-byte limits), few or many distinct bytes."""
    rng = np.random.default_rng(alphabet)
    for length in range(401):
        raw = rng.integers(0, alphabet, length, dtype=np.uint8).tobytes()
        assert packbits(raw) == reference_packbits(raw), length


def random_bitmap(rng: np.random.Generator, rows: int, dots: int, kind: int) -> np.ndarray:
    """Noise, bars across the head (runs along a line) or bars along it (repeated lines), mostly white."""
    if kind == 0:
        return rng.random((rows, dots)) < 0.5
    if kind == 1:
        bars = np.repeat(rng.random((rows, -(-dots // 9))) < 0.3, 9, axis=1)[:, :dots]
        return np.asarray(bars)
    lines = np.repeat(rng.random((-(-rows // 5), dots)) < 0.05, 5, axis=0)[:rows]
    return np.asarray(lines)


@pytest.mark.parametrize("seed", range(4))
def test_encoder_equals_the_reference_on_random_bitmaps(seed: int) -> None:
    """Heads of 2 to 162 bytes (QL-1100's), any label width and offset, one- and two-colour,
    compressed or not, one or two copies: the same job as the reference."""
    rng = np.random.default_rng(seed)
    for trial in range(30):
        head_bytes = int(rng.integers(2, 163))
        dots = int(rng.integers(1, head_bytes * 8 + 1))
        offset = int(rng.integers(0, head_bytes * 8 - dots + 1))
        bitmap = random_bitmap(rng, int(rng.integers(1, 40)), dots, trial % 3)
        red = random_bitmap(rng, bitmap.shape[0], dots, (trial + 1) % 3) & ~bitmap
        for two_colour in (False, True):
            for compress in (True, False):
                setup = RasterSetup(head_bytes=head_bytes, offset_right=offset, media_type=0x0A, width_mm=62,
                                    length_mm=0, feed_margin=35, compress=compress, two_colour=two_colour)
                copies = 1 + trial % 2
                plane = red if two_colour and trial % 4 else None
                assert encode_job(bitmap, setup, copies, plane) == reference_job(bitmap, setup, copies, plane)


def test_encoder_equals_the_reference_on_rendered_labels() -> None:
    """Real labels as the driver prints them (62 mm black tape; 62 mm black/red tape with a red
    box and a red bar): the same job as the reference. (The emulator tests decode such jobs dot for dot.)"""
    for media, red in (("62", False), ("62red", True)):
        driver = BrotherQLDriver(PrinterConfig(name="ql", driver="brother_ql", uri="dir:///dev/null", media=media,
                                               model="QL-820NWB", red=red))
        for spec in (LabelSpec(size_mm=(58.0, 40.0)), LabelSpec(size_mm=(62.0, 100.0))):
            doc = pymupdf.open("pdf", label_pdf(spec))
            page = doc[0]
            page.draw_rect(pymupdf.Rect(10, 20, 60, 40), color=None, fill=(1, 0, 0))
            page.draw_rect(pymupdf.Rect(100, 20, 104, 80), color=None, fill=(0.9, 0, 0))
            rendered = render_label(page, driver.geometry, red=red)
            job = driver.encode_two_colour(rendered.bitmap, rendered.red) if red else driver.encode(rendered.bitmap)
            assert rendered.red is None or rendered.red.sum() > 1000
            setup = driver.setup()
            assert setup.two_colour == red
            assert job == reference_job(rendered.bitmap, setup, 1, rendered.red)
