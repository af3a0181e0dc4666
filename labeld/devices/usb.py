"""``usb://0xVVVV:0xPPPP[/SERIAL]``: a USB printer through pyusb's bulk endpoints.

Printer-language-agnostic (Brother 0x04f9, Zebra 0x0a5f alike). The usblp kernel driver is
detached where it holds the interface ("resource busy" otherwise). ``LABELD_USB_BACKEND=
"module:callable"`` swaps the pyusb backend (the tests' virtual printer:
``labeld.testing.virtual_usb:backend_from_env``).
"""

from __future__ import annotations

import errno
import importlib
import os
from typing import Any
from urllib.parse import SplitResult, unquote

from labeld.devices.base import register_scheme
from labeld.errors import DeviceError

BACKEND_ENV = "LABELD_USB_BACKEND"
CHUNK = 16 * 1024
USB_CLASS_PRINTER = 7


class UsbDevice:
    bidirectional = True

    def __init__(self, vendor: int, product: int, serial: str | None, uri: str, timeout: float = 10.0) -> None:
        self.vendor = vendor
        self.product = product
        self.serial = serial
        self.uri = uri
        self.timeout = timeout
        self._device: Any = None
        self._interface: int | None = None
        self._out: Any = None
        self._in: Any = None
        self._pending = b""

    def open(self) -> None:
        if self._device is not None:
            return
        import usb.core

        try:
            device = self._find()
            self._claim(device)
        except usb.core.USBError as error:
            self.close()
            raise DeviceError(f"{self.uri}: {_explain(error)}") from error

    def write(self, data: bytes, name: str | None = None) -> None:
        import usb.core

        self.open()
        sent = 0
        try:
            while sent < len(data):
                sent += int(self._out.write(data[sent : sent + CHUNK], timeout=_ms(self.timeout)))
        except usb.core.USBError as error:
            self.close()
            raise DeviceError(f"{self.uri}: write failed after {sent} of {len(data)} bytes: {_explain(error)}",
                              bytes_sent=sent) from error

    def read(self, size: int, timeout: float) -> bytes:
        import usb.core

        self.open()
        if not self._pending:
            packet = max(size, int(self._in.wMaxPacketSize))
            try:
                self._pending = bytes(self._in.read(packet, timeout=_ms(timeout)))
            except usb.core.USBTimeoutError:
                return b""
            except usb.core.USBError as error:
                self.close()
                raise DeviceError(f"{self.uri}: read failed: {_explain(error)}") from error
        out, self._pending = self._pending[:size], self._pending[size:]
        return out

    def finish(self, timeout: float) -> None:
        """This connection cannot tell when the printer took the label: nothing to wait for."""
        self.close()

    def close(self) -> None:
        device, self._device = self._device, None
        if device is None:
            return
        import usb.core
        import usb.util

        try:
            if self._interface is not None:
                usb.util.release_interface(device, self._interface)
        except usb.core.USBError:
            pass  # the device may be gone: releasing it is moot then
        usb.util.dispose_resources(device)
        self._pending = b""

    def _find(self) -> Any:
        import usb.core

        def wanted(device: Any) -> bool:
            return self.serial is None or _serial(device) == self.serial

        device = usb.core.find(idVendor=self.vendor, idProduct=self.product, custom_match=wanted,
                               backend=_backend())
        if device is None:
            which = f"{self.vendor:#06x}:{self.product:#06x}" + (f" serial {self.serial}" if self.serial else "")
            raise DeviceError(f"{self.uri}: no USB printer {which} is connected (or it is switched off)")
        return device

    def _claim(self, device: Any) -> None:
        import usb.core
        import usb.util

        try:
            config = device.get_active_configuration()
        except usb.core.USBError:
            device.set_configuration()
            config = device.get_active_configuration()
        interface = usb.util.find_descriptor(config, bInterfaceClass=USB_CLASS_PRINTER) or config[(0, 0)]
        number = int(interface.bInterfaceNumber)
        _detach_kernel_driver(device, number)
        usb.util.claim_interface(device, number)
        self._out = _endpoint(interface, usb.util.ENDPOINT_OUT)
        self._in = _endpoint(interface, usb.util.ENDPOINT_IN)
        if self._out is None or self._in is None:
            raise DeviceError(f"{self.uri}: the printer's USB interface has no bulk IN and OUT endpoints")
        self._device, self._interface = device, number


def _endpoint(interface: Any, direction: int) -> Any:
    import usb.util

    return usb.util.find_descriptor(
        interface,
        custom_match=lambda ep: usb.util.endpoint_direction(ep.bEndpointAddress) == direction
        and usb.util.endpoint_type(ep.bmAttributes) == usb.util.ENDPOINT_TYPE_BULK,
    )


def _detach_kernel_driver(device: Any, interface: int) -> None:
    """usblp claims printers at plug-in; pyusb cannot do I/O until it lets go."""
    try:
        if device.is_kernel_driver_active(interface):
            device.detach_kernel_driver(interface)
    except NotImplementedError:
        pass  # backends without kernel drivers (Windows, virtual) have nothing to detach


def _serial(device: Any) -> str | None:
    try:
        return str(device.serial_number) if device.iSerialNumber else None
    except (ValueError, OSError):
        return None


def _backend() -> Any:
    spec = os.environ.get(BACKEND_ENV)
    if not spec:
        return None
    module, _, name = spec.partition(":")
    if not name:
        raise DeviceError(f"{BACKEND_ENV}={spec!r}: write it as module:callable")
    return getattr(importlib.import_module(module), name)()


def _ms(seconds: float) -> int:
    """pyusb takes milliseconds and reads 0 as "wait forever"."""
    return max(1, round(seconds * 1000))


def _explain(error: Exception) -> str:
    code = getattr(error, "errno", None)
    if code == errno.EACCES:
        return "access denied: add a udev rule giving the labeld user the printer (see the docs)"
    if code == errno.EBUSY:
        return "resource busy: another program or kernel driver holds the printer"
    if code in (errno.ENODEV, errno.ENOENT):
        return "the printer was unplugged or switched off"
    if code == errno.ETIMEDOUT:
        return "the printer did not take the data in time"
    return str(error)


def _from_uri(parsed: SplitResult, uri: str) -> UsbDevice:
    try:
        vendor_text, _, product_text = parsed.netloc.partition(":")
        vendor, product = int(vendor_text, 16), int(product_text, 16)
    except ValueError:
        raise DeviceError(f"{uri!r}: write usb://0xVENDOR:0xPRODUCT[/SERIAL], e.g. usb://0x04f9:0x209d") from None
    serial = unquote(parsed.path.strip("/")) or None
    return UsbDevice(vendor, product, serial, uri)


register_scheme("usb", _from_uri)
