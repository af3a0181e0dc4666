"""``cups://``: a CUPS queue, reached through pycups.

CUPS is a spooler, not a cable: one label's bytes become one CUPS job, and what the printer
is doing comes back as IPP attributes of the queue and of that job, not as bytes to ``read``.
The URI picks the server:

- ``cups://QUEUE``: the default server (``CUPS_SERVER``, ``cups.setServer``, client.conf);
- ``cups://HOST[:PORT]/QUEUE``: a given server (a warehouse's central CUPS);
- ``cups:///path/to/cups.sock/QUEUE``: a server's Unix socket (a private cupsd in tests).

pycups is optional (it needs libcups headers to build); without it this module still imports,
and opening a device raises :class:`~labeld.errors.DeviceError` saying what to install.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import SplitResult, unquote, urlsplit

from labeld.devices.base import register_scheme
from labeld.errors import DeviceError

try:
    import cups
except ImportError:  # pycups is the optional "cups" extra
    cups = None

INSTALL_HINT = "pip install 'labeld[cups]' (needs the libcups2-dev package)"
RAW_FORMAT = "application/vnd.cups-raw"
PDF_FORMAT = "application/pdf"
PRINTER_ATTRIBUTES = [
    "printer-state", "printer-state-reasons", "printer-state-message", "printer-is-accepting-jobs",
    "queued-job-count", "device-uri",
]
#: How many hops (class members, IPP queues on the same server) :meth:`CupsDevice.destinations` follows.
FORWARD_HOPS = 3
LOCAL_HOSTS = frozenset({"localhost", "127.0.0.1", "::1", "localhost.localdomain"})
JOB_ATTRIBUTES = ["job-state", "job-state-reasons", "job-printer-state-message", "job-name"]


def pycups_missing() -> str | None:
    """None when pycups can be used, else the sentence that says how to get it."""
    if cups is None:
        return f"the cups driver needs pycups, which is not installed: {INSTALL_HINT}"
    return None


@dataclass(frozen=True)
class CupsTarget:
    """A queue on a CUPS server. ``host`` None means the default server."""

    queue: str
    host: str | None = None
    port: int | None = None

    def describe(self) -> str:
        if self.host is None:
            return f"CUPS queue {self.queue!r}"
        where = self.host if self.port is None else f"{self.host}:{self.port}"
        return f"CUPS queue {self.queue!r} on {where}"


def parse_cups_uri(parsed: SplitResult, uri: str) -> CupsTarget:
    """The queue and server a ``cups://`` URI names (see the module docstring)."""
    path = unquote(parsed.path).strip("/")
    if not parsed.netloc:
        server, _, queue = path.rpartition("/")
        if not server or not queue:
            raise DeviceError(f"{uri!r}: write cups:///path/to/cups.sock/QUEUE for a server socket")
        return CupsTarget(queue, "/" + server)
    if not path:
        return CupsTarget(unquote(parsed.netloc))
    if "/" in path:
        raise DeviceError(f"{uri!r}: a CUPS queue name has no '/'; write cups://HOST[:PORT]/QUEUE")
    return CupsTarget(path, parsed.hostname, parsed.port)


@dataclass(frozen=True)
class CupsJobState:
    """One CUPS job as IPP describes it. ``state`` is the IPP job-state number (3 pending … 9 completed)."""

    job_id: int
    state: int
    reasons: tuple[str, ...]
    message: str


