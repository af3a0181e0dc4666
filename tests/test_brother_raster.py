"""PackBits and the Brother raster job layout, as pure functions."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from labeld.drivers.brother_raster import RasterSetup, encode_job, head_rows, packbits, unpackbits

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
