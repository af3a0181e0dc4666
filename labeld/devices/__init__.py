"""Transports to printers, chosen by URI scheme."""

from labeld.devices.base import Device, known_schemes, open_device, register_scheme

__all__ = ["Device", "known_schemes", "open_device", "register_scheme"]
