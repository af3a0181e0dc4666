"""A virtual USB printer for pyusb: a real ``usb.backend.IBackend`` that forwards to an emulator.

pyusb code runs unchanged against it: ``usb.core.find(idVendor=..., backend=backend)``,
descriptors (device with bus/address/port/speed, configuration, interface, endpoints, string
descriptors for the serial number), kernel-driver detach, claim, bulk OUT/IN. The printer
starts with the usblp kernel driver "attached", and bulk transfers fail with EBUSY until it is
detached, as on a real Linux box.

In-process: ``VirtualUsbBackend([VirtualPrinter(link=EmulatorLink(emulator))])``.
Across processes (the daemon is another process): the emulator side runs
``UsbSocketServer(emulator, path)``; the daemon gets ``LABELD_USB_BACKEND=
labeld.testing.virtual_usb:backend_from_env`` and ``LABELD_VIRTUAL_USB=path`` (several paths
joined with ``os.pathsep`` for several printers).
"""

from __future__ import annotations

import array
import contextlib
import errno
import json
import os
import socket
import struct
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import usb.backend
import usb.core

from labeld.testing.emulator_base import Disconnected, Emulator, stop_listener

SOCKET_ENV = "LABELD_VIRTUAL_USB"
EP_OUT = 0x01
EP_IN = 0x81
GET_DESCRIPTOR = 0x06
DESC_STRING = 0x03
LANGID_EN_US = 0x0409
OK, TIMEOUT, GONE = 0, 1, 2


class UsbLink(Protocol):
    """Where a virtual printer's bulk transfers go."""

    def write(self, data: bytes, timeout: float) -> int: ...

    def read(self, size: int, timeout: float) -> bytes: ...


class LinkTimeout(Exception):
    """The printer did not take the data in time (a link may NAK; the emulator's does not)."""


class LinkGone(Exception):
    """The printer went away (unplugged)."""


class EmulatorLink:
    """An in-process link straight into an :class:`Emulator`."""

    def __init__(self, emulator: Emulator) -> None:
        self.emulator = emulator

    def write(self, data: bytes, timeout: float) -> int:
        try:
            self.emulator.feed(data)
        except Disconnected:
            raise LinkGone() from None
        return len(data)

    def read(self, size: int, timeout: float) -> bytes:
        return self.emulator.take_replies(size, timeout)


@dataclass
class VirtualPrinter:
    """One device on the virtual bus. Defaults are a QL-820NWB."""

    link: UsbLink
    vendor: int = 0x04F9
    product: int = 0x209D
    serial: str | None = "000G0Z123456"
    manufacturer: str = "Brother"
    product_name: str = "QL-820NWB"
    bus: int = 1
    address: int = 5
    port_number: int = 2
    kernel_driver_attached: bool = True
    configuration: int = 0
    detach_count: int = 0
    claimed: set[int] = field(default_factory=set)

    @property
    def strings(self) -> dict[int, str]:
        return {1: self.manufacturer, 2: self.product_name, **({3: self.serial} if self.serial else {})}


class _Descriptor:
    def __init__(self, **fields: Any) -> None:
        self.__dict__.update(fields)


def _device_descriptor(p: VirtualPrinter) -> _Descriptor:
    return _Descriptor(
        bLength=18, bDescriptorType=1, bcdUSB=0x0200, bDeviceClass=0, bDeviceSubClass=0, bDeviceProtocol=0,
        bMaxPacketSize0=64, idVendor=p.vendor, idProduct=p.product, bcdDevice=0x0100, iManufacturer=1,
        iProduct=2, iSerialNumber=3 if p.serial else 0, bNumConfigurations=1, address=p.address, bus=p.bus,
        port_number=p.port_number, port_numbers=(p.port_number,), speed=usb.util.SPEED_HIGH,
    )


def _configuration_descriptor() -> _Descriptor:
    return _Descriptor(bLength=9, bDescriptorType=2, wTotalLength=32, bNumInterfaces=1, bConfigurationValue=1,
                       iConfiguration=0, bmAttributes=0xC0, bMaxPower=1, extra_descriptors=[])


def _interface_descriptor() -> _Descriptor:
    return _Descriptor(bLength=9, bDescriptorType=4, bInterfaceNumber=0, bAlternateSetting=0, bNumEndpoints=2,
                       bInterfaceClass=7, bInterfaceSubClass=1, bInterfaceProtocol=2, iInterface=0,
                       extra_descriptors=[])


def _endpoint_descriptor(address: int) -> _Descriptor:
    return _Descriptor(bLength=7, bDescriptorType=5, bEndpointAddress=address, bmAttributes=0x02,
                       wMaxPacketSize=512, bInterval=0, bRefresh=0, bSynchAddress=0, extra_descriptors=[])


