"""Devices: where printer bytes meet a cable or a socket.

A device is chosen by the scheme of a printer's ``uri`` (``tcp://``, ``usb://``, ``file://``,
``dir://``, ``cups://``). Devices know nothing about printer languages: a driver encodes a
label and the engine hands the bytes to the device.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol, runtime_checkable
from urllib.parse import SplitResult, urlsplit

from labeld.errors import ConfigError


@runtime_checkable
class Device(Protocol):
    """A connection to one printer.

    ``open`` and ``write`` raise :class:`labeld.errors.DeviceError` when the printer cannot be
    reached; ``write`` sets ``bytes_sent`` on the error so that the engine can tell a label that
    never started from one that was cut off half-way.
    """

    uri: str
    #: True where the printer can answer (USB, usblp, ZPL over TCP); False for a write-only path.
    bidirectional: bool

    def open(self) -> None: ...

    def write(self, data: bytes, name: str | None = None) -> None:
        """Send one label's complete bytes. ``name`` is a file name hint for file-like devices."""
        ...

    def read(self, size: int, timeout: float) -> bytes:
        """Up to ``size`` bytes the printer sent, ``b""`` when nothing came within ``timeout``."""
        ...

    def finish(self, timeout: float) -> None:
        """End a label on a connection that cannot report status: wait (up to ``timeout``) until the
        printer has taken everything written, then close. :class:`labeld.errors.DeviceError`
        when it may not have taken it whole. Devices that cannot tell simply close."""
        ...

    def close(self) -> None: ...


DeviceFactory = Callable[[SplitResult, str], Device]
_FACTORIES: dict[str, DeviceFactory] = {}


def register_scheme(scheme: str, factory: DeviceFactory) -> None:
    """Make ``scheme://`` URIs open with ``factory(parsed_uri, raw_uri)``."""
    _FACTORIES[scheme] = factory


def known_schemes() -> list[str]:
    _load_builtin()
    return sorted(_FACTORIES)


def open_device(uri: str) -> Device:
    """The (not yet opened) device for ``uri``."""
    _load_builtin()
    parsed = urlsplit(uri)
    factory = _FACTORIES.get(parsed.scheme)
    if factory is None:
        raise ConfigError([
            f"printer uri {uri!r}: unknown scheme {parsed.scheme!r}; "
            f"use one of {', '.join(s + '://' for s in sorted(_FACTORIES))}"
        ])
    return factory(parsed, uri)


def _load_builtin() -> None:
    # Importing the modules registers their schemes; optional ones may be missing.
    import importlib

    for module in ("tcp", "directory", "usb", "usblp", "cups"):
        try:
            importlib.import_module(f"labeld.devices.{module}")
        except ModuleNotFoundError as error:
            if error.name != f"labeld.devices.{module}":
                raise
