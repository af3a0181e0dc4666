"""What a network printer says over SNMP: the Printer MIB (RFC 3805) and the Host Resources MIB
(RFC 2790), plus Brother's status object, read into a :class:`MibReading` and put into labeld's
words (:class:`PrinterStatus`).

The objects, their OIDs and the bit order are written out in docs/devdocs/SNMP.md with their
sources. In short, for the printer's device row (``hrDeviceIndex`` 1) and its first marker and
input:

- ``hrDeviceStatus`` running/warning/down and ``hrPrinterStatus`` idle/printing/other;
- ``hrPrinterDetectedErrorState``: an OCTET STRING of condition bits, **bit 0 being the most
  significant bit of the first byte** (RFC 2790: "Bits are numbered starting with the most
  significant bit of the first byte being bit 0"), so ``noPaper`` (bit 1) is ``0x40`` in byte 0
  and ``inputTrayEmpty`` (bit 13) is ``0x04`` in byte 1;
- ``prtMarkerLifeCount`` (the page counter) in ``prtMarkerCounterUnit`` units: labeld counts
  labels with it only when the unit is impressions(7) or sheets(8);
- ``prtInputMediaDimXFeedDirChosen`` / ``FeedDirChosen`` in ``prtInputDimUnit`` (µm or 1/10000 in):
  the loaded media's width (and length);
- Brother's ``1.3.6.1.4.1.2435.3.3.9.1.6.1.0``: the same 32 bytes a QL answers to ``ESC i S`` on
  USB (loaded media kind and size, error bits), parsed by :mod:`labeld.drivers.brother_status`.

:func:`encode_error_state` is here for the emulators' SNMP agent, so that what it sets and what the
driver reads are defined once; the tests also check the decoder against literal bytes.
"""

from __future__ import annotations

import binascii
from collections.abc import Iterable
from dataclasses import dataclass
from enum import IntEnum

from labeld.devices.snmp import Oid, SnmpClient, SnmpTarget, Value
from labeld.drivers.base import LoadedMedia, PrinterStatus
from labeld.drivers.brother_status import STATUS_SIZE, BrotherStatus

#: The printer's row in hrDeviceTable, and its first marker and input sub-unit.
DEVICE = 1
MARKER = 1
INPUT = 1

MIB2 = (1, 3, 6, 1, 2, 1)
SYS_DESCR: Oid = (*MIB2, 1, 1, 0)
HR_DEVICE_TYPE: Oid = (*MIB2, 25, 3, 2, 1, 2, DEVICE)
HR_DEVICE_DESCR: Oid = (*MIB2, 25, 3, 2, 1, 3, DEVICE)
HR_DEVICE_STATUS: Oid = (*MIB2, 25, 3, 2, 1, 5, DEVICE)
HR_PRINTER_STATUS: Oid = (*MIB2, 25, 3, 5, 1, 1, DEVICE)
HR_PRINTER_ERROR_STATE: Oid = (*MIB2, 25, 3, 5, 1, 2, DEVICE)
#: hrDeviceTypes 5: the value of hrDeviceType for a printer.
HR_DEVICE_PRINTER: Oid = (*MIB2, 25, 3, 1, 5)
PRT_SERIAL: Oid = (*MIB2, 43, 5, 1, 1, 17, DEVICE)
PRT_INPUT_ENTRY: Oid = (*MIB2, 43, 8, 2, 1)
PRT_INPUT_DIM_UNIT: Oid = (*PRT_INPUT_ENTRY, 3, DEVICE, INPUT)
PRT_INPUT_FEED_DECLARED: Oid = (*PRT_INPUT_ENTRY, 4, DEVICE, INPUT)
PRT_INPUT_XFEED_DECLARED: Oid = (*PRT_INPUT_ENTRY, 5, DEVICE, INPUT)
PRT_INPUT_FEED_CHOSEN: Oid = (*PRT_INPUT_ENTRY, 6, DEVICE, INPUT)
PRT_INPUT_XFEED_CHOSEN: Oid = (*PRT_INPUT_ENTRY, 7, DEVICE, INPUT)
PRT_INPUT_MAX_CAPACITY: Oid = (*PRT_INPUT_ENTRY, 8, DEVICE, INPUT)
PRT_INPUT_CURRENT_LEVEL: Oid = (*PRT_INPUT_ENTRY, 9, DEVICE, INPUT)
PRT_INPUT_MEDIA_NAME: Oid = (*PRT_INPUT_ENTRY, 12, DEVICE, INPUT)
PRT_MARKER_COUNTER_UNIT: Oid = (*MIB2, 43, 10, 2, 1, 3, DEVICE, MARKER)
PRT_MARKER_LIFE_COUNT: Oid = (*MIB2, 43, 10, 2, 1, 4, DEVICE, MARKER)
PRT_MARKER_POWER_ON_COUNT: Oid = (*MIB2, 43, 10, 2, 1, 5, DEVICE, MARKER)
#: prtAlertEntry; columns 2 severity, 3 training level, 4 group, 5 group index, 6 location,
#: 7 code, 8 description, 9 time; rows indexed by (hrDeviceIndex, prtAlertIndex).
PRT_ALERT_ENTRY: Oid = (*MIB2, 43, 18, 1, 1)
PRT_ALERT_DESCRIPTION: Oid = (*PRT_ALERT_ENTRY, 8)
#: Brother: the 32-byte status reply of the raster protocol (Brother's PT-P950NW reference).
BROTHER_STATUS: Oid = (1, 3, 6, 1, 4, 1, 2435, 3, 3, 9, 1, 6, 1, 0)