class VirtualUsbBackend(usb.backend.IBackend):  # type: ignore[misc]  # pyusb ships no types
    """A pyusb backend whose bus holds the given virtual printers."""

    def __init__(self, printers: list[VirtualPrinter]) -> None:
        self.printers = printers

    def enumerate_devices(self) -> Iterator[VirtualPrinter]:
        return iter(self.printers)

    def get_device_descriptor(self, dev: VirtualPrinter) -> _Descriptor:
        return _device_descriptor(dev)

    def get_configuration_descriptor(self, dev: VirtualPrinter, config: int) -> _Descriptor:
        if config >= 1:
            raise IndexError("invalid configuration index " + str(config))
        return _configuration_descriptor()

    def get_interface_descriptor(self, dev: VirtualPrinter, intf: int, alt: int, config: int) -> _Descriptor:
        if config >= 1 or intf >= 1 or alt >= 1:
            raise IndexError(f"invalid interface {intf}, alternate setting {alt}")
        return _interface_descriptor()

    def get_endpoint_descriptor(self, dev: VirtualPrinter, ep: int, intf: int, alt: int, config: int) -> _Descriptor:
        if ep >= 2 or intf >= 1 or alt >= 1 or config >= 1:
            raise IndexError(f"invalid endpoint index {ep}")
        return _endpoint_descriptor((EP_OUT, EP_IN)[ep])

    def open_device(self, dev: VirtualPrinter) -> VirtualPrinter:
        return dev

    def close_device(self, dev_handle: VirtualPrinter) -> None:
        dev_handle.claimed.clear()

    def set_configuration(self, dev_handle: VirtualPrinter, config_value: int) -> None:
        dev_handle.configuration = config_value

    def get_configuration(self, dev_handle: VirtualPrinter) -> int:
        return dev_handle.configuration

    def set_interface_altsetting(self, dev_handle: VirtualPrinter, intf: int, altsetting: int) -> None:
        if altsetting != 0:
            raise usb.core.USBError("no such alternate setting", errno=errno.EINVAL)

    def claim_interface(self, dev_handle: VirtualPrinter, intf: int) -> None:
        if dev_handle.kernel_driver_attached:
            raise usb.core.USBError("Resource busy", error_code=-6, errno=errno.EBUSY)
        dev_handle.claimed.add(intf)

    def release_interface(self, dev_handle: VirtualPrinter, intf: int) -> None:
        dev_handle.claimed.discard(intf)

    def is_kernel_driver_active(self, dev_handle: VirtualPrinter, intf: int) -> bool:
        return dev_handle.kernel_driver_attached

    def detach_kernel_driver(self, dev_handle: VirtualPrinter, intf: int) -> None:
        dev_handle.kernel_driver_attached = False
        dev_handle.detach_count += 1

    def attach_kernel_driver(self, dev_handle: VirtualPrinter, intf: int) -> None:
        dev_handle.kernel_driver_attached = True

    def bulk_write(self, dev_handle: VirtualPrinter, ep: int, intf: int, data: array.array[int], timeout: int) -> int:
        self._check(dev_handle, intf, ep, EP_OUT)
        try:
            return dev_handle.link.write(bytes(data), timeout / 1000)
        except LinkTimeout:
            raise usb.core.USBTimeoutError("Operation timed out", error_code=-7, errno=errno.ETIMEDOUT) from None
        except LinkGone:
            raise usb.core.USBError("No such device (it may have been disconnected)", error_code=-4,
                                    errno=errno.ENODEV) from None

    def bulk_read(self, dev_handle: VirtualPrinter, ep: int, intf: int, buff: array.array[int], timeout: int) -> int:
        self._check(dev_handle, intf, ep, EP_IN)
        data = dev_handle.link.read(len(buff), timeout / 1000)
        if not data:
            raise usb.core.USBTimeoutError("Operation timed out", error_code=-7, errno=errno.ETIMEDOUT)
        buff[: len(data)] = array.array("B", data)
        return len(data)

    def ctrl_transfer(self, dev_handle: VirtualPrinter, bmRequestType: int, bRequest: int, wValue: int,
                      wIndex: int, data: array.array[int], timeout: int) -> int:
        if bRequest != GET_DESCRIPTOR or wValue >> 8 != DESC_STRING:
            raise usb.core.USBError("Pipe error", error_code=-9, errno=errno.EPIPE)
        index = wValue & 0xFF
        if index == 0:
            payload = struct.pack("<H", LANGID_EN_US)
        elif index in dev_handle.strings:
            payload = dev_handle.strings[index].encode("utf-16-le")
        else:
            raise usb.core.USBError("Pipe error", error_code=-9, errno=errno.EPIPE)
        descriptor = (bytes((len(payload) + 2, DESC_STRING)) + payload)[: len(data)]
        data[: len(descriptor)] = array.array("B", descriptor)
        return len(descriptor)

    def _check(self, handle: VirtualPrinter, intf: int, ep: int, expected: int) -> None:
        if handle.kernel_driver_attached or intf not in handle.claimed:
            raise usb.core.USBError("Resource busy", error_code=-6, errno=errno.EBUSY)
        if ep != expected:
            raise usb.core.USBError("Pipe error", error_code=-9, errno=errno.EPIPE)


