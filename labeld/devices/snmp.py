"""SNMP reads from a printer: GET and table walks, v2c or v3, over UDP (pysnmp).

A network printer on ``tcp://`` answers nothing on its print port (a Brother QL), or answers
only on the connection that prints (a Zebra). Its network card also speaks SNMP: this module
fetches values by OID and hands them back as plain Python (``int``, ``bytes``, an OID tuple,
or ``None`` where the agent has no such object). What the values mean is the drivers' business
(:mod:`labeld.drivers.printer_mib`).

pysnmp's engine runs on its own asyncio loop in one thread for the whole process
(:func:`shared_client`); the printer threads block on :meth:`SnmpClient.get`. Secrets (the
community, the v3 keys) are :class:`labeld.credentials.Secret` values: they never appear in a
``repr``, in errors or in logs.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from collections.abc import Coroutine, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from pyasn1.type import univ
from pysnmp.hlapi.v3arch import asyncio as hlapi
from pysnmp.hlapi.v3arch.asyncio import (
    CommunityData,
    ContextData,
    ObjectIdentity,
    ObjectType,
    SnmpEngine,
    UdpTransportTarget,
    UsmUserData,
    get_cmd,
    walk_cmd,
)
from pysnmp.proto import errind, rfc1905

from labeld.credentials import Secret
from labeld.errors import DeviceError

Oid = tuple[int, ...]
Value = int | bytes | Oid | None
T = TypeVar("T")

DEFAULT_PORT = 161
#: Seconds to wait for an answer, and how often to ask again: silence is known within ~2 s.
TIMEOUT = 1.0
RETRIES = 1

AUTH_PROTOCOLS: dict[str, Any] = {
    "md5": hlapi.USM_AUTH_HMAC96_MD5, "sha": hlapi.USM_AUTH_HMAC96_SHA, "sha224": hlapi.USM_AUTH_HMAC128_SHA224,
    "sha256": hlapi.USM_AUTH_HMAC192_SHA256, "sha384": hlapi.USM_AUTH_HMAC256_SHA384,
    "sha512": hlapi.USM_AUTH_HMAC384_SHA512,
}
PRIV_PROTOCOLS: dict[str, Any] = {
    "des": hlapi.USM_PRIV_CBC56_DES, "aes": hlapi.USM_PRIV_CFB128_AES, "aes192": hlapi.USM_PRIV_CFB192_AES,
    "aes256": hlapi.USM_PRIV_CFB256_AES,
}


@dataclass(frozen=True)
class SnmpCredentials:
    """v2c (a community) or, when ``user`` is set, v3 (USM; auth and priv keys optional).

    ``source`` says where the secrets came from (a file name), for messages; the secrets
    themselves are masked (:class:`Secret`) and left out of :meth:`describe`.
    """

    community: Secret = field(default_factory=lambda: Secret("public"))
    user: str = ""
    auth_protocol: str = "sha"
    auth_key: Secret | None = None
    priv_protocol: str = "aes"
    priv_key: Secret | None = None
    source: str = ""

    @property
    def level(self) -> str:
        """The v3 security level: ``noAuthNoPriv``, ``authNoPriv`` or ``authPriv`` ("" for v2c)."""
        if not self.user:
            return ""
        if not self.auth_key:
            return "noAuthNoPriv"
        return "authPriv" if self.priv_key else "authNoPriv"

    def describe(self) -> str:
        """Which credentials, without the secrets: for messages and logs."""
        where = f" from {self.source}" if self.source else ""
        if self.user:
            protocols = [p for p, key in ((self.auth_protocol, self.auth_key), (self.priv_protocol, self.priv_key))
                         if key]
            return f"SNMPv3 user {self.user!r} ({self.level}{', ' if protocols else ''}{'/'.join(protocols)}){where}"
        default = " (the default, 'public')" if not self.source else ""
        return f"SNMPv2c community{where}{default}"

    def auth_data(self) -> CommunityData | UsmUserData:
        if not self.user:
            return CommunityData(self.community.reveal(), mpModel=1)
        return UsmUserData(
            self.user, self.auth_key.reveal() if self.auth_key else None,
            self.priv_key.reveal() if self.priv_key else None,
            authProtocol=AUTH_PROTOCOLS[self.auth_protocol] if self.auth_key else hlapi.USM_AUTH_NONE,
            privProtocol=PRIV_PROTOCOLS[self.priv_protocol] if self.priv_key else hlapi.USM_PRIV_NONE,
        )


@dataclass(frozen=True)
class SnmpTarget:
    host: str
    port: int = DEFAULT_PORT
    credentials: SnmpCredentials = field(default_factory=SnmpCredentials)
    timeout: float = TIMEOUT
    retries: int = RETRIES

    def __str__(self) -> str:
        return f"{self.host}:{self.port}"


class SnmpError(DeviceError):
    """An SNMP request failed. ``silent`` is True when no answer came at all (a printer that is
    off, SNMP switched off, a firewall, or a wrong v2c community, which agents drop without a
    word); False when the agent answered with an error (v3 authentication, access)."""

    def __init__(self, message: str, *, silent: bool) -> None:
        super().__init__(message, reason="offline" if silent else "other")
        self.silent = silent


def parse_target(text: str, default_host: str) -> tuple[str, int]:
    """``"HOST[:PORT]"`` (or ``"[v6]:PORT"``) → (host, port); empty → the printer's own host, 161."""
    text = text.strip()
    if not text:
        return default_host, DEFAULT_PORT
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        port = rest.removeprefix(":")
    elif text.count(":") == 1:
        host, _, port = text.partition(":")
    else:
        host, port = text, ""
    if not host:
        raise ValueError(f"{text!r}: no host; write HOST or HOST:PORT")
    if port and not (port.isdigit() and 0 < int(port) < 65536):
        raise ValueError(f"{text!r}: the port must be a number from 1 to 65535")
    return host, int(port) if port else DEFAULT_PORT


