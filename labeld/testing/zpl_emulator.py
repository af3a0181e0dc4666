"""A Zebra ZPL printer for tests: parses ZPL as a printer does and prints what it decodes.

The core reads a byte stream in arbitrary chunks (:class:`ZplTokenizer`), keeps the format
state between ``^XA`` and ``^XZ`` (:class:`LabelFormat`), draws ``^GF`` graphics in every
encoding and the stored-graphic form CUPS's Zebra driver sends (``~DG`` … ``^XG``), and hands
each finished label to the shared printer mechanism (:mod:`labeld.testing.emulator_base`),
which models speed and faults and writes ``NNNN.png`` and ``events.jsonl``.

Like a Zebra, it answers ``~HS`` and ``~HQES`` on the connection it prints from, in a fault
too (it keeps reading then: ``reads_during_fault``); ``answers_in_fault=False`` models the
firmware that keeps quiet while in a fault. A format that arrives while the printer is in a
fault or paused stays in its buffer and prints, in order, once the fault is cleared (``~JA``
cancels them). Text and barcode fields are not rendered
(labeld only ever sends graphics): they, and commands it does not know, are logged as events
and never stop the printer.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from labeld.bitmap import Bitmap
from labeld.drivers.zpl_graphics import GraphicData, decode_field_data, unpack_bitmap
from labeld.drivers.zpl_status import ExtendedStatus, HostStatus, extended_status_answer, host_status_answer
from labeld.media import MM_PER_INCH
from labeld.testing.emulator_base import Emulator, Fault, PrinterCore

#: ZD420 at 203 dpi: 6 in/s.
DEFAULT_SPEED_MM_S = 152.0
DEFAULT_DPI = 203
PREFIXES = b"^~"
#: Commands that take no parameters: complete as soon as their name has arrived.
_NO_PARAMS = frozenset({"XA", "XZ", "FS", "HS", "HI", "HM", "HD", "HH", "JA", "PS", "PP", "JR", "SC"})
#: Field commands a graphics-only emulator reads past without drawing (logged once per label).
_NOT_DRAWN = frozenset({"FD", "FV", "FB", "FH", "BC", "BQ", "BX", "B3", "BE", "BY", "CF", "GB", "GC", "GD", "GE",
                        "A@", "TB", "FR", "FW"})
_SILENT = frozenset({"FX", "CI", "LR", "LS", "LT", "MN", "MT", "JU", "JM", "XB", "SN", "SF"})
_PRINT_SPEEDS = {"A": 2, "B": 3, "C": 4, "D": 6, "E": 8}
_MODES = {"T": "tear", "P": "peel", "C": "cut", "R": "rewind", "A": "applicator", "D": "delayed-cut"}
_HEADER_COMMAS = 4  # ^GFa,b,c,d,


@dataclass(frozen=True)
class Command:
    """One ZPL command: ``^`` or ``~``, its two-letter name (upper case) and raw parameters."""

    prefix: str
    name: str
    params: bytes

    @property
    def text(self) -> str:
        return self.params.decode("latin-1").strip()

    @property
    def args(self) -> list[str]:
        return [part.strip() for part in self.text.split(",")]

    def __str__(self) -> str:
        return f"{self.prefix}{self.name}"


class ZplTokenizer:
    """Bytes in, whole commands out; a command cut by a chunk boundary waits for the rest."""

    def __init__(self) -> None:
        self.buffer = b""

    def feed(self, data: bytes) -> list[Command]:
        self.buffer += data
        commands: list[Command] = []
        while True:
            command = self._next()
            if command is None:
                return commands
            commands.append(command)

    def reset(self) -> None:
        self.buffer = b""

    def _next(self) -> Command | None:
        start = _find_prefix(self.buffer, 0)
        if start < 0:
            self.buffer = b""
            return None
        self.buffer = self.buffer[start:]
        if len(self.buffer) < 3:
            return None
        prefix, name = chr(self.buffer[0]), self.buffer[1:3].decode("latin-1").upper()
        if name == "GF":
            return self._graphic_field(prefix)
        if name in _NO_PARAMS:
            return self._take(prefix, name, 3)
        end = _find_prefix(self.buffer, 3)
        if end < 0:
            if not (name == "HQ" and len(self.buffer[3:].strip()) >= 2):
                return None
            end = len(self.buffer)
        return self._take(prefix, name, end)

    def _graphic_field(self, prefix: str) -> Command | None:
        """``^GF`` needs care: format B carries ``b`` raw bytes that may contain ``^`` and ``~``."""
        header = _header_end(self.buffer, 3)
        if header < 0:
            following = _find_prefix(self.buffer, 3)
            return None if following < 0 else self._take(prefix, "GF", following)
        fields = self.buffer[3:header].decode("latin-1").split(",")
        kind = fields[0].strip().upper() or "A"
        if kind in ("B", "C"):
            try:
                size = int(fields[1])
            except ValueError:
                size = 0
            if len(self.buffer) < header + size:
                return None
            return self._take(prefix, "GF", header + size)
        end = _find_prefix(self.buffer, header)
        return None if end < 0 else self._take(prefix, "GF", end)

    def _take(self, prefix: str, name: str, end: int) -> Command:
        command = Command(prefix, name, self.buffer[3:end])
        self.buffer = self.buffer[end:]
        return command


def _find_prefix(data: bytes, start: int) -> int:
    positions = [p for p in (data.find(b"^", start), data.find(b"~", start)) if p >= 0]
    return min(positions) if positions else -1


def _header_end(data: bytes, start: int) -> int:
    """Index just past the 4th comma of a ``^GF`` header, or -1 (also if a command starts first)."""
    stop = _find_prefix(data, start)
    position = start
    for _ in range(_HEADER_COMMAS):
        comma = data.find(b",", position)
        if comma < 0 or (0 <= stop < comma):
            return -1
        position = comma + 1
    return position


@dataclass
class Placement:
    x: int
    y: int
    bitmap: Bitmap


@dataclass
class LabelFormat:
    """What one ``^XA`` … ``^XZ`` has said so far."""

    fields: list[Placement] = field(default_factory=list)
    origin: tuple[int, int] = (0, 0)
    bottom_origin: bool = False
    copies: int = 1
    inverted: bool = False
    not_drawn: set[str] = field(default_factory=set)
    settings: dict[str, Any] = field(default_factory=dict)


@dataclass
class HeldLabel:
    bitmap: Bitmap
    copies: int
    detail: dict[str, Any]


class ZplCore(PrinterCore):
    """The ZPL language inside an :class:`Emulator`."""

    language = "zpl"
    replies_over_tcp = True
    reads_during_fault = True

    def __init__(self, dpi: int = DEFAULT_DPI, model: str = "ZD420", *, answers_in_fault: bool = True) -> None:
        self.dpi = dpi
        self.model = model
        self.answers_in_fault = answers_in_fault
        self.tokens = ZplTokenizer()
        self.width: int | None = None
        self.length: int | None = None
        self.home = (0, 0)
        self.darkness = 15
        self.speed_ips = 6
        self.mode = "tear"
        self.paused = False
        self.stored: dict[str, Bitmap] = {}
        self.format: LabelFormat | None = None
        self.held: list[HeldLabel] = []
        self.formats_seen = 0
        self.printing_until = 0.0
        self._flushing = False
        #: A status answer showed held formats (what a ``power-cycle`` fault waits for).
        self._reported = False

    # --- PrinterCore ----------------------------------------------------------------------

    def feed(self, data: bytes) -> None:
        for command in self.tokens.feed(data):
            self.execute(command)

    def abort(self) -> None:
        if self.format is not None:
            self.machine.event("format-discarded", reason="connection dropped inside ^XA…^XZ")
        self.format = None
        self.tokens.reset()

    def fault_changed(self) -> None:
        if self.machine.error is None and not self.paused:
            self._flush_held()

    def held_reported(self) -> bool:
        return bool(self.held) and self._reported

    def restart(self) -> int:
        """Switched off and on: the receive buffer and the settings the host sent are gone (stored
        graphics in ``R:`` too: it is RAM); a pause ends."""
        lost = len(self.held)
        self.abort()
        self.held.clear()
        self.stored.clear()
        self.paused = False
        self._reported = False
        self.printing_until = 0.0
        return lost

    # --- commands -------------------------------------------------------------------------

    def execute(self, command: Command) -> None:
        handler = _HANDLERS.get(f"{command.prefix}{command.name}") or _HANDLERS.get(command.name)
        if handler is not None:
            handler(self, command)
        elif command.name in _SILENT:
            return
        elif command.name in _NOT_DRAWN or command.name.startswith("A") or command.name.startswith("B"):
            if self.format is not None:
                self.format.not_drawn.add(f"^{command.name}")
        else:
            self.machine.event("unknown-command", command=str(command), params=command.text[:40])

    def _start(self, command: Command) -> None:
        if self.format is not None:
            self.machine.event("format-discarded", reason="^XA inside a format")
        self.machine.label_started()
        self.format = LabelFormat()

    def _end(self, command: Command) -> None:
        label = self.format
        self.format = None
        if label is None:
            self.machine.event("stray-command", command="^XZ")
            return
        self.formats_seen += 1
        if label.not_drawn:
            self.machine.event("not-rendered", format=self.formats_seen, commands=sorted(label.not_drawn))
        if not label.fields:
            self.machine.event("empty-format", format=self.formats_seen)
            return
        bitmap = self._compose(label)
        detail = {"format": self.formats_seen, "darkness": self.darkness, "speed_ips": self.speed_ips,
                  "mode": self.mode, **label.settings}
        self.held.append(HeldLabel(bitmap, label.copies, detail))
        self._flush_held()

    def _compose(self, label: LabelFormat) -> Bitmap:
        width = self.width or max(p.x + p.bitmap.shape[1] for p in label.fields)
        length = self.length or max(p.y + p.bitmap.shape[0] for p in label.fields)
        canvas = np.zeros((length, width), dtype=np.bool_)
        for placement in label.fields:
            _draw(canvas, placement)
        return canvas[::-1, ::-1].copy() if label.inverted else canvas

    def _flush_held(self) -> None:
        """Print buffered formats in order until the buffer is empty or a fault strikes."""
        if self._flushing:
            return
        self._flushing = True
        try:
            while self.held and self.machine.error is None and not self.paused and not self.machine.holding:
                self._print_one(self.held[0])
        finally:
            self._flushing = False

    def _print_one(self, held: HeldLabel) -> None:
        length_mm = held.bitmap.shape[0] * MM_PER_INCH / self.dpi
        total = held.detail.get("copies", held.copies)
        held.detail["copies"] = total
        while held.copies > 0:
            copy = total - held.copies + 1
            if not self.machine.print_label(held.bitmap, length_mm, copy=copy, **held.detail):
                return
            held.copies -= 1
            self.printing_until = time.monotonic() + length_mm / self.machine.current_speed
        self.held.pop(0)

    def _field_origin(self, command: Command, bottom: bool = False) -> None:
        if self.format is None:
            return
        x, y = (_int(command.args, 0), _int(command.args, 1))
        self.format.origin = (x + self.home[0], y + self.home[1])
        self.format.bottom_origin = bottom

    def _graphic(self, command: Command) -> None:
        if self.format is None:
            self.machine.event("stray-command", command="^GF")
            return
        try:
            bitmap = decode_graphic_command(command.params)
        except ValueError as error:
            self.machine.event("graphic-error", error=str(error))
            return
        self._place(bitmap)

    def _place(self, bitmap: Bitmap) -> None:
        assert self.format is not None
        x, y = self.format.origin
        if self.format.bottom_origin:
            y -= bitmap.shape[0]
        self.format.fields.append(Placement(x, y, bitmap))

    def _download_graphic(self, command: Command) -> None:
        """``~DGd:name.GRF,t,w,DATA``: store a graphic for ``^XG`` (CUPS's Zebra driver does this)."""
        name, _, rest = command.params.partition(b",")
        total, _, rest = rest.partition(b",")
        row_bytes, _, data = rest.partition(b",")
        try:
            graphic = decode_field_data(data.decode("latin-1"), int(total), int(row_bytes))
        except ValueError as error:
            self.machine.event("graphic-error", error=f"~DG {name.decode('latin-1')}: {error}")
            return
        self.stored[_object_name(name.decode("latin-1"))] = unpack_bitmap(graphic)

    def _recall_graphic(self, command: Command) -> None:
        args = command.args
        bitmap = self.stored.get(_object_name(args[0]))
        if bitmap is None or self.format is None:
            self.machine.event("graphic-error", error=f"^XG {args[0]}: no such stored graphic")
            return
        mx, my = max(1, _int(args, 1, 1)), max(1, _int(args, 2, 1))
        self._place(np.repeat(np.repeat(bitmap, my, axis=0), mx, axis=1))

    def _delete_object(self, command: Command) -> None:
        self.stored.pop(_object_name(command.args[0]), None)

    def _set(self, command: Command) -> None:
        args = command.args
        name = command.name
        if name == "PW":
            self.width = _int(args, 0) or None
        elif name == "LL":
            self.length = _int(args, 0) or None
        elif name == "LH":
            self.home = (_int(args, 0), _int(args, 1))
        elif name == "PQ" and self.format is not None:
            self.format.copies = max(1, _int(args, 0, 1))
        elif name == "PO" and self.format is not None:
            self.format.inverted = args[0].upper() == "I"
        elif name == "SD":
            self.darkness = _int(args, 0, self.darkness)
        elif name == "MD" and self.format is not None:
            self.format.settings["darkness_shift"] = _int(args, 0)
        elif name == "PR":
            self.speed_ips = _PRINT_SPEEDS.get(args[0].upper(), _int(args, 0, self.speed_ips))
        elif name == "MM":
            self.mode = _MODES.get(args[0][:1].upper(), self.mode)

    def _host_status(self, command: Command) -> None:
        if self._quiet():
            return
        self._reported = self._reported or bool(self.held)
        self.machine.respond(host_status_answer(self.host_status()))

    def _extended_status(self, command: Command) -> None:
        if self._quiet():
            return
        if command.text.upper().startswith("ES"):
            self.machine.respond(extended_status_answer(self.extended_status()))
        else:
            self.machine.event("unknown-command", command=f"~HQ{command.text[:8]}")

    def _identify(self, command: Command) -> None:
        self.machine.respond(f"\x02{self.model}-{self.dpi}dpi,V84.20.18Z,{round(self.dpi / 25.4)},8192KB\x03\r\n"
                             .encode("ascii"))

    def _pause(self, command: Command) -> None:
        self.paused = True
        self.machine.event("paused")

    def _resume(self, command: Command) -> None:
        self.paused = False
        self.machine.event("resumed")
        self.fault_changed()

    def _cancel_all(self, command: Command) -> None:
        self.machine.event("cancelled", formats=len(self.held))
        self.held.clear()

    # --- status -----------------------------------------------------------------------------

    def _quiet(self) -> bool:
        """True where this firmware ignores status requests because it is in a fault."""
        if self.answers_in_fault or self.machine.error is None:
            return False
        self.machine.event("status-ignored", reason=self.machine.error)
        return True

    def host_status(self) -> HostStatus:
        error = self.machine.error
        printing = time.monotonic() < self.printing_until
        remaining = sum(h.copies for h in self.held)
        return HostStatus(
            paper_out=error == "paper-out",
            paused=self.paused or error == "offline",
            label_length=self.length or 0,
            formats_in_buffer=len(self.held) + (1 if printing and not self.held else 0),
            partial_format=self.format is not None,
            head_open=error == "cover-open",
            print_mode=self.mode,
            labels_remaining=remaining,
            graphics_stored=len(self.stored),
        )

    def extended_status(self) -> ExtendedStatus:
        error = self.machine.error
        return ExtendedStatus(errors={"paper-out": 0x1, "cover-open": 0x4, "jam": 0x4000}.get(error or "", 0))

    def loaded_media(self) -> tuple[float, float | None] | None:
        """The print width and label length the host set (^PW, ^LL): what a Zebra reports as its media."""
        if self.machine.error == "paper-out" or not self.width:
            return None
        return round(self.width * MM_PER_INCH / self.dpi, 1), (round(self.length * MM_PER_INCH / self.dpi, 1)
                                                                if self.length else None)


_HANDLERS = {
    "XA": ZplCore._start, "XZ": ZplCore._end, "FO": ZplCore._field_origin,
    "FT": lambda core, command: ZplCore._field_origin(core, command, bottom=True),
    "GF": ZplCore._graphic, "~DG": ZplCore._download_graphic, "XG": ZplCore._recall_graphic,
    "ID": ZplCore._delete_object, "~HS": ZplCore._host_status, "~HQ": ZplCore._extended_status,
    "~HI": ZplCore._identify, "~PP": ZplCore._pause, "^PP": ZplCore._pause, "~PS": ZplCore._resume,
    "^PS": ZplCore._resume, "~JA": ZplCore._cancel_all, "FS": lambda core, command: None,
    **{name: ZplCore._set for name in ("PW", "LL", "LH", "PQ", "PO", "SD", "MD", "PR", "MM")},
}


def decode_graphic_command(params: bytes) -> Bitmap:
    """The parameters of one ``^GF`` (``a,b,c,d,DATA``) as a bitmap of ``d*8`` dots a row."""
    head = params.split(b",", _HEADER_COMMAS)
    if len(head) <= _HEADER_COMMAS:
        raise ValueError(f"^GF needs 5 parameters, got {len(head)}")
    kind = head[0].decode("latin-1").strip().upper() or "A"
    try:
        size, total, row_bytes = (int(part) for part in head[1:4])
    except ValueError as error:
        raise ValueError(f"^GF sizes are not numbers: {error}") from error
    if kind == "A":
        graphic = decode_field_data(head[4].decode("latin-1"), total, row_bytes)
    elif kind == "B":
        graphic = GraphicData(head[4][:size].ljust(total, b"\0")[:total], row_bytes)
    else:
        raise ValueError(f"^GF{kind}: only the A (ASCII) and B (binary) formats are emulated")
    return unpack_bitmap(graphic)


def _draw(canvas: Bitmap, placement: Placement) -> None:
    rows, cols = canvas.shape
    dots = placement.bitmap
    x0, y0 = max(0, placement.x), max(0, placement.y)
    x1 = min(cols, placement.x + dots.shape[1])
    y1 = min(rows, placement.y + dots.shape[0])
    if x1 > x0 and y1 > y0:
        canvas[y0:y1, x0:x1] |= dots[y0 - placement.y : y1 - placement.y, x0 - placement.x : x1 - placement.x]


def _object_name(text: str) -> str:
    """``CUPS.GRF`` and ``R:CUPS.GRF`` name the same object (R: is the default device)."""
    name = text.strip().upper()
    if ":" not in name:
        name = "R:" + name
    return name if "." in name else name + ".GRF"


def _int(args: list[str], index: int, default: int = 0) -> int:
    try:
        return int(float(args[index]))
    except (IndexError, ValueError):
        return default


def make_core(*, model: str = "", media: str = "", dpi: int = 0) -> ZplCore:
    """The factory ``labeld-emulator zpl`` calls; ``media`` is not needed (ZPL says ^PW/^LL)."""
    return ZplCore(dpi=dpi or DEFAULT_DPI, model=model or "ZD420")


def make_emulator(out_dir: Path, *, dpi: int = DEFAULT_DPI, speed_mm_s: float = DEFAULT_SPEED_MM_S,
                  faults: tuple[Fault, ...] = (), name: str = "zpl", answers_in_fault: bool = True) -> Emulator:
    """A ZPL printer writing to ``out_dir``, ready to be put behind a transport."""
    core = ZplCore(dpi=dpi, answers_in_fault=answers_in_fault)
    return Emulator(core, out_dir, speed_mm_s=speed_mm_s, faults=faults, name=name)
