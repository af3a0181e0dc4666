"""A network printer's status over SNMP, behind the driver's status interface.

A Brother QL on ``tcp://`` answers nothing on port 9100; its network card answers SNMP. A driver
holds a :class:`SnmpStatus` (from :func:`snmp_status_for`) and asks it first: the engine then
does for a Wi-Fi QL what it does for a USB one — jobs wait ``ready`` while the printer reports
paper out, cover open, jam or offline; a label goes out only when the printer answers ready; it is
``confirmed`` when the page counter went up by the labels sent.

Modes (``[[printer]] status``): ``auto`` (the default for Brother QL on TCP) asks once — while the
printer is reachable — and, if SNMP does not answer, prints write-only as before, saying so in one
log line; ``snmp`` always asks; ``none`` never does (a ZPL printer's ``auto`` is ``none``: ``~HS``
already answers on its print connection).

When SNMP goes silent later while the printer still takes TCP, its status is *unknown*, never
ready: with ``status_lost = "write-only"`` the labels go on unconfirmed (reason ``status-unknown``
shown), with ``"wait"`` they wait until the printer answers again.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit

import structlog

from labeld.config import SNMP_SCHEMES, PrinterConfig
from labeld.credentials import Secret, SecretUnavailable, read_secret_file
from labeld.devices.base import Device
from labeld.devices.snmp import SnmpClient, SnmpCredentials, SnmpError, SnmpTarget, parse_target, shared_client
from labeld.drivers.base import PrinterStatus
from labeld.drivers.printer_mib import MibReading, read_mib
from labeld.reasons import Reason

log = structlog.get_logger("labeld.snmp")

#: Between two reads of the page counter while a label comes out.
COUNTER_POLL = 0.02
COUNTER_POLL_MAX = 0.5
#: After the counter wait, how long the write-only end of the job may take at least.
FINISH_MIN = 2.0
#: Once SNMP went silent, ask again at most this often (each silent read costs the whole timeout).
RETRY_SILENT = 10.0
#: USM requires passphrases of at least 8 characters.
MIN_KEY_LENGTH = 8


class SnmpStatus:
    """The status of one printer over SNMP. ``status`` returns None where SNMP is not used (``auto``
    found none), so that the driver falls back to what it did without it."""

    def __init__(self, printer: PrinterConfig, target: SnmpTarget, *, brother: bool,
                 client: Callable[[], SnmpClient] = shared_client) -> None:
        self.printer = printer
        self.target = target
        self.brother = brother
        self.mode = printer.status if printer.status == "snmp" else "auto"
        self._client = client
        self._decided = self.mode == "snmp"
        self._off = False
        self._lost: str | None = None
        self._silence: tuple[float, PrinterStatus] | None = None
        self._last: MibReading | None = None
        self.log = log.bind(printer=printer.name, snmp=str(target))

    @property
    def in_use(self) -> bool:
        """False once ``auto`` found no SNMP: the printer is then write-only until a reload."""
        return not self._off

    def read(self) -> MibReading:
        """One read of the MIB; :class:`SnmpError` when it cannot be read, or when the agent has no
        printer objects (a bare network card)."""
        reading = read_mib(self._client(), self.target, brother=self.brother)
        if not reading.answered:
            raise SnmpError(f"{self.target} answers SNMP but has no printer objects (Host Resources MIB)",
                            silent=False)
        return reading

    def status(self, reachable: bool = True) -> PrinterStatus | None:
        """The printer's status; None when SNMP is not in use. ``reachable`` says whether the printer
        takes TCP connections: only then does ``auto`` give up on SNMP for good."""
        if self._off:
            return None
        if self._silence is not None and time.monotonic() - self._silence[0] < RETRY_SILENT:
            return self._silence[1]  # still unknown; asking again would cost the whole timeout
        try:
            reading = self.read()
        except SnmpError as error:
            return self._failed(error, reachable)
        return self._answered(reading)

    def probe(self, connect: Callable[[], PrinterStatus]) -> PrinterStatus:
        """The status while idle, without opening the print port while SNMP answers. When SNMP is
        silent, ``connect`` (a plain connection) tells an unknown status from a printer that is gone
        (:class:`DeviceError`: shown ``offline``; ``auto`` does not decide then)."""
        if self._off:
            return connect()
        if self._silence is not None and time.monotonic() - self._silence[0] < RETRY_SILENT:
            connect()
            return self._silence[1]
        try:
            reading = self.read()
        except SnmpError as error:
            connected = connect()
            status = self._failed(error, reachable=True)
            return connected if status is None else status
        return self._answered(reading)

    def _answered(self, reading: MibReading) -> PrinterStatus:
        if not self._decided:
            self._decided = True
            self.log.info("snmp_status", counter=reading.life_count if reading.counts_labels else None,
                          serial=reading.serial, credentials=self.target.credentials.describe())
        if self._lost is not None:
            self.log.info("snmp_status_back", after=self._lost)
            self._lost = None
        self._silence = None
        self._last = reading
        return reading.to_printer_status()

    def _failed(self, error: SnmpError, reachable: bool) -> PrinterStatus | None:
        if self._decided or not reachable:
            return self._silent(error)
        self._off = True
        self.log.warning("snmp_status_unavailable", reason=str(error),
                         consequence="printing write-only: status unknown, labels not confirmed; set "
                                     "status = \"none\" to skip this check, or see docs/operators/troubleshooting.md")
        return None

    def _silent(self, error: SnmpError) -> PrinterStatus:
        """Status unknown — never ready. Per ``status_lost``: print write-only, or wait."""
        if self._lost is None:
            self.log.warning("snmp_status_lost", reason=str(error), policy=self.printer.status_lost)
        self._lost = str(error)
        self._last = None
        wait = self.printer.status_lost == "wait"
        reason = Reason("printer.status_unknown_wait" if wait else "printer.status_unknown", error=str(error))
        status = PrinterStatus(reasons=("status-unknown",), message=reason.text(), reason=reason, known=wait,
                               detail={"snmp": str(self.target)})
        self._silence = (time.monotonic(), status)
        return status

    def confirm(self, device: Device, timeout: float, labels: int | None) -> bool | None:
        """Wait until the page counter went up by ``labels`` since the last status: True. None where
        the counter cannot tell (no counter in labels, ``labels`` unknown, SNMP silent, or no rise
        within ``timeout``): the driver then ends the job its own way. A connection the printer
        dropped meanwhile raises :class:`DeviceError` (the label is sent again, flagged)."""
        base = self._last
        if base is None or labels is None or not base.counts_labels or base.life_count is None:
            return None
        target = base.life_count + labels
        deadline = time.monotonic() + timeout
        pause = COUNTER_POLL
        while time.monotonic() < deadline:
            try:
                reading = self.read()
            except SnmpError as error:
                self._silent(error)
                return None
            if reading.life_count is not None and reading.life_count >= target and reading.serial == base.serial:
                self._last = reading
                return True
            device.read(64, 0.0)  # raises DeviceError if the printer dropped the connection
            time.sleep(min(pause, max(0.0, deadline - time.monotonic())))
            pause = min(COUNTER_POLL_MAX, pause * 1.5)
        return None


def snmp_status_for(printer: PrinterConfig, *, brother: bool) -> SnmpStatus | None:
    """The SNMP status source of a network printer, or None where its status does not come over SNMP
    (not on ``tcp://``, ``status = "none"``, or a ZPL printer on ``auto``). ValueError names a
    secret file that cannot be read (never its content)."""
    parsed = urlsplit(printer.uri)
    if parsed.scheme not in SNMP_SCHEMES or printer.status == "none":
        return None
    if printer.status == "auto" and not brother:
        return None
    host, port = parse_target(printer.snmp, parsed.hostname or "")
    return SnmpStatus(printer, SnmpTarget(host, port, credentials(printer)), brother=brother)


def credentials(printer: PrinterConfig) -> SnmpCredentials:
    """The community or the v3 user and keys, read from their files (mode 0600, one line)."""
    if printer.snmp_user:
        auth = _secret(printer, "snmp_auth_key_file", printer.snmp_auth_key_file)
        priv = _secret(printer, "snmp_priv_key_file", printer.snmp_priv_key_file)
        for key, value in (("snmp_auth_key_file", auth), ("snmp_priv_key_file", priv)):
            if value is not None and len(value.reveal()) < MIN_KEY_LENGTH:
                raise ValueError(f"printer {printer.name!r}: {key}: an SNMPv3 key needs at least "
                                 f"{MIN_KEY_LENGTH} characters")
        files = [str(p) for p in (printer.snmp_auth_key_file, printer.snmp_priv_key_file) if p is not None]
        return SnmpCredentials(user=printer.snmp_user, auth_protocol=printer.snmp_auth_protocol, auth_key=auth,
                               priv_protocol=printer.snmp_priv_protocol, priv_key=priv, source=", ".join(files))
    community = _secret(printer, "snmp_community_file", printer.snmp_community_file)
    if community is None:
        return SnmpCredentials()
    return SnmpCredentials(community=community, source=str(printer.snmp_community_file))


def _secret(printer: PrinterConfig, key: str, path: Path | None) -> Secret | None:
    if path is None:
        return None
    try:
        return read_secret_file(path)
    except SecretUnavailable as error:
        raise ValueError(f"printer {printer.name!r}: {key}: {error}") from None
