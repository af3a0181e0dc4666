"""ZPL ``^GF`` graphic field data: pure encoders and decoders, no I/O.

A label bitmap travels to a Zebra printer as one ``^GFA,b,c,d,DATA`` field: ``c`` bytes of
packed 1-bit rows (MSB = leftmost dot, 1 = black), ``d`` bytes per row. DATA is written in one
of four ASCII forms:

- ``hex``: plain hexadecimal, two characters per byte (the reference, and the largest);
- ``ascii``: Zebra's compressed ASCII: ``G``–``Y`` repeat the next hex digit 1–19 times,
  ``g``–``z`` 20–400 times in steps of 20 (counts add), ``,`` fills the rest of the row with
  0, ``!`` with 1, ``:`` repeats the previous row;
- ``z64``: ``:Z64:`` + base64(zlib(bytes)) + ``:`` + CRC-16/XMODEM of the base64 text;
- ``b64``: the same without zlib.

The decoders live here too so that the emulator, the tests and anyone debugging a capture read
the data the same way the encoder wrote it; zebrafy's decoder serves as the independent check.
"""

from __future__ import annotations

import base64
import binascii
import re
import zlib
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from labeld.bitmap import Bitmap

COMPRESSIONS = ("z64", "ascii", "b64", "hex")
#: Chosen by measurement on rendered labels (docs/devdocs/ZPL.md): the fewest bytes on the wire
#: for about the same CPU as compressed ASCII.
DEFAULT_COMPRESSION = "z64"

#: The longest run one repeat prefix can say: ``z`` (400) + ``Y`` (19).
MAX_RUN = 419
_HEX_RUN = re.compile(r"([0-9A-F])\1{2,}")
_BASE64_FIELD = re.compile(r"^:(Z64|B64):([A-Za-z0-9+/=\s]*)(?::([0-9A-Fa-f]{4}))?\s*$")
_ASCII_TOKEN = re.compile(r"([G-Yg-z]+)([0-9A-Fa-f])|([0-9A-Fa-f]+)|([,!:])|(\s+)|(.)", re.DOTALL)


@dataclass(frozen=True)
class GraphicData:
    """Packed rows as they go into a ``^GF`` field: ``total`` bytes, ``row_bytes`` per row."""

    data: bytes
    row_bytes: int

    @property
    def total(self) -> int:
        return len(self.data)

    @property
    def rows(self) -> int:
        return self.total // self.row_bytes if self.row_bytes else 0


def pack_bitmap(bitmap: Bitmap) -> GraphicData:
    """The bitmap's rows packed 8 dots a byte, MSB first, padded with white to whole bytes."""
    if bitmap.ndim != 2 or bitmap.shape[1] == 0:
        raise ValueError(f"a label bitmap has rows and dots; got shape {bitmap.shape}")
    packed = np.packbits(bitmap.astype(np.bool_, copy=False), axis=1)
    return GraphicData(packed.tobytes(), int(packed.shape[1]))


def unpack_bitmap(graphic: GraphicData, width: int | None = None) -> Bitmap:
    """The inverse of :func:`pack_bitmap`; ``width`` cuts the padding dots off."""
    if graphic.row_bytes <= 0:
        raise ValueError("bytes per row must be positive")
    rows = np.frombuffer(graphic.data, dtype=np.uint8)[: graphic.rows * graphic.row_bytes]
    bits = np.unpackbits(rows.reshape(graphic.rows, graphic.row_bytes), axis=1).astype(np.bool_)
    return bits[:, :width] if width is not None else bits


def crc16_xmodem(data: bytes) -> str:
    """CRC-16/XMODEM (poly 0x1021, init 0) as Zebra writes it after ``:Z64:`` data: 4 hex digits."""
    return f"{binascii.crc_hqx(data, 0):04X}"


def encode_hex(graphic: GraphicData) -> str:
    return graphic.data.hex().upper()


def encode_b64(graphic: GraphicData) -> str:
    return _base64_field("B64", graphic.data)


def encode_z64(graphic: GraphicData, level: int = 6) -> str:
    return _base64_field("Z64", zlib.compress(graphic.data, level))


def _base64_field(kind: str, payload: bytes) -> str:
    text = base64.b64encode(payload)
    return f":{kind}:{text.decode('ascii')}:{crc16_xmodem(text)}"


def encode_ascii(graphic: GraphicData) -> str:
    """Zebra compressed ASCII, row by row, each row as short as the scheme allows."""
    width = graphic.row_bytes * 2
    text = graphic.data.hex().upper()
    out: list[str] = []
    previous = None
    for start in range(0, len(text), width):
        row = text[start : start + width]
        if row == previous:
            out.append(":")
            continue
        previous = row
        out.append(_compress_row(row))
    return "".join(out)


def _compress_row(row: str) -> str:
    body = row.rstrip("0")
    fill = ","
    if len(body) == len(row):
        body = row.rstrip("F")
        fill = "!" if len(body) < len(row) else ""
    return _HEX_RUN.sub(_run_match, body) + fill


def _run_match(match: re.Match[str]) -> str:
    return repeat_run(match.group(1), len(match.group(0)))


