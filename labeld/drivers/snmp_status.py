"""A network printer's status over SNMP, behind the driver's status interface.

A Brother QL on ``tcp://`` answers nothing on port 9100; its network card answers SNMP. A driver
holds a :class:`SnmpStatus` (from :func:`snmp_status_for`) and asks it first: the engine then
does for a Wi-Fi QL what it does for a USB one — jobs wait ``ready`` while the printer reports
paper out, cover open, jam or offline; a label goes out only when the printer answers ready; it is
``confirmed`` when the page counter went up by the labels sent.

Modes (``[[printer]] status``): ``auto`` (the default for Brother QL on TCP) asks once — while the
printer is reachable — and, if SNMP does not answer, prints write-only as before, saying so in one
log line. That first question goes out in the background when the printer's worker starts (a label
waits for it at most one SNMP try), the fallback is remembered across restarts (the worker keeps it
in the spool) and asked about again, in the background, every ``RECHECK_OFF``. ``snmp`` always
asks; ``none`` never does (a ZPL printer's ``auto`` is ``none``: ``~HS`` already answers on its print
connection).

When SNMP goes silent later while the printer still takes TCP, its status is *unknown*, never
ready: with ``status_lost = "write-only"`` the labels go on unconfirmed (reason ``status-unknown``
shown), with ``"wait"`` they wait until the printer answers again.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit

import structlog

from labeld.config import SNMP_SCHEMES, PrinterConfig
from labeld.credentials import Secret, SecretUnavailable, read_secret_file
from labeld.devices.base import Device
from labeld.devices.snmp import (
    TIMEOUT,
    SnmpClient,
    SnmpCredentials,
    SnmpError,
    SnmpTarget,
    parse_target,
    shared_client,
)
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
#: ``auto`` without SNMP asks again (in the background) this often, so SNMP switched on later is found.
RECHECK_OFF = 600.0
#: Where the printer worker keeps ``auto``'s fallback in the spool (a reload forgets them all).
SNMP_OFF_PREFIX = "snmp_off:"
#: How long a label waits for ``auto``'s first answer still on its way: one SNMP try (an agent that
#: answers does so in milliseconds; a silent one would cost the whole timeout with its retry).
FIRST_ANSWER_GRACE = TIMEOUT
#: USM requires passphrases of at least 8 characters.
MIN_KEY_LENGTH = 8


class _Check:
    """One read of the MIB on a thread of its own, so that ``auto``'s question never holds a label."""

    def __init__(self, read: Callable[[], MibReading]) -> None:
        self.done = threading.Event()
        self.reading: MibReading | None = None
        self.error: SnmpError | None = None
        threading.Thread(target=self._run, args=(read,), name="snmp-check", daemon=True).start()

    def _run(self, read: Callable[[], MibReading]) -> None:
        try:
            self.reading = read()
        except SnmpError as error:
            self.error = error
        except Exception as error:  # the asking thread always ends with an answer
            self.error = SnmpError(str(error), silent=False)
        finally:
            self.done.set()


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
        #: ``auto``'s question on its way (at start-up, or the periodic re-check while off).
        self._check: _Check | None = None
        self._recheck_at = 0.0
        #: Told the wall-clock time ``auto`` fell back to write-only, or None when SNMP was found
        #: (the printer worker keeps it in the spool: :meth:`restore` at the next start).
        self.remember: Callable[[float | None], None] | None = None
        self.log = log.bind(printer=printer.name, snmp=str(target))

    @property
    def memory_key(self) -> str:
        """What the fallback is remembered under: the printer and the SNMP target it was asked on."""
        return f"{SNMP_OFF_PREFIX}{self.printer.name}:{self.target.host}:{self.target.port}"

    def restore(self, at: float, now: float | None = None) -> None:
        """``auto`` found no SNMP at wall-clock ``at`` in an earlier run: print write-only at once
        (saying so in the one log line) and ask again, in the background, ``RECHECK_OFF`` after ``at``."""
        if self._decided or self._off:
            return
        now = time.time() if now is None else now
        self._off = True
        self._recheck_at = time.monotonic() + max(0.0, at + RECHECK_OFF - now)
        self._unavailable("no SNMP answer when last asked", remembered=True)

    def begin(self) -> None:
        """Put ``auto``'s first question on its way (the printer worker calls this as it starts)."""
        if not self._decided and not self._off and self._check is None:
            self._check = _Check(self.read)

    @property
    def in_use(self) -> bool:
        """False while ``auto`` found no SNMP: the printer is then write-only until a re-check finds it."""
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
            return self._while_off()
        if self._silence is not None and time.monotonic() - self._silence[0] < RETRY_SILENT:
            return self._silence[1]  # still unknown; asking again would cost the whole timeout
        if not self._decided:
            check = self._first_answer()
            if check is None:
                return None  # no answer yet: this label goes out write-only, the question goes on
            if check.reading is None:
                return self._failed(_error(check), reachable)
            return self._answered(check.reading)
        try:
            reading = self.read()
        except SnmpError as error:
            return self._failed(error, reachable)
        return self._answered(reading)

    def _first_answer(self) -> _Check | None:
        """``auto``'s question, finished (and taken), or None while it is still on its way after a
        wait of at most one SNMP try."""
        self.begin()
        check = self._check
        assert check is not None
        if not check.done.wait(FIRST_ANSWER_GRACE):
            return None
        self._check = None
        return check

    def _while_off(self) -> PrinterStatus | None:
        """``auto`` without SNMP: None (write-only) — unless the background re-check found SNMP."""
        check = self._check
        if check is None:
            if time.monotonic() >= self._recheck_at:
                self._check = _Check(self.read)
            return None
        if not check.done.is_set():
            return None
        self._check = None
        if check.reading is None:
            self._recheck_at = time.monotonic() + RECHECK_OFF
            self._remembered(time.time())
            return None
        self._off = False
        self._remembered(None)
        return self._answered(check.reading)

    def _remembered(self, at: float | None) -> None:
        if self.remember is not None:
            self.remember(at)

    def probe(self, connect: Callable[[], PrinterStatus]) -> PrinterStatus:
        """The status while idle, without opening the print port while SNMP answers. When SNMP is
        silent, ``connect`` (a plain connection) tells an unknown status from a printer that is gone
        (:class:`DeviceError`: shown ``offline``; ``auto`` does not decide then)."""
        if self._off:
            found = self._while_off()
            return connect() if found is None else found
        if self._silence is not None and time.monotonic() - self._silence[0] < RETRY_SILENT:
            connect()
            return self._silence[1]
        if not self._decided:
            check = self._first_answer()
            if check is None:
                return connect()
            if check.reading is not None:
                return self._answered(check.reading)
            connected = connect()
            status = self._failed(_error(check), reachable=True)
            return connected if status is None else status
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
        self._recheck_at = time.monotonic() + RECHECK_OFF
        self._unavailable(str(error), remembered=False)
        self._remembered(time.time())
        return None

    def _unavailable(self, reason: str, *, remembered: bool) -> None:
        self.log.warning("snmp_status_unavailable", reason=reason, remembered=remembered,
                         consequence="printing write-only: status unknown, labels not confirmed; set "
                                     "status = \"none\" to skip this check, or see docs/operators/troubleshooting.md")

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


def _error(check: _Check) -> SnmpError:
    return check.error if check.error is not None else SnmpError("no SNMP answer", silent=True)


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
