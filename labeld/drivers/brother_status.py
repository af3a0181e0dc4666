"""The Brother QL 32-byte status reply: parsed into reasons and loaded media, and built back.

Layout (Brother QL raster command reference; brother_ql's reader.py): bytes 0-2 ``80 20 42``,
3 series, 4 model, 8 error information 1, 9 error information 2, 10 media width (mm),
11 media type, 15 mode, 17 media length (mm), 18 status type, 19 phase, 20-21 phase number,
22 notification. The emulator builds its replies with :meth:`BrotherStatus.to_bytes` so both
sides share one layout; the tests check the parser against literal bytes.
"""

from __future__ import annotations

from dataclasses import dataclass

from labeld.drivers.base import LoadedMedia, PrinterStatus

STATUS_SIZE = 32
HEADER = b"\x80\x20\x42"
SERIES_QL = 0x34

STATUS_REPLY = 0x00
STATUS_PRINTED = 0x01
STATUS_ERROR = 0x02
STATUS_NOTIFICATION = 0x05
STATUS_PHASE = 0x06

PHASE_RECEIVING = 0x00
PHASE_PRINTING = 0x01

NOTIFY_COOLING_STARTED = 0x03
NOTIFY_COOLING_FINISHED = 0x04

MEDIA_NONE = 0x00
MEDIA_ENDLESS = 0x0A
MEDIA_DIE_CUT = 0x0B

MODEL_CODES = {
    "QL-700": 0x35, "QL-710W": 0x36, "QL-720NW": 0x37, "QL-800": 0x38, "QL-810W": 0x39,
    "QL-820NWB": 0x41, "QL-1100": 0x43, "QL-1100NWB": 0x44, "QL-1115NWB": 0x45,
}

#: (error byte, bit) → (IPP reason, words for a person). Byte 8 is error 1, byte 9 error 2.
ERROR_BITS: dict[tuple[int, int], tuple[str, str]] = {
    (8, 0): ("media-empty", "no media loaded"),
    (8, 1): ("media-needed", "end of the label roll"),
    (8, 2): ("media-jam", "the cutter is jammed"),
    (8, 5): ("offline", "the printer is switched off"),
    (8, 7): ("other", "the fan does not work"),
    (9, 0): ("media-mismatch", "the loaded media does not match the job (replace media)"),
    (9, 1): ("spool-area-full", "the printer's buffer is full"),
    (9, 2): ("other", "transmission error"),
    (9, 4): ("cover-open", "the cover is open"),
    (9, 6): ("media-jam", "the media cannot be fed"),
    (9, 7): ("other", "system error"),
}
BUSY_BIT = (8, 4)


@dataclass(frozen=True)
class BrotherStatus:
    """One status reply, field by field."""

    error1: int = 0
    error2: int = 0
    media_width_mm: int = 0
    media_type: int = MEDIA_NONE
    media_length_mm: int = 0
    status_type: int = STATUS_REPLY
    phase: int = PHASE_RECEIVING
    notification: int = 0
    model_code: int = MODEL_CODES["QL-820NWB"]

    @classmethod
    def parse(cls, data: bytes) -> BrotherStatus:
        if len(data) != STATUS_SIZE or not data.startswith(HEADER):
            raise ValueError(f"not a Brother QL status reply: {data[:8].hex(' ')}… ({len(data)} bytes)")
        return cls(
            error1=data[8], error2=data[9], media_width_mm=data[10], media_type=data[11],
            media_length_mm=data[17], status_type=data[18], phase=data[19], notification=data[22],
            model_code=data[4],
        )

    def to_bytes(self) -> bytes:
        out = bytearray(STATUS_SIZE)
        out[0:3] = HEADER
        out[3], out[4], out[5], out[6] = SERIES_QL, self.model_code, 0x30, 0x00
        out[8], out[9] = self.error1, self.error2
        out[10], out[11], out[17] = self.media_width_mm, self.media_type, self.media_length_mm
        out[18], out[19], out[22] = self.status_type, self.phase, self.notification
        return bytes(out)

    def errors(self) -> list[tuple[str, str]]:
        found = []
        for (byte, bit), reason in ERROR_BITS.items():
            value = self.error1 if byte == 8 else self.error2
            if value >> bit & 1:
                found.append(reason)
        if self.notification == NOTIFY_COOLING_STARTED:
            found.append(("overheated", "the print head is cooling down"))
        return found

    @property
    def loaded_media(self) -> LoadedMedia | None:
        if self.media_type == MEDIA_ENDLESS:
            return LoadedMedia(float(self.media_width_mm), None, "endless")
        if self.media_type == MEDIA_DIE_CUT:
            return LoadedMedia(float(self.media_width_mm), float(self.media_length_mm), "die-cut")
        return None

    def to_printer_status(self) -> PrinterStatus:
        errors = self.errors()
        reasons = tuple(dict.fromkeys(reason for reason, _ in errors))
        message = "; ".join(words for _, words in errors) or "ready"
        return PrinterStatus(
            reasons=reasons,
            message=message,
            media=self.loaded_media,
            busy=bool(self.error1 >> BUSY_BIT[1] & 1) or self.phase == PHASE_PRINTING,
            detail={"status_type": self.status_type, "phase": self.phase, "model_code": self.model_code,
                    "error1": self.error1, "error2": self.error2},
        )