# --- across processes: a Unix socket between the emulator and the daemon's backend -----------

_REQUEST = struct.Struct("<cIII")  # op, size, timeout ms, payload length
_REPLY = struct.Struct("<BI")  # status, payload length


class UsbSocketServer:
    """Serves an emulator's USB side on a Unix socket for :func:`backend_from_env`."""

    def __init__(self, emulator: Emulator, path: Path, *, vendor: int = 0x04F9, product: int = 0x209D,
                 serial: str | None = "000G0Z123456", product_name: str = "QL-820NWB",
                 manufacturer: str = "Brother") -> None:
        self.link = EmulatorLink(emulator)
        self.path = Path(path)
        self.identity = {"vendor": vendor, "product": product, "serial": serial,
                         "product_name": product_name, "manufacturer": manufacturer}
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()
        self._listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._listener.bind(str(self.path))
        self._listener.listen(8)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="virtual-usb", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        stop_listener(self._listener, self._stop, self._thread)
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return
            threading.Thread(target=self._handle, args=(conn,), daemon=True).start()

    def _handle(self, conn: socket.socket) -> None:
        with conn:
            while True:
                try:
                    op, size, timeout_ms, length = _REQUEST.unpack(_recv_exact(conn, _REQUEST.size))
                    payload = _recv_exact(conn, length)
                except (OSError, EOFError):
                    return
                status, answer = self._answer(op, size, timeout_ms / 1000, payload)
                conn.sendall(_REPLY.pack(status, len(answer)) + answer)

    def _answer(self, op: bytes, size: int, timeout: float, payload: bytes) -> tuple[int, bytes]:
        if op == b"I":
            return OK, json.dumps(self.identity).encode()
        if op == b"R":
            return OK, self.link.read(size, timeout)
        try:
            return OK, struct.pack("<I", self.link.write(payload, timeout))
        except LinkTimeout:
            return TIMEOUT, b""
        except LinkGone:
            return GONE, b""


class SocketLink:
    """The daemon side of :class:`UsbSocketServer`."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._sock: socket.socket | None = None

    def identity(self) -> dict[str, Any]:
        payload = self._call(b"I", 0, 0.0, b"")[1]
        result: dict[str, Any] = json.loads(payload)
        return result

    def write(self, data: bytes, timeout: float) -> int:
        status, payload = self._call(b"W", 0, timeout, data)
        if status == TIMEOUT:
            raise LinkTimeout()
        if status == GONE:
            raise LinkGone()
        count: int = struct.unpack("<I", payload)[0]
        return count

    def read(self, size: int, timeout: float) -> bytes:
        return self._call(b"R", size, timeout, b"")[1]

    def _call(self, op: bytes, size: int, timeout: float, payload: bytes) -> tuple[int, bytes]:
        with self._lock:
            try:
                sock = self._connect()
                sock.sendall(_REQUEST.pack(op, size, round(timeout * 1000), len(payload)) + payload)
                status, length = _REPLY.unpack(_recv_exact(sock, _REPLY.size))
                return status, _recv_exact(sock, length)
            except (OSError, EOFError):
                self._drop()
                raise LinkGone() from None

    def _connect(self) -> socket.socket:
        if self._sock is None:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.connect(self.path)
            self._sock = sock
        return self._sock

    def _drop(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None


def _recv_exact(sock: socket.socket, size: int) -> bytes:
    chunks = bytearray()
    while len(chunks) < size:
        chunk = sock.recv(size - len(chunks))
        if not chunk:
            raise EOFError("virtual USB peer closed the socket")
        chunks += chunk
    return bytes(chunks)


def backend_from_env() -> VirtualUsbBackend:
    """The backend ``LABELD_USB_BACKEND`` names: one virtual printer per socket in
    ``LABELD_VIRTUAL_USB``. A socket nobody serves is a printer that is not plugged in."""
    printers: list[VirtualPrinter] = []
    for path in filter(None, os.environ.get(SOCKET_ENV, "").split(os.pathsep)):
        link = SocketLink(path)
        try:
            identity = link.identity()
        except LinkGone:
            continue
        printers.append(VirtualPrinter(
            link=link, vendor=identity["vendor"], product=identity["product"], serial=identity["serial"],
            product_name=identity["product_name"], manufacturer=identity["manufacturer"],
            address=5 + len(printers),
        ))
    return VirtualUsbBackend(printers)
