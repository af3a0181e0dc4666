"""Emulated printers plugged in the ways real ones are, for a daemon in another process.

``EmulatorBench`` puts emulators behind raw TCP, a pty standing in for ``/dev/usb/lp0``
(``file://``) or virtual USB (real pyusb in the daemon, chosen by ``LABELD_USB_BACKEND``), and
gives the URI for each and the environment the daemon needs to reach them.
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from labeld.testing.emulator_base import Emulator, PtyServer, TcpServer
from labeld.testing.snmp_agent import SnmpAgent, V3User
from labeld.testing.virtual_usb import UsbSocketServer


@dataclass(frozen=True)
class UsbIdentity:
    """What the virtual USB device says it is."""

    vendor: int
    product: int
    product_name: str = ""
    manufacturer: str = ""

    @property
    def uri_id(self) -> str:
        return f"0x{self.vendor:04x}:0x{self.product:04x}"


BROTHER_QL_820NWB = UsbIdentity(0x04F9, 0x209D, "QL-820NWB", "Brother")
ZEBRA_ZD420 = UsbIdentity(0x0A5F, 0x0120, "ZTC ZD420-203dpi ZPL", "Zebra Technologies")


class EmulatorBench:
    def __init__(self, tmp_path: Path) -> None:
        self.tmp_path = tmp_path
        # Unix socket paths are limited to 108 bytes; pytest's tmp_path can be longer.
        self.socket_dir = Path(tempfile.mkdtemp(prefix="labeld-bench-"))
        self.servers: list[TcpServer | PtyServer | UsbSocketServer | SnmpAgent] = []
        self.emulators: list[Emulator] = []
        self.usb_sockets: list[str] = []

    def attach(self, emulator: Emulator, transport: str, name: str, usb: UsbIdentity | None = None) -> str:
        """Serve ``emulator`` on ``transport`` ("tcp", "file" or "usb"); labeld's URI for it."""
        self.emulators.append(emulator)
        if transport == "tcp":
            tcp = TcpServer(emulator)
            self.servers.append(tcp)
            return tcp.uri
        if transport == "file":
            pty = PtyServer(emulator, self.tmp_path / f"lp-{name}")
            self.servers.append(pty)
            return pty.uri
        if transport != "usb" or usb is None:
            raise ValueError(f"unknown transport {transport!r} (or a USB one without a UsbIdentity)")
        path = self.socket_dir / f"{name}.sock"
        self.servers.append(UsbSocketServer(emulator, path, vendor=usb.vendor, product=usb.product, serial=name,
                                            product_name=usb.product_name, manufacturer=usb.manufacturer))
        self.usb_sockets.append(str(path))
        return f"usb://{usb.uri_id}/{name}"

    def attach_snmp(self, emulator: Emulator, port: int = 0, *, community: str = "public",
                    users: tuple[V3User, ...] = (), counter_start: int = 1000) -> SnmpAgent:
        """Give ``emulator`` a network card: an SNMP agent on UDP loopback (stopped with the bench)."""
        agent = SnmpAgent(emulator, port=port, community=community, users=users, counter_start=counter_start)
        self.servers.append(agent)
        return agent

    @property
    def env(self) -> dict[str, str]:
        """Environment for the daemon, so that its pyusb finds the virtual devices."""
        if not self.usb_sockets:
            return {}
        return {"LABELD_USB_BACKEND": "labeld.testing.virtual_usb:backend_from_env",
                "LABELD_VIRTUAL_USB": ":".join(self.usb_sockets)}

    def close(self) -> None:
        for server in self.servers:
            server.stop()
        for emulator in self.emulators:
            emulator.close()
        shutil.rmtree(self.socket_dir, ignore_errors=True)
