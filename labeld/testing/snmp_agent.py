"""An emulated printer's network card: an SNMP agent (pysnmp) on UDP loopback.

It answers GET, GETNEXT and GETBULK, SNMPv2c with one community and SNMPv3 (USM) users, with
the Host Resources and Printer MIB values of the emulator's state at the moment of the request:

- ``hrDeviceStatus`` running(2), down(5) in a fault; ``hrPrinterStatus`` idle(3), printing(4) while
  a label comes out (the ``slow`` fault makes that longer), other(1) in a fault;
- ``hrPrinterDetectedErrorState``: noPaper / doorOpen / jammed / offline for the faults
  paper-out / cover-open / jam / offline, encoded by :func:`labeld.drivers.printer_mib.encode_error_state`;
- ``prtAlertTable``: one critical alert for the current fault (input media empty, cover open, jam,
  offline), with a description;
- ``prtMarkerLifeCount`` (impressions): ``counter_start`` plus every label the emulator decoded
  and printed; ``prtGeneralSerialNumber``; the loaded media's size in the input table;
- for a Brother QL, Brother's status object: the 32-byte reply a QL gives to ``ESC i S``.

A wrong community gets no answer (as from a real agent); a wrong v3 key gets USM's report.
:meth:`SnmpAgent.stop` silences it while the printer goes on printing over TCP.
"""

from __future__ import annotations

import asyncio
import bisect
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from pysnmp.carrier.asyncio.dgram import udp
from pysnmp.entity import config, engine
from pysnmp.entity.rfc3413 import cmdrsp, context
from pysnmp.proto.api import v2c
from pysnmp.smi import instrum

from labeld.devices.snmp import Oid
from labeld.drivers import printer_mib as mib
from labeld.testing.emulator_base import Emulator

#: fault → (error-state condition, prtAlertGroup, prtAlertCode, description)
FAULTS = {
    "paper-out": ("noPaper", 8, 808, "Media empty"),      # input(8), inputMediaSupplyEmpty(808)
    "cover-open": ("doorOpen", 6, 3, "Cover open"),         # cover(6), coverOpen(3)
    "jam": ("jammed", 13, 8, "Media jam"),                  # mediaPath(13), jam(8)
    "offline": ("offline", 5, 22, "Printer offline"),       # generalPrinter(5), subunitOffline(22)
}
CRITICAL = 3  # PrtAlertSeverityLevelTC critical(3)
UNTRAINED = 3  # PrtAlertTrainingLevelTC untrained(3)


@dataclass(frozen=True)
class V3User:
    """An SNMPv3 user the agent knows: SHA authentication, AES privacy (empty keys: less security)."""

    name: str
    auth_key: str = ""
    priv_key: str = ""


