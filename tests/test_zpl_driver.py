"""The ZPL driver without a printer: geometry, the job it writes, raw ZPL checks."""

from __future__ import annotations

import numpy as np
import pytest

from labeld.config import PrinterConfig
from labeld.drivers import make_driver
from labeld.drivers.zpl import ZplDriver, zpl_problem
from labeld.testing.zpl_emulator import decode_graphic_command


def _printer(**changes: object) -> PrinterConfig:
    fields: dict[str, object] = {"name": "zebra", "driver": "zpl", "uri": "tcp://127.0.0.1:9100", "media": "75x120mm"}
    fields.update(changes)
    return PrinterConfig(**fields)  # type: ignore[arg-type]


def test_registered_as_zpl() -> None:
    assert isinstance(make_driver(_printer()), ZplDriver)


@pytest.mark.parametrize(("dpi", "size"), [(0, (599, 959)), (203, (599, 959)), (300, (886, 1417))])
def test_geometry_is_the_media_on_the_dot_grid(dpi: int, size: tuple[int, int]) -> None:
    """203 dpi by default, 300 on request; 75×120 mm becomes whole dots."""
    geometry = ZplDriver(_printer(dpi=dpi)).geometry
    assert (geometry.width_dots, geometry.length_dots) == size


def test_a_label_wider_than_the_head_is_an_error() -> None:
    """110 mm is 866 dots at 203 dpi: the 832-dot head cannot print it."""
    driver = ZplDriver(_printer(media="110x50mm"))
    with pytest.raises(ValueError, match="wider than the 832-dot"):
        _ = driver.geometry
    assert "832-dot" in (driver.self_check() or "")


def test_unsupported_dpi_is_named() -> None:
    assert "203 or 300" in (ZplDriver(_printer(dpi=600)).self_check() or "")


def test_job_carries_size_settings_and_copies() -> None:
    """^PW/^LL from the bitmap, ~SD darkness, ^PR speed, ^MM mode, ^PQ copies, in a printable order."""
    driver = ZplDriver(_printer(darkness=22, speed=4.0, mode="cut"))
    bitmap = np.zeros((959, 599), dtype=bool)
    bitmap[100:200, 50:60] = True
    text = driver.encode(bitmap, copies=3).decode()
    lines = text.split()
    assert lines[:4] == ["~SD22", "^XA", "^PW599", "^LL959"]
    assert "^PR4" in lines and "^MMC" in lines
    assert lines[-2:] == ["^PQ3", "^XZ"]
    graphic = next(line for line in lines if line.startswith("^FO0,0^GFA,"))
    params = graphic.removeprefix("^FO0,0^GF").removesuffix("^FS").encode()
    assert np.array_equal(decode_graphic_command(params)[:, :599], bitmap)


def test_defaults_leave_darkness_and_speed_to_the_printer() -> None:
    text = ZplDriver(_printer()).encode(np.zeros((8, 8), dtype=bool)).decode()
    assert "~SD" not in text and "^PR" not in text and "^MMT" in text


def test_copies_below_one_are_refused() -> None:
    with pytest.raises(ValueError, match="copies"):
        ZplDriver(_printer()).encode(np.zeros((8, 8), dtype=bool), copies=0)


def test_bitmap_wider_than_the_head_is_refused() -> None:
    with pytest.raises(ValueError, match="wider than the 832-dot head"):
        ZplDriver(_printer()).encode(np.zeros((8, 840), dtype=bool))


@pytest.mark.parametrize("compression", ["hex", "ascii", "z64", "b64"])
def test_every_compression_makes_a_decodable_job(compression: str) -> None:
    rng = np.random.default_rng(3)
    bitmap = rng.random((40, 77)) < 0.4
    text = ZplDriver(_printer(), compression=compression).encode(bitmap).decode()
    field = next(line for line in text.split() if line.startswith("^FO0,0^GF"))
    params = field.removeprefix("^FO0,0^GF").removesuffix("^FS").encode()
    assert np.array_equal(decode_graphic_command(params)[:, :77], bitmap)


def test_raw_zpl_passes_unchanged() -> None:
    data = b"\xef\xbb\xbf~SD15\r\n^XA^CI28^FO50,50^A0N,40,40^FD\xd0\x9f\xd1\x80\xd0\xb8^FS^XZ\r\n^XA^FO0,0^FDx^FS^XZ"
    assert ZplDriver(_printer()).encode_raw(data) is data


@pytest.mark.parametrize(
    ("data", "reason"),
    [(b"%PDF-1.7\n...", "PDF"), (b"", "empty"), (b"hello world", "no ^XA"),
     (b"^XA^FO0,0^FDx^FS", "1 ^XA but 0 ^XZ"), (b"^XZ^XA", "ends inside"),
     (b"^XA^XZ^XA", "2 ^XA but 1 ^XZ"), (b"^XA\x00\x01\x02^XZ", "binary"), (b"garbage ^XA^XZ", "before the first")],
)
def test_raw_files_that_are_not_zpl_are_refused_with_a_reason(data: bytes, reason: str) -> None:
    assert reason in (zpl_problem(data) or "")
    with pytest.raises(ValueError, match="not sent"):
        ZplDriver(_printer()).encode_raw(data)


def test_binary_graphics_are_allowed_in_raw_zpl() -> None:
    assert zpl_problem(b"^XA^FO0,0^GFB,2,2,1,\x00\x01^FS^XZ") is None
