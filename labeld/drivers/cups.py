"""The ``cups`` driver: labels printed through a CUPS queue (``uri = "cups://QUEUE"``).

Two modes, chosen by the printer's ``format``:

- ``zpl`` / ``brother_ql``: labeld's own dot-exact printer bytes go to a *raw* queue, so no
  CUPS filter resamples the barcodes; the inner driver is made with ``make_driver`` on a copy
  of the printer's config whose ``driver`` is that format.
- ``pdf`` (the default): a one-page PDF sized to the medium goes to a *driver* queue, for
  printers that only CUPS knows how to drive. The engine places the original page on the
  medium (:func:`labeld.render.place.placed_page_pdf`: vector, cropped and turned) and
  :meth:`encode_page` sends it; :meth:`encode` wraps a rendered bitmap in a PDF at the
  printer's resolution (a test label, a reprint of a bitmap).

CUPS answers through IPP: the queue's ``printer-state``/``printer-state-reasons`` become
:class:`PrinterStatus`, and a label counts as printed only when CUPS says its job completed.
"""

from __future__ import annotations

import dataclasses
import io
import time
from typing import TYPE_CHECKING, Any

from labeld.devices.base import open_device
from labeld.devices.cups import CupsDevice, CupsJobState
from labeld.drivers.base import Driver, PrinterStatus, make_driver, register_driver
from labeld.errors import DeviceError, PrinterRefused, PrinterWaiting
from labeld.media import Geometry, generic_geometry, parse_media

if TYPE_CHECKING:
    from labeld.bitmap import Bitmap
    from labeld.config import PrinterConfig

RAW_FORMATS = ("zpl", "brother_ql")
#: The URI scheme of labeld's own CUPS backend (cups/backend/labeld): a queue on it feeds labeld.
LABELD_SCHEME = "labeld"
POLL_INTERVAL = 0.1
PT_PER_INCH = 72.0
#: IPP printer-state and job-state numbers (RFC 8011), the words labeld shows for them.
PRINTER_STATES = {3: "idle", 4: "processing", 5: "stopped"}
JOB_PENDING, JOB_HELD, JOB_PROCESSING, JOB_STOPPED, JOB_CANCELED, JOB_ABORTED, JOB_COMPLETED = range(3, 10)
#: job-state-reasons that mean the job will not move until someone acts on the queue or job.
STUCK_JOB_REASONS = frozenset({"printer-stopped", "job-hold-until-specified", "job-held-by-user"})


class CupsJobWaiting(PrinterWaiting):
    """The label's CUPS job is still waiting in CUPS (queue stopped, job held, printer busy).

    ``bytes_sent`` is 0: the label has not come out, so the engine keeps it ``ready``. Writing
    the same bytes again re-attaches to the waiting CUPS job rather than printing twice.
    """


class CupsDriver(Driver[CupsDevice]):
    name = "cups"

    def __init__(self, printer: PrinterConfig) -> None:
        super().__init__(printer)
        self.format = printer.format or "pdf"
        self._inner: Driver[Any] | None = None

    def connect(self) -> CupsDevice:
        device = open_device(self.printer.uri)
        if not isinstance(device, CupsDevice):
            raise DeviceError(f"the cups driver needs a cups:// uri, not {self.printer.uri!r}", reason="other")
        return device

    @property
    def inner(self) -> Driver[Any] | None:
        """The ZPL or Brother QL driver that makes the raw bytes; None in ``pdf`` mode."""
        if self.format not in RAW_FORMATS:
            return None
        if self._inner is None:
            self._inner = make_driver(dataclasses.replace(self.printer, driver=self.format))
        return self._inner

    @property
    def extension(self) -> str:  # type: ignore[override]  # depends on the format, not the class
        return self.inner.extension if self.inner else "pdf"

    @property
    def native_copies(self) -> bool:  # type: ignore[override]
        return self.inner.native_copies if self.inner else True

    @property
    def geometry(self) -> Geometry:
        if self.inner is not None:
            return self.inner.geometry
        return generic_geometry(parse_media(self.printer.media), self.printer.dpi or 300)

    def encode(self, bitmap: Bitmap, copies: int = 1) -> bytes:
        if self.inner is not None:
            return self.inner.encode(bitmap, copies)
        return bitmap_pdf(bitmap, self.geometry.dpi, copies)

    def encode_raw(self, data: bytes) -> bytes:
        if self.inner is None:
            return super().encode_raw(data)
        return self.inner.encode_raw(data)

    @property
    def uses_page_pdf(self) -> bool:  # type: ignore[override]  # depends on the format, not the class
        return self.inner is None

    def encode_page(self, placed: bytes, copies: int = 1) -> bytes | None:
        if self.inner is not None:
            return None
        if copies == 1:
            return placed
        import pymupdf

        doc = pymupdf.open("pdf", placed)
        for _ in range(copies - 1):
            doc.fullcopy_page(0)
        return _pdf_bytes(doc)

    def status(self, device: CupsDevice) -> PrinterStatus:
        return printer_status(device.printer_attributes(), device.target.describe())

    def loop(self) -> str | None:
        """Why this printer's queue would send labels back into labeld, or None when it does not.
        Raises :class:`DeviceError` when CUPS cannot be asked."""
        device = self.connect()
        return loop_problem(device.destinations(), device.target.describe())

    def confirm(self, device: CupsDevice, timeout: float, labels: int | None = None) -> bool:
        """True once CUPS reports the job completed; :class:`PrinterRefused` when CUPS aborted
        or someone cancelled it there; :class:`CupsJobWaiting` while it is still in CUPS."""
        job_id = device.last_job_id
        if job_id is None:
            return False
        deadline = time.monotonic() + timeout
        while True:
            job = device.job_state(job_id)
            if job.state == JOB_COMPLETED:
                return True
            failure = job_failure(job)
            if failure:
                raise PrinterRefused(failure)
            if time.monotonic() >= deadline or job_stuck(job):
                raise self._waiting(device, job)
            time.sleep(POLL_INTERVAL)

    def self_check(self) -> str | None:
        from labeld.devices.cups import pycups_missing

        missing = pycups_missing()
        if missing:
            return missing
        try:
            loop = self.loop()
        except DeviceError:
            loop = None  # CUPS cannot be asked now; status() looks at the queue's device URI before each label
        if loop:
            return loop
        if self.format in RAW_FORMATS:
            try:
                inner = self.inner
            except ValueError as error:
                return f"the cups driver's format {self.format!r} needs its own driver: {error}"
            return inner.self_check() if inner else None
        return None

    def _waiting(self, device: CupsDevice, job: CupsJobState) -> CupsJobWaiting:
        status = self.status(device)
        reason = next((r for r in status.reasons if not r.endswith("-warning")), "")
        device.hold_for_resubmit()
        why = status.message or reason or f"job state {job.state}"
        return CupsJobWaiting(f"CUPS job {job.job_id} is waiting on the {device.target.describe()}: {why}",
                              bytes_sent=0, reason=reason or "other")