class CupsDevice:
    """One CUPS queue. ``write`` submits a job; the driver asks for queue and job state.

    ``bidirectional`` is True because CUPS answers through IPP, though never through ``read``.
    A write that comes again with the same bytes while the previous job is still waiting in
    CUPS (see :meth:`hold_for_resubmit`) re-attaches to that job instead of printing twice.
    """

    bidirectional = True

    def __init__(self, target: CupsTarget, uri: str) -> None:
        self.target = target
        self.uri = uri
        self.last_job_id: int | None = None
        self.last_data: bytes | None = None
        self._connection: Any = None
        self._waiting: tuple[bytes, int] | None = None
        self._lock = threading.Lock()

    def open(self) -> None:
        if self._connection is not None:
            return
        missing = pycups_missing()
        if missing:
            raise DeviceError(missing, reason="other")
        try:
            if self.target.host is None:
                self._connection = cups.Connection()
            else:
                self._connection = cups.Connection(host=self.target.host, port=self.target.port or 631)
        except RuntimeError as error:
            raise DeviceError(f"cannot reach CUPS for the {self.target.describe()}: {error}") from error

    def write(self, data: bytes, name: str | None = None) -> None:
        """Submit ``data`` as one CUPS job: a PDF for a driver queue, anything else raw."""
        with self._lock:
            if self._waiting is not None and self._waiting[0] == data:
                self.last_job_id = self._waiting[1]
                self._waiting = None
                return
            self._waiting = None
            self.last_job_id = self._submit(data, name or "labeld label")
            self.last_data = data

    def read(self, size: int, timeout: float) -> bytes:
        return b""

    def finish(self, timeout: float) -> None:
        """This connection cannot tell when the printer took the label: nothing to wait for."""
        self.close()

    def close(self) -> None:
        self._connection = None

    def hold_for_resubmit(self) -> None:
        """Remember that the last job is still waiting in CUPS, so that the engine writing
        the same label again re-attaches to it instead of printing it twice."""
        with self._lock:
            if self.last_data is not None and self.last_job_id is not None:
                self._waiting = (self.last_data, self.last_job_id)

    def printer_attributes(self) -> dict[str, Any]:
        return dict(self._call(lambda c: c.getPrinterAttributes(
            self.target.queue, requested_attributes=PRINTER_ATTRIBUTES)))

    def destinations(self) -> list[str]:
        """The device URIs this queue's jobs end at: its own, its class members', and those of
        queues on the same server it forwards to over IPP (``ipp://localhost/printers/Q``)."""
        uris: list[str] = []
        seen: set[str] = set()

        def visit(queue: str, hops: int) -> None:
            if queue in seen or hops < 0:
                return
            seen.add(queue)
            attributes = self._call(lambda c: c.getPrinterAttributes(
                queue, requested_attributes=["device-uri", "member-names"]))
            for member in as_keywords(attributes.get("member-names")):
                visit(member, hops - 1)
            uri = str(attributes.get("device-uri") or "")
            if uri:
                uris.append(uri)
            forwarded = local_queue(uri)
            if forwarded:
                visit(forwarded, hops - 1)

        visit(self.target.queue, FORWARD_HOPS)
        return uris

    def job_state(self, job_id: int) -> CupsJobState:
        attributes = self._call(lambda c: c.getJobAttributes(job_id, requested_attributes=JOB_ATTRIBUTES))
        return CupsJobState(
            job_id,
            int(attributes.get("job-state", 0)),
            as_keywords(attributes.get("job-state-reasons")),
            str(attributes.get("job-printer-state-message", "")),
        )

    def _submit(self, data: bytes, title: str) -> int:
        document_format = PDF_FORMAT if data.startswith(b"%PDF") else RAW_FORMAT
        queue = self.target.queue

        def submit(connection: Any) -> int:
            job_id = int(connection.createJob(queue, title, {}))
            try:
                connection.startDocument(queue, job_id, title, document_format, 1)
                connection.writeRequestData(data, len(data))
                connection.finishDocument(queue)
            except BaseException:
                _cancel_quietly(connection, job_id)
                raise
            return job_id

        return int(self._call(submit))

    def _call(self, action: Any) -> Any:
        """Run ``action(connection)``, turning CUPS failures into :class:`DeviceError`."""
        self.open()
        try:
            with _default_server(self.target):
                return action(self._connection)
        except cups.IPPError as error:
            status, message = error.args if len(error.args) == 2 else (0, str(error))
            raise DeviceError(_ipp_failure(self.target, int(status), str(message)), reason=_ipp_reason(int(status))) \
                from error
        except (cups.HTTPError, RuntimeError) as error:
            self.close()
            raise DeviceError(f"lost the connection to CUPS for the {self.target.describe()}: {error}") from error


#: libcups keeps its default server process-wide; calls that change it take turns.
_SERVER_LOCK = threading.Lock()


@contextlib.contextmanager
def _default_server(target: CupsTarget) -> Iterator[None]:
    """Make ``target``'s server libcups's default for the duration of one call.

    libcups's Create-Job looks the queue up on the *default* server even when given a
    connection to another one (seen with CUPS 2.4 on a non-631 port: the job then fails with
    "The printer or class does not exist"), so the default must point at the same server.
    """
    if target.host is None:
        yield
        return
    server = target.host if target.port is None or target.host.startswith("/") else f"{target.host}:{target.port}"
    with _SERVER_LOCK:
        previous = cups.getServer()
        cups.setServer(server)
        try:
            yield
        finally:
            cups.setServer(previous)


def as_keywords(value: object) -> tuple[str, ...]:
    """pycups gives one keyword as a str and several as a list; ``none`` means no keyword."""
    items = [value] if isinstance(value, str) else list(value) if isinstance(value, (list, tuple)) else []
    return tuple(str(item) for item in items if item and item != "none")


def local_queue(device_uri: str) -> str | None:
    """The queue an ``ipp://localhost/printers/Q`` (or ``/classes/Q``) device URI forwards to, else None."""
    parsed = urlsplit(device_uri)
    if parsed.scheme not in ("ipp", "ipps", "http", "https") or (parsed.hostname or "") not in LOCAL_HOSTS:
        return None
    parts = unquote(parsed.path).strip("/").split("/")
    return parts[1] if len(parts) == 2 and parts[0] in ("printers", "classes") and parts[1] else None


def _ipp_failure(target: CupsTarget, status: int, message: str) -> str:
    if cups is not None and status == cups.IPP_NOT_FOUND:
        return f"CUPS has no {target.describe()}: create it with lpadmin or fix the printer's uri"
    return f"CUPS refused the request for the {target.describe()}: {message or status}"


def _ipp_reason(status: int) -> str:
    if cups is not None and status == cups.IPP_NOT_ACCEPTING:
        return "paused"
    return "offline"


def _cancel_quietly(connection: Any, job_id: int) -> None:
    with contextlib.suppress(Exception):  # the original failure is what matters
        connection.cancelJob(job_id)


def _from_uri(parsed: SplitResult, uri: str) -> CupsDevice:
    return CupsDevice(parse_cups_uri(parsed, uri), uri)


register_scheme("cups", _from_uri)