class SnmpClient:
    """One pysnmp engine on one event loop thread; :meth:`get` and :meth:`walk` may be called
    from any thread and block until the answer (or the timeout)."""

    def __init__(self) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="snmp", daemon=True)
        self._thread.start()
        self._engine: SnmpEngine = self._call(self._new_engine(), 30.0)

    async def _new_engine(self) -> SnmpEngine:
        return SnmpEngine()

    def get(self, target: SnmpTarget, oids: Sequence[Oid]) -> dict[Oid, Value]:
        """The values of ``oids``; ``None`` for each the agent does not have."""
        return self._call(self._get(target, oids), self._bound(target))

    def walk(self, target: SnmpTarget, prefix: Oid, limit: int = 256) -> dict[Oid, Value]:
        """Every object under ``prefix`` (a table), at most ``limit`` of them."""
        return self._call(self._walk(target, prefix, limit), self._bound(target) * 4)

    def close(self) -> None:
        if self._loop.is_running():
            self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)

    # ----- in the loop ----------------------------------------------------------------------

    async def _get(self, target: SnmpTarget, oids: Sequence[Oid]) -> dict[Oid, Value]:
        transport = await self._transport(target)
        indication, status, index, binds = await get_cmd(
            self._engine, target.credentials.auth_data(), transport, ContextData(),
            *(ObjectType(ObjectIdentity(oid)) for oid in oids))
        _raise_for(target, indication, status, index)
        return {tuple(name): plain(value) for name, value in binds}

    async def _walk(self, target: SnmpTarget, prefix: Oid, limit: int) -> dict[Oid, Value]:
        transport = await self._transport(target)
        found: dict[Oid, Value] = {}
        async for indication, status, index, binds in walk_cmd(
                self._engine, target.credentials.auth_data(), transport, ContextData(),
                ObjectType(ObjectIdentity(prefix)), lexicographicMode=False, maxRows=limit):
            _raise_for(target, indication, status, index)
            found.update((tuple(name), plain(value)) for name, value in binds)
        return found

    async def _transport(self, target: SnmpTarget) -> UdpTransportTarget:
        try:
            return await UdpTransportTarget.create((target.host, target.port), timeout=target.timeout,
                                                   retries=target.retries)
        except Exception as error:  # pysnmp wraps name resolution failures in its own error types
            raise SnmpError(f"SNMP at {target}: {error}", silent=True) from error

    # ----- helpers --------------------------------------------------------------------------

    def _call(self, coroutine: Coroutine[Any, Any, T], bound: float) -> T:
        future = asyncio.run_coroutine_threadsafe(coroutine, self._loop)
        try:
            return future.result(bound)
        except concurrent.futures.TimeoutError:
            future.cancel()
            raise SnmpError(f"SNMP request did not finish within {bound:g} s", silent=True) from None

    @staticmethod
    def _bound(target: SnmpTarget) -> float:
        return target.timeout * (target.retries + 1) + 5.0


_shared: SnmpClient | None = None
_shared_lock = threading.Lock()


def shared_client() -> SnmpClient:
    """The process's SNMP client, started on first use."""
    global _shared
    with _shared_lock:
        if _shared is None:
            _shared = SnmpClient()
        return _shared


def plain(value: Any) -> Value:
    """A pysnmp value as plain Python; ``None`` for noSuchObject, noSuchInstance, endOfMibView."""
    if isinstance(value, rfc1905.NoSuchObject | rfc1905.NoSuchInstance | rfc1905.EndOfMibView):
        return None
    if isinstance(value, univ.Integer):
        return int(value)
    if isinstance(value, univ.OctetString):
        return bytes(value.asOctets())
    if isinstance(value, univ.ObjectIdentifier):
        return tuple(value)
    return None


def _raise_for(target: SnmpTarget, indication: Any, status: Any, index: Any) -> None:
    who = f"{target} ({target.credentials.describe()})"
    if isinstance(indication, errind.RequestTimedOut):
        hint = "" if target.credentials.user else " (a wrong community gets no answer either)"
        raise SnmpError(f"no SNMP answer from {who} within {target.timeout * (target.retries + 1):g} s{hint}",
                        silent=True)
    if isinstance(indication, errind.WrongDigest | errind.AuthenticationFailure | errind.AuthenticationError):
        raise SnmpError(f"SNMPv3 authentication failed at {who}: wrong auth key or protocol", silent=False)
    if isinstance(indication, errind.DecryptionError):
        raise SnmpError(f"SNMPv3 decryption failed at {who}: wrong priv key or protocol", silent=False)
    if isinstance(indication, errind.UnknownUserName):
        raise SnmpError(f"SNMPv3 user unknown to {who}", silent=False)
    if isinstance(indication, errind.UnsupportedSecurityLevel):
        raise SnmpError(f"SNMPv3 security level {target.credentials.level} not accepted by {who}", silent=False)
    if indication:
        raise SnmpError(f"SNMP error from {who}: {indication}", silent=False)
    if status:
        raise SnmpError(f"SNMP error from {who}: {status.prettyPrint()} at variable {int(index)}", silent=False)
