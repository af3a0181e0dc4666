"""Reading the Printer and Host Resources MIBs: bit order, states, counter units, media, targets.

The bytes are written out by hand from RFC 2790 ("bit 0 is the most significant bit of the first
byte"), not produced by the encoder they check.
"""

from __future__ import annotations

import pytest

from labeld.credentials import Secret
from labeld.devices.snmp import SnmpCredentials, parse_target
from labeld.drivers import printer_mib as mib
from labeld.drivers.base import PrinterStatus
from labeld.drivers.brother_status import BrotherStatus
from labeld.drivers.printer_mib import MibReading, decode_error_state, encode_error_state


@pytest.mark.parametrize(("octets", "names"), [
    (b"\x80\x00", {"lowPaper"}),
    (b"\x40\x00", {"noPaper"}),
    (b"\x08\x00", {"doorOpen"}),
    (b"\x04\x00", {"jammed"}),
    (b"\x02\x00", {"offline"}),
    (b"\x01\x00", {"serviceRequested"}),
    (b"\x00\x80", {"inputTrayMissing"}),
    (b"\x00\x04", {"inputTrayEmpty"}),
    (b"\x00\x02", {"overduePreventMaint"}),
    (b"\x48", {"noPaper", "doorOpen"}),  # one octet only: some agents send just the first
    (b"\x00\x00\x80", {"bit16"}),         # beyond RFC 2790's list: named by number, not dropped
    (b"", set()),
])
def test_error_state_bits_are_numbered_from_the_msb(octets: bytes, names: set[str]) -> None:
    """Each condition sits at the bit RFC 2790 gives it, counting from the first byte's MSB."""
    assert decode_error_state(octets) == names


def test_encoder_writes_the_same_bytes_the_decoder_reads() -> None:
    """The emulator's encoder agrees with the hand-written bytes, two octets always."""
    assert encode_error_state(["noPaper"]) == b"\x40\x00"
    assert encode_error_state(["doorOpen", "inputTrayEmpty"]) == b"\x08\x04"
    assert encode_error_state([]) == b"\x00\x00"
    for bit, (name, _, _) in mib.ERROR_BITS.items():
        assert decode_error_state(encode_error_state([name])) == {name}, bit


def values(**extra: object) -> dict[tuple[int, ...], object]:
    base: dict[tuple[int, ...], object] = {
        mib.HR_DEVICE_STATUS: 2, mib.HR_PRINTER_STATUS: 3, mib.HR_PRINTER_ERROR_STATE: b"\x00\x00",
        mib.PRT_MARKER_COUNTER_UNIT: 7, mib.PRT_MARKER_LIFE_COUNT: 4242, mib.PRT_SERIAL: b"E78123456 ",
    }
    names = {"device": mib.HR_DEVICE_STATUS, "printer": mib.HR_PRINTER_STATUS,
             "errors": mib.HR_PRINTER_ERROR_STATE, "unit": mib.PRT_MARKER_COUNTER_UNIT,
             "count": mib.PRT_MARKER_LIFE_COUNT, "dim_unit": mib.PRT_INPUT_DIM_UNIT,
             "width": mib.PRT_INPUT_XFEED_CHOSEN, "length": mib.PRT_INPUT_FEED_CHOSEN, "brother": mib.BROTHER_STATUS}
    base.update({names[k]: v for k, v in extra.items()})
    return base


def status(**extra: object) -> PrinterStatus:
    return MibReading.from_values(values(**extra)).to_printer_status()  # type: ignore[arg-type]


def test_idle_running_printer_is_ready_with_its_counter_and_serial() -> None:
    """running + idle, no bits: ready, not busy, counter in labels, serial trimmed."""
    ready = status()
    assert (ready.reasons, ready.blocked, ready.busy, ready.message) == ((), False, False, "ready")
    assert (ready.page_counter, ready.printer_id) == (4242, "E78123456")