def repeat_run(digit: str, count: int) -> str:
    """``count`` copies of hex ``digit`` in repeat-prefix form (``zY0`` = 419 zeros)."""
    parts: list[str] = []
    while count > 0:
        take = min(count, MAX_RUN)
        count -= take
        if take < 3:
            parts.append(digit * take)
            continue
        twenties, units = divmod(take, 20)
        parts.append((chr(ord("f") + twenties) if twenties else "") + (chr(ord("F") + units) if units else "") + digit)
    return "".join(parts)


_ENCODERS: dict[str, Callable[[GraphicData], str]] = {
    "hex": encode_hex, "ascii": encode_ascii, "z64": encode_z64, "b64": encode_b64,
}


def encode_field_data(graphic: GraphicData, compression: str = DEFAULT_COMPRESSION) -> str:
    try:
        encoder = _ENCODERS[compression]
    except KeyError:
        raise ValueError(f"unknown ^GF compression {compression!r}; use one of {', '.join(COMPRESSIONS)}") from None
    return encoder(graphic)


def graphic_field(bitmap: Bitmap, compression: str = DEFAULT_COMPRESSION) -> str:
    """``^GFA,b,c,d,DATA`` for ``bitmap`` (no ``^FO``/``^FS``). ``b`` = ``c``: the uncompressed
    byte count, as Zebra's own tools write it for every ASCII form."""
    graphic = pack_bitmap(bitmap)
    data = encode_field_data(graphic, compression)
    return f"^GFA,{graphic.total},{graphic.total},{graphic.row_bytes},{data}"


# --- decoding -------------------------------------------------------------------------------


def decode_field_data(text: str, total: int, row_bytes: int) -> GraphicData:
    """Read ASCII ``^GF``/``~DG`` DATA in any of the four forms into ``total`` bytes.

    Short data is padded with white rows, as a printer does; excess is dropped. Raises
    ValueError for a CRC mismatch or a character that is not part of the scheme.
    """
    if row_bytes <= 0 or total < 0:
        raise ValueError(f"bad graphic size: {total} bytes, {row_bytes} per row")
    stripped = text.strip()
    if stripped.startswith((":Z64:", ":B64:", ":z64:", ":b64:")):
        raw = decode_base64_field(stripped)
    else:
        raw = decompress_ascii(stripped, row_bytes)
    return GraphicData(raw[:total].ljust(total, b"\0"), row_bytes)


def decode_base64_field(text: str) -> bytes:
    """``:Z64:…:CRC`` or ``:B64:…:CRC`` → bytes; a missing CRC is accepted, a wrong one is not."""
    match = _BASE64_FIELD.match(text)
    if match is None:
        raise ValueError("malformed :Z64:/:B64: graphic data")
    kind, body, crc = match.group(1).upper(), "".join(match.group(2).split()), match.group(3)
    if crc is not None and crc16_xmodem(body.encode("ascii")) != crc.upper():
        raise ValueError(f"graphic data CRC mismatch: sent {crc.upper()}, computed {crc16_xmodem(body.encode())}")
    try:
        payload = base64.b64decode(body, validate=True)
        return zlib.decompress(payload) if kind == "Z64" else payload
    except (binascii.Error, zlib.error) as error:
        raise ValueError(f"corrupt {kind} graphic data: {error}") from error


def decompress_ascii(text: str, row_bytes: int) -> bytes:
    """Plain or compressed ASCII hex → bytes (rows of ``row_bytes``)."""
    rows = _RowBuilder(row_bytes * 2)
    for match in _ASCII_TOKEN.finditer(text):
        counts, digit, plain, control, _space, bad = match.groups()
        if plain:
            rows.add(plain)
        elif digit:
            rows.repeat(digit, _repeat_count(counts))
        elif control:
            rows.control(control)
        elif bad:
            raise ValueError(f"character {bad!r} is not allowed in ASCII graphic data")
    return rows.finish()


class _RowBuilder:
    """Hex digits into fixed-width rows; a run longer than the row goes on into the next one."""

    def __init__(self, width: int) -> None:
        self.width = width
        self.rows: list[str] = []
        self.row: list[str] = []
        self.filled = 0

    def add(self, digits: str) -> None:
        while digits:
            take = digits[: self.width - self.filled]
            digits = digits[len(take) :]
            self._append(take)

    def repeat(self, digit: str, count: int) -> None:
        while count:
            take = min(count, self.width - self.filled)
            count -= take
            self._append(digit * take)

    def control(self, char: str) -> None:
        if char == ":":
            if self.filled:
                raise ValueError("':' (repeat row) in the middle of a row")
            self.rows.append(self.rows[-1] if self.rows else "0" * self.width)
            return
        self._append(("0" if char == "," else "F") * (self.width - self.filled))

    def _append(self, digits: str) -> None:
        self.row.append(digits)
        self.filled += len(digits)
        if self.filled == self.width:
            self.rows.append("".join(self.row))
            self.row, self.filled = [], 0

    def finish(self) -> bytes:
        if self.filled:
            self.control(",")
        return bytes.fromhex("".join(self.rows))


def _repeat_count(prefix: str) -> int:
    total = 0
    for char in prefix:
        total += ord(char) - ord("F") if char <= "Y" else (ord(char) - ord("f")) * 20
    return total