class HrPrinterStatus(IntEnum):
    OTHER = 1
    UNKNOWN = 2
    IDLE = 3
    PRINTING = 4
    WARMUP = 5


class HrDeviceStatus(IntEnum):
    UNKNOWN = 1
    RUNNING = 2
    WARNING = 3
    TESTING = 4
    DOWN = 5


class CounterUnit(IntEnum):
    """PrtMarkerCounterUnitTC values labeld knows by name."""

    TEN_THOUSANDTHS_OF_INCHES = 3
    MICROMETERS = 4
    IMPRESSIONS = 7
    SHEETS = 8


class MediaUnit(IntEnum):
    """PrtMediaUnitTC: the unit of the prtInput dimensions."""

    TEN_THOUSANDTHS_OF_INCHES = 3
    MICROMETERS = 4


#: Counter units in which one label is one count.
LABEL_UNITS = frozenset({CounterUnit.IMPRESSIONS, CounterUnit.SHEETS})

#: hrPrinterDetectedErrorState: bit number → (condition name, IPP reason or "", words for a person).
#: Reasons in labeld.drivers.base.BLOCKING_REASONS stop printing; the others are shown only.
ERROR_BITS: dict[int, tuple[str, str, str]] = {
    0: ("lowPaper", "media-low", "paper low"),
    1: ("noPaper", "media-empty", "out of paper"),
    2: ("lowToner", "marker-supply-low", "ribbon or toner low"),
    3: ("noToner", "marker-supply-empty", "out of ribbon or toner"),
    4: ("doorOpen", "cover-open", "the cover is open"),
    5: ("jammed", "media-jam", "paper jam"),
    6: ("offline", "offline", "the printer is offline"),
    7: ("serviceRequested", "", "service requested"),
    8: ("inputTrayMissing", "media-needed", "the media input is missing"),
    9: ("outputTrayMissing", "", "the output tray is missing"),
    10: ("markerSupplyMissing", "marker-supply-empty", "the ribbon or toner is missing"),
    11: ("outputNearFull", "output-area-almost-full", "the output is nearly full"),
    12: ("outputFull", "output-area-full", "the output is full"),
    13: ("inputTrayEmpty", "media-empty", "the media input is empty"),
    14: ("overduePreventMaint", "", "maintenance is overdue"),
}
BITS_BY_NAME = {name: bit for bit, (name, _, _) in ERROR_BITS.items()}

#: What labeld asks for on each status read.
STATUS_OIDS: tuple[Oid, ...] = (
    HR_DEVICE_STATUS, HR_PRINTER_STATUS, HR_PRINTER_ERROR_STATE, PRT_MARKER_COUNTER_UNIT, PRT_MARKER_LIFE_COUNT,
    PRT_SERIAL, PRT_INPUT_DIM_UNIT, PRT_INPUT_FEED_CHOSEN, PRT_INPUT_XFEED_CHOSEN,
)


def decode_error_state(data: bytes) -> frozenset[str]:
    """The condition names set in an ``hrPrinterDetectedErrorState`` value (bit 0 = MSB of byte 0).
    Bits beyond the ones RFC 2790 names come back as ``bitN``."""
    names = set()
    for index, byte in enumerate(data):
        for offset in range(8):
            if byte & (0x80 >> offset):
                bit = index * 8 + offset
                names.add(ERROR_BITS[bit][0] if bit in ERROR_BITS else f"bit{bit}")
    return frozenset(names)