class SnmpAgent:
    """The agent for one emulator; ``port=0`` picks a free UDP port (read :attr:`port`)."""

    def __init__(self, emulator: Emulator, host: str = "127.0.0.1", port: int = 0, *, community: str = "public",
                 users: Sequence[V3User] = (), serial: str = "E78123456", counter_start: int = 1000,
                 description: str = "") -> None:
        self.emulator = emulator
        self.host = host
        self.community = community
        self.users = tuple(users)
        self.serial = serial
        self.counter_start = counter_start
        self.description = description or f"{emulator.core.language} emulator"
        self.requests = 0
        self._started = time.monotonic()
        self._alerts: dict[str, int] = {}
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._serve, args=(port,), name=f"{emulator.name}-snmp", daemon=True)
        self._thread.start()
        self._ready.wait(10)
        if self._error is not None:
            raise RuntimeError(f"SNMP agent did not start: {self._error}") from self._error
        emulator.event("snmp-started", address=self.address)

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    def stop(self) -> None:
        """Silence the agent (the printer itself goes on)."""
        if self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(5)
            self.emulator.event("snmp-stopped", address=self.address)

    # ----- the MIB ----------------------------------------------------------------------------

    def values(self) -> dict[Oid, Any]:
        """Every object the agent has, as pysnmp values, for the emulator's state now."""
        fault, printed, printing = self.emulator.snapshot()
        condition = FAULTS.get(fault or "")
        ticks = int((time.monotonic() - self._started) * 100)
        values: dict[Oid, Any] = {
            mib.SYS_DESCR: v2c.OctetString(self.description),
            mib.HR_DEVICE_TYPE: v2c.ObjectIdentifier(mib.HR_DEVICE_PRINTER),
            mib.HR_DEVICE_DESCR: v2c.OctetString(self.description),
            mib.HR_DEVICE_STATUS: v2c.Integer(mib.HrDeviceStatus.DOWN if condition else mib.HrDeviceStatus.RUNNING),
            mib.HR_PRINTER_STATUS: v2c.Integer(
                mib.HrPrinterStatus.OTHER if condition else
                mib.HrPrinterStatus.PRINTING if printing else mib.HrPrinterStatus.IDLE),
            mib.HR_PRINTER_ERROR_STATE: v2c.OctetString(mib.encode_error_state([condition[0]] if condition else [])),
            mib.PRT_SERIAL: v2c.OctetString(self.serial),
            mib.PRT_MARKER_COUNTER_UNIT: v2c.Integer(mib.CounterUnit.IMPRESSIONS),
            mib.PRT_MARKER_LIFE_COUNT: v2c.Counter32(self.counter_start + printed),
            mib.PRT_MARKER_POWER_ON_COUNT: v2c.Counter32(printed),
            mib.PRT_INPUT_DIM_UNIT: v2c.Integer(mib.MediaUnit.MICROMETERS),
            mib.PRT_INPUT_MAX_CAPACITY: v2c.Integer(-2),
            mib.PRT_INPUT_CURRENT_LEVEL: v2c.Integer(0 if fault == "paper-out" else -3),
        }
        media = self.emulator.core.loaded_media()
        width, length = media if media is not None else (None, None)
        for oids, mm in (((mib.PRT_INPUT_XFEED_DECLARED, mib.PRT_INPUT_XFEED_CHOSEN), width),
                         ((mib.PRT_INPUT_FEED_DECLARED, mib.PRT_INPUT_FEED_CHOSEN), length)):
            for oid in oids:
                values[oid] = v2c.Integer(round(mm * 1000) if mm else -2)
        if media is not None:
            kind = f"{width:g}×{length:g} mm" if length else f"{width:g} mm continuous"
            values[mib.PRT_INPUT_MEDIA_NAME] = v2c.OctetString(kind)
        if condition is not None:
            index = self._alerts.setdefault(fault or "", len(self._alerts) + 1)
            _, group, code, description = condition
            row = (mib.DEVICE, index)
            for column, value in ((2, v2c.Integer(CRITICAL)), (3, v2c.Integer(UNTRAINED)), (4, v2c.Integer(group)),
                                  (5, v2c.Integer(1)), (6, v2c.Integer(-2)), (7, v2c.Integer(code)),
                                  (8, v2c.OctetString(description)), (9, v2c.TimeTicks(ticks))):
                values[(*mib.PRT_ALERT_ENTRY, column, *row)] = value
        vendor = self.emulator.core.snmp_status()
        if vendor is not None:
            values[mib.BROTHER_STATUS] = v2c.OctetString(vendor)
        return values

    # ----- pysnmp -----------------------------------------------------------------------------

    def _serve(self, port: int) -> None:
        asyncio.set_event_loop(self._loop)
        try:
            self._engine = engine.SnmpEngine()
            transport = udp.UdpTransport(loop=self._loop).open_server_mode((self.host, port))
            config.add_transport(self._engine, udp.DOMAIN_NAME, transport)
            config.add_v1_system(self._engine, "labeld-area", self.community)
            config.add_vacm_user(self._engine, 2, "labeld-area", "noAuthNoPriv", (1, 3, 6), (1, 3, 6))
            for user in self.users:
                auth = config.USM_AUTH_HMAC96_SHA if user.auth_key else config.USM_AUTH_NONE
                priv = config.USM_PRIV_CFB128_AES if user.priv_key else config.USM_PRIV_NONE
                config.add_v3_user(self._engine, user.name, auth, user.auth_key or None, priv, user.priv_key or None)
                level = "authPriv" if user.priv_key else "authNoPriv" if user.auth_key else "noAuthNoPriv"
                config.add_vacm_user(self._engine, 3, user.name, level, (1, 3, 6), (1, 3, 6))
            snmp_context = context.SnmpContext(self._engine)
            snmp_context.unregister_context_name(b"")
            snmp_context.register_context_name(b"", _Instrumentation(self))
            for responder in (cmdrsp.GetCommandResponder, cmdrsp.NextCommandResponder, cmdrsp.BulkCommandResponder):
                responder(self._engine, snmp_context)
            self.port = self._loop.run_until_complete(_bound_port(transport))
        except BaseException as error:  # reported to the constructor's thread
            self._error = error
            self._ready.set()
            return
        self._ready.set()
        try:
            self._loop.run_forever()
        finally:
            transport.close_transport()
            pending = asyncio.all_tasks(self._loop)
            for task in pending:
                task.cancel()
            self._loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
            self._loop.close()


async def _bound_port(transport: Any) -> int:
    await transport._lport  # the endpoint is created asynchronously
    port: int = transport.transport.get_extra_info("sockname")[1]
    return port


class _Instrumentation(instrum.AbstractMibInstrumController):  # type: ignore[misc]
    """GET and GETNEXT over :meth:`SnmpAgent.values` (computed afresh for each request)."""

    def __init__(self, agent: SnmpAgent) -> None:
        self.agent = agent

    def read_variables(self, *var_binds: Any, **context: Any) -> list[tuple[Any, Any]]:
        self.agent.requests += 1
        values = self.agent.values()
        return [(name, values.get(tuple(name), v2c.NoSuchInstance())) for name, _ in var_binds]

    def read_next_variables(self, *var_binds: Any, **context: Any) -> list[tuple[Any, Any]]:
        self.agent.requests += 1
        values = self.agent.values()
        order = sorted(values)
        out = []
        for name, _ in var_binds:
            at = bisect.bisect_right(order, tuple(name))
            if at < len(order):
                out.append((v2c.ObjectIdentifier(order[at]), values[order[at]]))
            else:
                out.append((name, v2c.EndOfMibView()))
        return out