@pytest.mark.parametrize(("octets", "reasons", "blocked"), [
    (b"\x40\x00", ("media-empty",), True),
    (b"\x08\x00", ("cover-open",), True),
    (b"\x04\x00", ("media-jam",), True),
    (b"\x02\x00", ("offline",), True),
    (b"\x00\x04", ("media-empty",), True),
    (b"\x80\x00", ("media-low",), False),
    (b"\x01\x00", (), False),
])
def test_conditions_become_ipp_reasons(octets: bytes, reasons: tuple[str, ...], blocked: bool) -> None:
    """Faults stop the printer (labels wait); warnings are shown but do not."""
    shown = status(errors=octets, device=5 if blocked else 3, printer=1 if blocked else 3)
    assert shown.reasons == reasons and shown.blocked is blocked


def test_down_without_a_bit_still_stops_and_printing_is_busy() -> None:
    """hrDeviceStatus down with no condition bit is a stop ("other"); printing/warmup are busy."""
    down = status(device=5, printer=1)
    assert down.reasons == ("other",) and down.blocked and "down" in down.message
    assert status(printer=4).busy and status(printer=5).busy and not status(printer=3).busy


@pytest.mark.parametrize(("unit", "counted"), [(7, True), (8, True), (4, False), (3, False), (None, False)])
def test_counter_counts_labels_only_in_impressions_or_sheets(unit: int | None, counted: bool) -> None:
    """A counter in micrometres or 1/10000 inch of media cannot confirm a number of labels."""
    assert (status(unit=unit).page_counter is not None) is counted


def test_media_width_from_the_input_table_in_both_units() -> None:
    """62 000 µm and 24 409 × 1/10000 in are both a 62 mm roll; a length ≤ 0 is unknown."""
    micrometres = MibReading.from_values(values(dim_unit=4, width=62000, length=29000)).media  # type: ignore[arg-type]
    inches = MibReading.from_values(values(dim_unit=3, width=24409, length=-1)).media  # type: ignore[arg-type]
    assert micrometres is not None and (micrometres.width_mm, micrometres.length_mm) == (62.0, 29.0)
    assert inches is not None and (inches.width_mm, inches.length_mm, inches.kind) == (62.0, None, "")
    assert inches.describe() == "62 mm wide"


def test_brother_status_object_raw_or_hex_gives_media_and_errors() -> None:
    """Brother's 32-byte status (also as 64 hex digits) wins for media; its error words are used."""
    raw = BrotherStatus(error2=0x10, media_width_mm=62, media_type=0x0B, media_length_mm=29).to_bytes()
    for value in (raw, raw.hex().upper().encode()):
        shown = status(brother=value, dim_unit=4, width=50000)
        assert shown.media is not None and shown.media.describe() == "62×29 mm die-cut"
        assert shown.reasons == ("cover-open",) and shown.message == "the cover is open"
    assert MibReading.from_values(values(brother=b"\x00" * 32)).brother is None  # type: ignore[arg-type]


@pytest.mark.parametrize(("text", "expected"), [
    ("", ("printer.lan", 161)), ("10.0.0.9", ("10.0.0.9", 161)), ("10.0.0.9:1161", ("10.0.0.9", 1161)),
    ("[fe80::1]:162", ("fe80::1", 162)), ("fe80::1", ("fe80::1", 161)),
])
def test_snmp_target_defaults_to_the_printer_host_and_port_161(text: str, expected: tuple[str, int]) -> None:
    """``snmp = "HOST[:PORT]"``; empty means the printer's own host."""
    assert parse_target(text, "printer.lan") == expected


@pytest.mark.parametrize("text", [":161", "host:0", "host:x", "host:70000"])
def test_bad_snmp_targets_are_refused(text: str) -> None:
    """A target without a host or with a port out of range is a config error."""
    with pytest.raises(ValueError):
        parse_target(text, "printer.lan")


def test_credentials_never_show_their_secrets() -> None:
    """repr and describe name the source file and the level, never the community or the keys."""
    v2 = SnmpCredentials(community=Secret("hush-community"), source="/etc/labeld/community")
    v3 = SnmpCredentials(user="labeld", auth_key=Secret("hush-auth-key"), priv_key=Secret("hush-priv-key"),
                         source="/etc/k")
    for shown in (repr(v2), v2.describe(), repr(v3), v3.describe()):
        assert "hush" not in shown
    assert v3.level == "authPriv" and "authPriv" in v3.describe()
    assert SnmpCredentials(user="u", auth_key=Secret("12345678")).level == "authNoPriv"
