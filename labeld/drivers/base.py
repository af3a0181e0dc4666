"""Drivers: one printer language each, declared as data plus a few callbacks.

The engine (``labeld.daemon.printer_worker``) owns the loop: it asks the driver for the
printer's status, has it encode a label, writes the bytes to the device, and asks the driver
whether the printer confirmed the print. A driver never loops, sleeps for retries or touches
the spool.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Generic, TypeVar

from labeld.devices.base import Device, open_device
from labeld.media import Geometry, Media
from labeld.reasons import Reason

if TYPE_CHECKING:
    from labeld.bitmap import Bitmap
    from labeld.config import PrinterConfig

#: The connection a driver talks through: any :class:`Device`, or one kind (CUPS needs its own).
D = TypeVar("D", bound=Device)

#: Reasons that stop a printer until a person acts (IPP printer-state-reasons keywords).
BLOCKING_REASONS = frozenset({
    "media-empty", "media-needed", "media-jam", "cover-open", "door-open", "offline",
    "marker-supply-empty", "cutter-error", "media-mismatch", "other", "paused",
    "shutdown", "spool-area-full", "connecting-to-device", "output-area-full",
    "overheated", "status-unknown",
})


@dataclass(frozen=True)
class LoadedMedia:
    """What the printer says is loaded. ``length_mm`` is None for endless tape."""

    width_mm: float
    length_mm: float | None
    kind: str = ""  # "endless", "die-cut", or a printer's own word

    def describe(self) -> str:
        if self.length_mm is None:
            return f"{self.width_mm:g} mm endless" if self.kind == "endless" else f"{self.width_mm:g} mm wide"
        return f"{self.width_mm:g}×{self.length_mm:g} mm {self.kind}".strip()


@dataclass(frozen=True)
class PrinterStatus:
    """A printer's state as the driver read it.

    ``reasons`` are IPP ``printer-state-reasons`` keywords (``media-empty``, ``cover-open``,
    ``offline``…); ``message`` says the same for a person (``reason``, where labeld wrote the
    words itself, says it as a code). ``known`` is False where the device cannot answer (a
    write-only path): the engine then prints and hopes. ``page_counter`` is the printer's life
    count of labels where it keeps one (SNMP's prtMarkerLifeCount), ``printer_id`` its serial
    number: the engine records both before a label goes out.
    """

    reasons: tuple[str, ...] = ()
    message: str = ""
    media: LoadedMedia | None = None
    known: bool = True
    busy: bool = False
    detail: dict[str, object] = field(default_factory=dict)
    page_counter: int | None = None
    printer_id: str = ""
    reason: Reason | None = None

    @property
    def blocked(self) -> bool:
        return any(r.removesuffix("-error") in BLOCKING_REASONS for r in self.reasons)

    @classmethod
    def unknown(cls, message: str = "the printer cannot report its status over this connection") -> PrinterStatus:
        return cls(known=False, message=message)


class Driver(ABC, Generic[D]):
    """A printer language. Subclasses set ``name`` and implement :meth:`encode`.

    Methods marked MAY have working defaults; MUST ones are abstract. ``D`` is the kind of
    connection the driver needs; :meth:`connect` makes it from the printer's ``uri``.
    """

    name: ClassVar[str]
    #: File extension of one encoded label, used for file devices and ``labeld convert``.
    extension: ClassVar[str] = "bin"
    #: False where one encoded label cannot carry copies: the engine then writes it ``copies`` times.
    native_copies: ClassVar[bool] = True
    #: True where the driver prints from the label's PDF page (CUPS pdf mode), not its bitmap.
    uses_page_pdf: ClassVar[bool] = False

    def __init__(self, printer: PrinterConfig) -> None:
        self.printer = printer

    def connect(self) -> D:
        """MAY: the (not yet opened) connection to this printer. Default: by the uri's scheme."""
        device: Any = open_device(self.printer.uri)
        return device  # type: ignore[no-any-return]  # the default D is Device itself

    @property
    @abstractmethod
    def geometry(self) -> Geometry:
        """MUST: the dot grid labels are rendered onto for this printer and its media."""

    @abstractmethod
    def encode(self, bitmap: Bitmap, copies: int = 1) -> bytes:
        """MUST: the complete bytes that print ``bitmap`` ``copies`` times. Pure: no I/O."""

    @property
    def prints_red(self) -> bool:
        """MAY: True where the loaded media and printer print red as well as black."""
        return False

    def encode_two_colour(self, bitmap: Bitmap, red: Bitmap, copies: int = 1) -> bytes:
        """MAY (with ``prints_red``): the bytes that print the black and red planes together."""
        raise ValueError(f"the {self.name} driver prints one colour")

    def encode_raw(self, data: bytes) -> bytes:
        """MAY: pass-through bytes in this printer's own language (raw ZPL). Default: refuse."""
        raise ValueError(f"the {self.name} driver cannot print raw files")

    def encode_page(self, placed: bytes, copies: int = 1) -> bytes | None:
        """MAY (with ``uses_page_pdf``): the bytes that print ``placed``, a one-page PDF the size of
        the medium (:func:`labeld.render.place.placed_page_pdf`), ``copies`` times."""
        return None

    def status(self, device: D) -> PrinterStatus:
        """MAY: ask the printer how it is. Default: unknown (write-only)."""
        return PrinterStatus.unknown()

    def confirm(self, device: D, timeout: float, labels: int | None = None) -> bool:
        """MAY: after the bytes went out, wait up to ``timeout`` for the printer to say the
        label came out (``labels`` of them; None where unknown, as for raw ZPL). True only
        where the printer said so. Default: False."""
        return False

    def ask(self, device: D) -> PrinterStatus:
        """MAY (pipelining): :meth:`status` for labels in flight, raising :class:`DeviceError` where the
        connection failed instead of saying so in the status (what was in flight is then in doubt).
        Default: :meth:`status`."""
        return self.status(device)

    def queued(self, status: PrinterStatus) -> int | None:
        """MAY (pipelining): how many labels the printer still holds, the one on the head included,
        by ``status``; None where it cannot tell. A driver that can tell lets the engine send the
        next label while the last one prints (one label queued in the printer, never more).
        Default: None."""
        return None

    def probe(self) -> PrinterStatus:
        """MAY: how the printer is while nothing prints (the engine asks now and then). Default:
        connect, ask :meth:`status`, close; :class:`labeld.errors.DeviceError` when it cannot be
        reached."""
        return self.connected(self.status)

    def connected(self, ask: Callable[[D], PrinterStatus]) -> PrinterStatus:
        """Open a connection of this printer's own, ``ask`` it, close it."""
        device = self.connect()
        device.open()
        try:
            return ask(device)
        finally:
            device.close()

    def media_mismatch(self, status: PrinterStatus) -> Reason | None:
        """MAY: why the loaded media cannot take this printer's labels, or None when it can (or
        the printer did not say)."""
        return None

    def self_check(self) -> str | None:
        """MAY: None when the driver can work here, else what to install or fix."""
        return None

    @property
    def media(self) -> Media:
        return self.geometry.media


def drain_input(device: Device, size: int) -> None:
    """Drop answers left from an earlier question, so they are not read as the next one's."""
    for _ in range(64):
        if not device.read(size, 0.0):
            return


DriverFactory = Callable[["PrinterConfig"], Driver[Any]]
_DRIVERS: dict[str, DriverFactory] = {}


def register_driver(name: str, factory: DriverFactory) -> None:
    _DRIVERS[name] = factory


def known_drivers() -> list[str]:
    _load_builtin()
    return sorted(_DRIVERS)


def make_driver(printer: PrinterConfig) -> Driver[Any]:
    _load_builtin()
    try:
        factory = _DRIVERS[printer.driver]
    except KeyError:
        raise ValueError(
            f"printer {printer.name!r}: unknown driver {printer.driver!r}; use one of {', '.join(sorted(_DRIVERS))}"
        ) from None
    return factory(printer)


def _load_builtin() -> None:
    import importlib

    for module in ("preview", "brother_ql", "zpl", "cups"):
        try:
            importlib.import_module(f"labeld.drivers.{module}")
        except ModuleNotFoundError as error:
            if error.name != f"labeld.drivers.{module}":
                raise
