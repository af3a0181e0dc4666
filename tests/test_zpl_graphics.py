"""The ^GF encoders and decoders: edge cases, round trips, and zebrafy as a second reader."""

from __future__ import annotations

import numpy as np
import pytest
from zebrafy import ZebrafyZPL

from labeld.bitmap import from_image
from labeld.drivers.zpl_graphics import (
    COMPRESSIONS,
    GraphicData,
    crc16_xmodem,
    decode_base64_field,
    decode_field_data,
    encode_ascii,
    encode_field_data,
    encode_z64,
    graphic_field,
    pack_bitmap,
    repeat_run,
    unpack_bitmap,
)


def _round_trip(bitmap: np.ndarray, compression: str) -> np.ndarray:
    graphic = pack_bitmap(bitmap)
    text = encode_field_data(graphic, compression)
    decoded = decode_field_data(text, graphic.total, graphic.row_bytes)
    return unpack_bitmap(decoded, bitmap.shape[1])


def _patterns() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(7)
    stripes = np.zeros((40, 37), dtype=bool)
    stripes[:, ::3] = True
    return {
        "all white": np.zeros((5, 64), dtype=bool),
        "all black": np.ones((5, 64), dtype=bool),
        "odd width": rng.random((9, 13)) < 0.5,
        "one dot": np.eye(1, 1, dtype=bool),
        "repeated rows": np.tile(rng.random((1, 200)) < 0.3, (30, 1)),
        "stripes": stripes,
        "noise": rng.random((50, 599)) < 0.5,
        "black then white": np.hstack([np.ones((3, 100), bool), np.zeros((3, 300), bool)]),
        "white then black": np.hstack([np.zeros((3, 300), bool), np.ones((3, 101), bool)]),
    }


@pytest.mark.parametrize("compression", COMPRESSIONS)
@pytest.mark.parametrize("name", list(_patterns()))
def test_every_encoding_round_trips(compression: str, name: str) -> None:
    """Whatever the pattern, decoding the encoded field gives back the same dots."""
    bitmap = _patterns()[name]
    assert np.array_equal(_round_trip(bitmap, compression), bitmap)


def test_white_and_black_rows_are_one_character() -> None:
    """An all-white row is `,`, an all-black row `!`, an identical row `:`."""
    bitmap = np.array([[False] * 16, [True] * 16, [True] * 16, [False] * 16], dtype=bool)
    assert encode_ascii(pack_bitmap(bitmap)) == ",!:,"


def test_odd_width_pads_with_white() -> None:
    """13 dots take 2 bytes a row; the 3 padding dots are white, so a black row ends in F8."""
    graphic = pack_bitmap(np.ones((1, 13), dtype=bool))
    assert graphic.row_bytes == 2
    assert graphic.data == b"\xff\xf8"
    assert encode_ascii(graphic) == "IF8"


@pytest.mark.parametrize(
    ("count", "expected"),
    [(1, "0"), (2, "00"), (3, "I0"), (19, "Y0"), (20, "g0"), (21, "gG0"), (39, "gY0"), (40, "h0"),
     (399, "yY0"), (400, "z0"), (401, "zG0"), (419, "zY0"), (420, "zY00"),
     (838, "zY0zY0"), (840, "zY0zY000"), (841, "zY0zY0I0")],
)
def test_repeat_counts_at_the_boundaries(count: int, expected: str) -> None:
    """G–Y say 1–19, g–z 20–400; counts add; past 419 a new run starts."""
    assert repeat_run("0", count) == expected
    decoded = decode_field_data(expected + ",", (count + 1) // 2 + 1, (count + 1) // 2 + 1)
    assert decoded.data.hex().upper().startswith("0" * count)


@pytest.mark.parametrize("width_bytes", [10, 19, 20, 200, 210, 400, 500])
def test_long_interior_runs_round_trip(width_bytes: int) -> None:
    """A run of F between two other digits survives every count size, even past 419 digits."""
    row = np.zeros((1, width_bytes * 8 + 16), dtype=bool)
    row[0, 4 : width_bytes * 8 + 4] = True
    text = encode_ascii(pack_bitmap(row))
    assert np.array_equal(_round_trip(row, "ascii"), row)
    assert len(text) < 16


def test_crc_is_xmodem() -> None:
    """CRC-16/XMODEM of the standard check string is 0x31C3."""
    assert crc16_xmodem(b"123456789") == "31C3"


def test_z64_field_carries_the_crc_of_its_base64_text() -> None:
    """`:Z64:` + base64 + `:` + the CRC of exactly that base64 text."""
    text = encode_z64(GraphicData(b"\x00\xff" * 50, 10))
    _, kind, body, crc = text.split(":")
    assert kind == "Z64"
    assert crc == crc16_xmodem(body.encode())


def test_a_wrong_crc_is_refused() -> None:
    """A damaged Z64 field is an error, not a wrong picture."""
    text = encode_z64(GraphicData(b"\x12\x34" * 8, 4))
    damaged = text[:-4] + ("0000" if not text.endswith("0000") else "1111")
    with pytest.raises(ValueError, match="CRC"):
        decode_base64_field(damaged)


def test_short_data_is_padded_with_white_rows() -> None:
    """Fewer rows than `c` says: the rest is white, as on a printer."""
    decoded = decode_field_data("FF,", 6, 2)
    assert decoded.data == b"\xff\x00\x00\x00\x00\x00"


def test_colon_repeats_the_previous_row_and_runs_wrap() -> None:
    """`:` copies the row above; a repeat longer than the row goes on into the next one."""
    assert decode_field_data("A0,:", 4, 2).data == b"\xa0\x00\xa0\x00"
    assert decode_field_data("LF", 4, 2).data == b"\xff\xff\xff\x00"


def test_characters_outside_the_scheme_are_errors() -> None:
    with pytest.raises(ValueError, match="not allowed"):
        decode_field_data("FFZZ", 2, 2)


def test_empty_bitmap_is_refused() -> None:
    with pytest.raises(ValueError, match="shape"):
        pack_bitmap(np.zeros((3, 0), dtype=bool))


@pytest.mark.parametrize("compression", ["hex", "ascii", "z64", "b64"])
def test_zebrafy_reads_our_fields_as_we_wrote_them(compression: str) -> None:
    """An independent decoder (zebrafy's ZPL→image) gives the same dots for every encoding."""
    bitmap = _patterns()["noise"] | _patterns()["noise"][::-1]
    zpl = f"^XA^FO0,0{graphic_field(bitmap, compression)}^FS^XZ"
    image = ZebrafyZPL(zpl).to_images()[0]
    assert np.array_equal(from_image(image)[:, : bitmap.shape[1]], bitmap)
