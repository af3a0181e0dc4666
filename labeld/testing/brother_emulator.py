"""A Brother QL printer core for the emulator: parses the raster stream, decodes each page.

It reads what a QL reads: invalidate bytes, ``ESC @``, ``ESC i a``, ``ESC i S`` (answered with
a real 32-byte status), ``ESC i z``, cutting and margin commands, ``M``, ``g``/``w`` lines with
or without PackBits, ``Z``, ``0C``/``1A``; and tolerates what real senders do: 200 or 400
invalidate bytes, ``ESC i a`` before the invalidate, ``ESC i S`` in the middle of a job, ``1A``
after every page (brother_ql), ``ESC i U``/``ESC i !`` extras, line counts that do not match.

Each page becomes a bitmap at the label's true dot geometry: the head line is un-mirrored and
the loaded medium's right offset stripped, so the PNG equals the bitmap the driver was given.
Ink outside the label (in the head's margins) is reported as an event. A job whose ``ESC i z``
names another medium than the loaded one is refused with the "replace media" error, as a QL
does. After a refused page, data is discarded up to the next ``ESC @``.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from typing import Any

import numpy as np

from labeld.bitmap import Bitmap
from labeld.drivers.brother_raster import MEDIA_DIE_CUT, MEDIA_ENDLESS, unpackbits
from labeld.drivers.brother_status import (
    MODEL_CODES,
    PHASE_PRINTING,
    PHASE_RECEIVING,
    STATUS_ERROR,
    STATUS_PHASE,
    STATUS_PRINTED,
    STATUS_REPLY,
    BrotherStatus,
)
from labeld.testing.emulator_base import PrinterCore

#: QL-820NWB: 176 mm/s (Brother's figure).
DEFAULT_SPEED_MM_S = 176.0
ESC = 0x1B
#: ESC i <letter>: bytes of argument that follow.
ESC_I_ARGS = {b"a": 1, b"!": 1, b"z": 10, b"M": 1, b"A": 1, b"K": 1, b"d": 2, b"S": 0}
ESC_I_U_ARGS = {0x77: 128, 0x4A: 14}  # ESC i U w 01 + 127, ESC i U J + 14
Handler = Callable[[bytes, int], int]
#: Error information 1 bits of the faults beyond paper out: cutter jam (bit 2), printer turned off (bit 5).
ERROR1_BITS = {"jam": 0x04, "offline": 0x20}


class BrotherQLCore(PrinterCore):
    language = "brother_ql"
    replies_over_tcp = False

    def __init__(self, model: str = "QL-820NWB", media: str = "62") -> None:
        from brother_ql.labels import LabelsManager
        from brother_ql.models import ModelsManager

        self.model = ModelsManager()[model]
        self.label = LabelsManager()[media]
        self.model_code = MODEL_CODES.get(model, MODEL_CODES["QL-820NWB"])
        self._buffer = bytearray()
        self._reset_page()
        self._discarding = False
        self._compressed = False

    # --- PrinterCore ------------------------------------------------------------------------

    def feed(self, data: bytes) -> None:
        self._buffer += data
        stream = bytes(self._buffer)
        position = 0
        while position < len(stream):
            used = self._command(stream, position)
            if used == 0:
                break
            position += used
        del self._buffer[:position]

    def abort(self) -> None:
        self._buffer.clear()
        self._reset_page()
        self._discarding = False

    def fault_changed(self) -> None:
        if self.machine.error is not None:
            self.machine.respond(self.status(STATUS_ERROR))
        else:
            self.machine.respond(self.status(STATUS_PHASE))

    # --- status -------------------------------------------------------------------------------

    def loaded_media(self) -> tuple[float, float | None] | None:
        if self.machine.error == "paper-out":
            return None
        width, length = self.label.tape_size
        return float(width), float(length) if length else None

    def snmp_status(self) -> bytes | None:
        """What a QL's network card answers for Brother's status object: the 32-byte ``ESC i S`` reply."""
        return self.status(STATUS_REPLY)

    def status(self, status_type: int = STATUS_REPLY, *, replace_media: bool = False,
               phase: int = PHASE_RECEIVING) -> bytes:
        error = self.machine.error
        no_media = error == "paper-out"
        endless = self.label.tape_size[1] == 0
        return BrotherStatus(
            error1=(0x01 if no_media else 0) | ERROR1_BITS.get(error or "", 0),
            error2=(0x10 if error == "cover-open" else 0) | (0x01 if replace_media else 0),
            media_width_mm=0 if no_media else int(self.label.tape_size[0]),
            media_type=0 if no_media else (MEDIA_ENDLESS if endless else MEDIA_DIE_CUT),
            media_length_mm=0 if no_media else int(self.label.tape_size[1]),
            status_type=status_type,
            phase=phase,
            model_code=self.model_code,
        ).to_bytes()

    # --- parsing ------------------------------------------------------------------------------

    def _command(self, data: bytes, position: int) -> int:
        """Bytes used by the command at ``position``; 0 when it is not complete yet."""
        first = data[position : position + 1]
        if first == b"\x00":
            return 1
        if first == b"\x1b":
            return self._escape(data, position)
        handler = self._handlers.get(first)
        if handler is None:
            self.machine.event("unknown-byte", byte=f"{data[position]:02x}")
            return 1
        return handler(data, position)

    @property
    def _handlers(self) -> dict[bytes, Handler]:
        return {b"M": self._compression, b"g": self._raster, b"w": self._raster, b"Z": self._empty,
                b"\x0c": self._print, b"\x1a": self._print}

    def _escape(self, data: bytes, position: int) -> int:
        if len(data) - position < 2:
            return 0
        if data[position + 1] == 0x40:
            self._initialize()
            return 2
        if data[position + 1] != ord("i"):
            self.machine.event("unknown-command", bytes=bytes(data[position : position + 2]).hex(" "))
            return 1
        if len(data) - position < 3:
            return 0
        letter = bytes(data[position + 2 : position + 3])
        if letter == b"U":
            return self._escape_u(data, position)
        size = ESC_I_ARGS.get(letter)
        if size is None:
            self.machine.event("unknown-command", bytes=bytes(data[position : position + 3]).hex(" "))
            return 3
        if len(data) - position < 3 + size:
            return 0
        self._escape_i(letter, bytes(data[position + 3 : position + 3 + size]))
        return 3 + size

    def _escape_u(self, data: bytes, position: int) -> int:
        if len(data) - position < 4:
            return 0
        total = 4 + ESC_I_U_ARGS.get(data[position + 3], 0)
        return total if len(data) - position >= total else 0

    def _escape_i(self, letter: bytes, args: bytes) -> None:
        if letter == b"S":
            self.machine.respond(self.status(STATUS_REPLY))
        elif letter == b"z":
            self._print_info(args)
        elif letter == b"K":
            self._page["two_colour"] = bool(args[0] & 0x01)
            self._page["cut_at_end"] = bool(args[0] & 0x08)
        elif letter == b"M":
            self._page["auto_cut"] = bool(args[0] & 0x40)
        elif letter == b"d":
            self._page["margin"] = struct.unpack("<H", args)[0]

    def _initialize(self) -> None:
        if self.machine.error is None:
            self._discarding = False
        self._reset_page()
        self._compressed = False

    def _print_info(self, args: bytes) -> None:
        self._page.update(media_type=args[1], width_mm=args[2], length_mm=args[3],
                          lines=struct.unpack("<L", args[4:8])[0], later_page=bool(args[8]))

    def _compression(self, data: bytes, position: int) -> int:
        if len(data) - position < 2:
            return 0
        self._compressed = data[position + 1] == 0x02
        return 2

    def _raster(self, data: bytes, position: int) -> int:
        if len(data) - position < 3:
            return 0
        size = data[position + 2]
        if len(data) - position < 3 + size:
            return 0
        if not self._rows and not self._red_rows:
            self.machine.label_started()
        payload = data[position + 3 : position + 3 + size]
        row = self._row(unpackbits(payload) if self._compressed else payload)
        if data[position] == ord("w") and data[position + 1] == 0x02:
            self._red_rows.append(row)
        else:
            self._rows.append(row)
        return 3 + size

    def _empty(self, data: bytes, position: int) -> int:
        if not self._rows:
            self.machine.label_started()
        self._rows.append(bytes(self._head_bytes))
        if self._page.get("two_colour"):
            self._red_rows.append(bytes(self._head_bytes))
        return 1

    def _row(self, raw: bytes) -> bytes:
        if len(raw) != self._head_bytes:
            self.machine.event("bad-line-length", length=len(raw), expected=self._head_bytes)
        return raw[: self._head_bytes].ljust(self._head_bytes, b"\x00")

    def _print(self, data: bytes, position: int) -> int:
        page, rows, red = self._page, self._rows, self._red_rows
        self._reset_page(keep=page)
        if self._discarding or not rows:
            return 1
        problem = self._media_problem(page)
        if problem:
            self.machine.event("media-mismatch", detail=problem)
            self.machine.respond(self.status(STATUS_ERROR, replace_media=True))
            self._discarding = True
            return 1
        if page.get("lines") not in (None, len(rows)):
            self.machine.event("line-count-mismatch", announced=page.get("lines"), received=len(rows))
        self.machine.respond(self.status(STATUS_PHASE, phase=PHASE_PRINTING))
        bitmap = self._decode(rows)
        length_mm = len(rows) * 25.4 / 300
        red_plane = self._decode(red) if red else None
        extra: dict[str, Any] = {"red_dots": int(red_plane.sum())} if red_plane is not None else {}
        done = self.status(STATUS_PRINTED) + self.status(STATUS_PHASE)
        if not self.machine.print_label(bitmap, length_mm, reply=done, red=red_plane, cut=bool(page.get("auto_cut")),
                                        **extra):
            self.machine.respond(self.status(STATUS_ERROR))
            self._discarding = True
        return 1

    def _media_problem(self, page: dict[str, Any]) -> str | None:
        if "media_type" not in page:
            return None
        endless = self.label.tape_size[1] == 0
        loaded = (MEDIA_ENDLESS if endless else MEDIA_DIE_CUT, self.label.tape_size[0], self.label.tape_size[1])
        asked = (page["media_type"], page["width_mm"], page["length_mm"] if page["media_type"] == MEDIA_DIE_CUT else 0)
        if asked == loaded:
            return None
        return f"job asks for media {asked}, loaded is {loaded} (type, width mm, length mm)"

    def _decode(self, rows: list[bytes]) -> Bitmap:
        head = np.unpackbits(np.frombuffer(b"".join(rows), dtype=np.uint8).reshape(len(rows), -1), axis=1)
        unmirrored = head[:, ::-1].astype(bool)
        dots = int(self.label.dots_printable[0])
        offset = int(self.label.offset_r) + int(self.model.additional_offset_r)
        left = unmirrored.shape[1] - dots - offset
        outside = int(unmirrored[:, :left].sum() + unmirrored[:, left + dots :].sum())
        if outside:
            self.machine.event("dots-outside-label", dots=outside)
        result: Bitmap = unmirrored[:, left : left + dots].copy()
        return result

    def _reset_page(self, keep: dict[str, Any] | None = None) -> None:
        """A new page: page settings carry over to the next page of the same job (Brother
        senders repeat ``ESC i z`` per page, but some send it only once)."""
        self._page: dict[str, Any] = dict(keep or {})
        self._rows: list[bytes] = []
        self._red_rows: list[bytes] = []

    @property
    def _head_bytes(self) -> int:
        return int(self.model.number_bytes_per_row)


def make_core(model: str = "", media: str = "", dpi: int = 0) -> BrotherQLCore:
    """The CLI's factory: ``--model`` (default QL-820NWB) and ``--media`` (default 62)."""
    if dpi not in (0, 300):
        raise ValueError(f"a Brother QL prints at 300 dpi, not {dpi}")
    return BrotherQLCore(model or "QL-820NWB", media or "62")