def printer_status(attributes: dict[str, Any], where: str) -> PrinterStatus:
    """A CUPS queue's IPP attributes as labeld's :class:`PrinterStatus`.

    ``-error`` reasons (and unsuffixed ones) are kept bare and block; ``-warning`` reasons are
    kept with their suffix, shown but not blocking; ``-report`` ones are dropped. A stopped or
    job-rejecting queue always blocks (``paused``), so that labeld keeps its jobs instead of
    piling them into CUPS.
    """
    from labeld.devices.cups import as_keywords

    state = int(attributes.get("printer-state", 0))
    raw = as_keywords(attributes.get("printer-state-reasons"))
    reasons = [r.removesuffix("-error") for r in raw if not r.endswith("-report")]
    accepting = bool(attributes.get("printer-is-accepting-jobs", True))
    stopped = state == 5 or not accepting
    if stopped and "paused" not in reasons:
        reasons.append("paused")
    message = str(attributes.get("printer-state-message") or "")
    loop = loop_problem([str(attributes.get("device-uri") or "")], where)
    if loop:
        reasons.append("other")
        message = loop
    if stopped and not message:
        message = f"the {where} is {'stopped' if state == 5 else 'rejecting jobs'}"
    detail: dict[str, object] = {
        "cups-state": PRINTER_STATES.get(state, str(state)), "cups-reasons": list(raw),
        "accepting-jobs": accepting, "queued-jobs": int(attributes.get("queued-job-count", 0)),
    }
    return PrinterStatus(reasons=tuple(dict.fromkeys(reasons)), message=message, busy=state == 4, detail=detail)


def loop_problem(device_uris: list[str], where: str) -> str | None:
    """A sentence when one of ``device_uris`` is labeld's own CUPS backend (``labeld:/…``): a label
    sent there would come back into labeld and go round for ever."""
    back = next((uri for uri in device_uris if uri.partition(":")[0] == LABELD_SCHEME), None)
    if back is None:
        return None
    return (f"the {where} feeds labeld itself (device URI {back}): its labels would come back and loop; "
            "point this printer at the queue of the real printer, or drive it with driver zpl or brother_ql")


def job_failure(job: CupsJobState) -> str | None:
    """Why a finished CUPS job did not print, or None when it has not failed."""
    if job.state == JOB_CANCELED:
        return f"CUPS job {job.job_id} was cancelled in CUPS"
    if job.state == JOB_ABORTED:
        return f"CUPS aborted job {job.job_id}" + (f": {job.message}" if job.message else "")
    return None


def job_stuck(job: CupsJobState) -> bool:
    """True when the job waits on a person: a stopped queue or a hold, not a busy printer."""
    return job.state in (JOB_HELD, JOB_STOPPED) or any(r in STUCK_JOB_REASONS for r in job.reasons)


def bitmap_pdf(bitmap: Bitmap, dpi: int, copies: int = 1) -> bytes:
    """A PDF with ``copies`` pages, each exactly ``bitmap`` at ``dpi`` (one image pixel per dot)."""
    import pymupdf

    from labeld.bitmap import to_image

    rows, dots = bitmap.shape
    png = io.BytesIO()
    to_image(bitmap).save(png, format="PNG", dpi=(dpi, dpi))
    doc = pymupdf.open()
    width, height = dots * PT_PER_INCH / dpi, rows * PT_PER_INCH / dpi
    for _ in range(max(1, copies)):
        page = doc.new_page(width=width, height=height)
        page.insert_image(page.rect, stream=png.getvalue())
    return _pdf_bytes(doc)


def _pdf_bytes(doc: Any) -> bytes:
    try:
        return bytes(doc.tobytes(garbage=3, deflate=True))
    finally:
        doc.close()


register_driver("cups", CupsDriver)