def encode_error_state(names: Iterable[str]) -> bytes:
    """The ``hrPrinterDetectedErrorState`` value with ``names`` set: two octets, as printers send it."""
    out = bytearray(2)
    for name in names:
        bit = BITS_BY_NAME[name]
        out[bit // 8] |= 0x80 >> (bit % 8)
    return bytes(out)


def parse_brother_status(value: Value) -> BrotherStatus | None:
    """Brother's status object: 32 raw bytes, or (some firmwares) the same as 64 hex digits."""
    if not isinstance(value, bytes):
        return None
    data = value
    if len(data) == 2 * STATUS_SIZE:
        try:
            data = binascii.unhexlify(data)
        except binascii.Error:
            return None
    try:
        return BrotherStatus.parse(data)
    except ValueError:
        return None


def _int(value: Value) -> int | None:
    return value if isinstance(value, int) else None


def _mm(value: int | None, unit: int | None) -> float | None:
    """A prtInput dimension in mm; None for other(-1), unknown(-2), 0 or an unknown unit."""
    if value is None or value <= 0:
        return None
    if unit == MediaUnit.MICROMETERS:
        return round(value / 1000, 1)
    if unit == MediaUnit.TEN_THOUSANDTHS_OF_INCHES:
        return round(value * 25.4 / 10000, 1)
    return None


@dataclass(frozen=True)
class MibReading:
    """One status read: the values labeld uses, decoded."""

    printer_status: int | None = None
    device_status: int | None = None
    errors: frozenset[str] = frozenset()
    life_count: int | None = None
    counter_unit: int | None = None
    serial: str = ""
    media_width_mm: float | None = None
    media_length_mm: float | None = None
    brother: BrotherStatus | None = None
    alerts: tuple[str, ...] = ()

    @classmethod
    def from_values(cls, values: dict[Oid, Value], alerts: Iterable[str] = ()) -> MibReading:
        error_state = values.get(HR_PRINTER_ERROR_STATE)
        serial = values.get(PRT_SERIAL)
        unit = _int(values.get(PRT_INPUT_DIM_UNIT))
        return cls(
            printer_status=_int(values.get(HR_PRINTER_STATUS)),
            device_status=_int(values.get(HR_DEVICE_STATUS)),
            errors=decode_error_state(error_state) if isinstance(error_state, bytes) else frozenset(),
            life_count=_int(values.get(PRT_MARKER_LIFE_COUNT)),
            counter_unit=_int(values.get(PRT_MARKER_COUNTER_UNIT)),
            serial=serial.decode("utf-8", "replace").strip() if isinstance(serial, bytes) else "",
            media_width_mm=_mm(_int(values.get(PRT_INPUT_XFEED_CHOSEN)), unit),
            media_length_mm=_mm(_int(values.get(PRT_INPUT_FEED_CHOSEN)), unit),
            brother=parse_brother_status(values.get(BROTHER_STATUS)),
            alerts=tuple(alerts),
        )

    @property
    def counts_labels(self) -> bool:
        """True where the page counter counts labels (one count per label)."""
        return self.life_count is not None and self.counter_unit in LABEL_UNITS

    @property
    def answered(self) -> bool:
        """True when the agent has the printer objects at all (not just a bare network card)."""
        return self.printer_status is not None or self.device_status is not None or self.brother is not None

    @property
    def troubled(self) -> bool:
        """True when the printer reports a condition worth reading its alert table for."""
        return bool(self.errors) or self.device_status in (HrDeviceStatus.DOWN, HrDeviceStatus.WARNING)

    @property
    def media(self) -> LoadedMedia | None:
        """The loaded media: from Brother's status where present (kind and size), else the width the
        Printer MIB reports (kind unknown: only the width can be compared)."""
        if self.brother is not None and self.brother.loaded_media is not None:
            return self.brother.loaded_media
        if self.media_width_mm is None:
            return None
        return LoadedMedia(self.media_width_mm, self.media_length_mm, "")

    def to_printer_status(self) -> PrinterStatus:
        found = [*(self.brother.errors() if self.brother is not None else ()),
                 *((reason, sentence) for bit, (name, reason, sentence) in sorted(ERROR_BITS.items())
                   if name in self.errors)]
        reasons: list[str] = []
        words: list[str] = []
        for reason, sentence in found:
            if reason and reason in reasons:
                continue  # Brother's own words for a condition the MIB reports too
            if reason:
                reasons.append(reason)
            words.append(sentence)
        blocking = {HrDeviceStatus.DOWN: "the printer reports it is down",
                    HrDeviceStatus.TESTING: "the printer is running a self-test"}
        if self.device_status in blocking and not PrinterStatus(reasons=tuple(reasons)).blocked:
            reasons.append("other")
            words.append(blocking[HrDeviceStatus(self.device_status)])
        words.extend(f"the printer says: {alert}" for alert in self.alerts)
        busy = self.printer_status in (HrPrinterStatus.PRINTING, HrPrinterStatus.WARMUP)
        message = "; ".join(dict.fromkeys(words)) or ("printing" if busy else "ready")
        return PrinterStatus(
            reasons=tuple(dict.fromkeys(reasons)), message=message, media=self.media, busy=busy,
            page_counter=self.life_count if self.counts_labels else None, printer_id=self.serial,
            detail={"hrPrinterStatus": self.printer_status, "hrDeviceStatus": self.device_status,
                    "errors": sorted(self.errors), "prtMarkerLifeCount": self.life_count,
                    "prtMarkerCounterUnit": self.counter_unit},
        )


def read_mib(client: SnmpClient, target: SnmpTarget, *, brother: bool) -> MibReading:
    """Ask the printer at ``target``; :class:`labeld.devices.snmp.SnmpError` when it cannot be read."""
    oids = (*STATUS_OIDS, BROTHER_STATUS) if brother else STATUS_OIDS
    values = client.get(target, oids)
    alerts: list[str] = []
    reading = MibReading.from_values(values)
    if reading.troubled:
        table = client.walk(target, PRT_ALERT_DESCRIPTION, limit=16)
        alerts = [v.decode("utf-8", "replace").strip() for v in table.values() if isinstance(v, bytes) and v.strip()]
    return MibReading.from_values(values, alerts) if alerts else reading
