"""The cups driver against a real private cupsd: jobs, completion, a queue that runs dry.

No pycups or CUPS stand-in: the queues are made with lpadmin and their printer is the
``labeld-capture`` backend (labeld.testing.cupsd), which keeps each job's bytes and can be
told it is out of labels.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator

import cups  # required, not skipped: without pycups these tests must fail
import pytest

from labeld.config import PrinterConfig
from labeld.devices import open_device
from labeld.devices.cups import CupsDevice
from labeld.drivers import make_driver
from labeld.drivers.cups import CupsDriver, CupsJobWaiting
from labeld.errors import DeviceError, PrinterRefused
from labeld.testing.cupsd import PrivateCupsd


@pytest.fixture(scope="module")
def cupsd() -> Iterator[PrivateCupsd]:
    with PrivateCupsd() as server:
        yield server


def driver_for(uri: str, fmt: str = "pdf") -> CupsDriver:
    driver = make_driver(PrinterConfig(name="c", driver="cups", uri=uri, format=fmt, media="75x120mm", dpi=203))
    assert isinstance(driver, CupsDriver)
    return driver


def cups_device(uri: str) -> CupsDevice:
    device = open_device(uri)
    assert isinstance(device, CupsDevice)
    return device


def wait_for(predicate: object, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():  # type: ignore[operator]
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_raw_bytes_reach_the_printer_and_the_job_is_confirmed(cupsd: PrivateCupsd) -> None:
    """Bytes written to a raw queue arrive unchanged, and confirm() is True once CUPS completed it."""
    cupsd.add_capture_queue("raw1")
    driver, device = driver_for(cupsd.uri("raw1")), cups_device(cupsd.uri("raw1"))
    data = b"^XA^FO10,10^GB100,100,100^FS^XZ\n" + bytes(range(256))
    device.write(data)
    assert driver.confirm(device, timeout=10) is True
    assert cupsd.captured("raw1") == [data]
    assert not driver.status(device).blocked


def test_pdf_mode_sends_a_pdf_document(cupsd: PrivateCupsd) -> None:
    """pdf mode submits application/pdf; on a raw queue the printer receives that very PDF."""
    import numpy as np

    cupsd.add_capture_queue("pdf1")
    driver, device = driver_for(cupsd.uri("pdf1")), cups_device(cupsd.uri("pdf1"))
    bitmap = np.zeros((40, driver.geometry.width_dots), dtype=bool)
    bitmap[10:30, 100:200] = True
    pdf = driver.encode(bitmap)
    device.write(pdf)
    assert driver.confirm(device, timeout=10)
    assert cupsd.captured("pdf1") == [pdf]
    assert pdf.startswith(b"%PDF")


def test_out_of_media_keeps_the_label_waiting_then_prints_it_once(cupsd: PrivateCupsd) -> None:
    """The backend's media-empty-error stops the queue: labeld sees media-empty and a waiting
    job; after the queue is re-enabled the same job prints, once, even if written again."""
    cupsd.add_capture_queue("dry")
    cupsd.set_media_empty("dry", True)
    driver, device = driver_for(cupsd.uri("dry")), cups_device(cupsd.uri("dry"))
    data = b"label one"
    device.write(data)
    started = time.monotonic()
    with pytest.raises(CupsJobWaiting) as waiting:
        driver.confirm(device, timeout=600)
    # Reaching the 600 s deadline would take 600 s: seeing the wait this side of a hang bound means
    # confirm() read the stopped queue from CUPS, as it should, instead of waiting the deadline out.
    assert time.monotonic() - started < 60, "a stopped queue is reported when CUPS stops it, not at the deadline"
    assert waiting.value.bytes_sent == 0
    assert waiting.value.reason == "media-empty"
    status = driver.status(device)
    assert status.blocked and "media-empty" in status.reasons and "paused" in status.reasons
    assert status.message == "out of labels"
    assert cupsd.captured("dry") == []

    cupsd.set_media_empty("dry", False)
    cupsd.enable("dry")
    device.write(data)  # the engine retrying the waiting label
    assert driver.confirm(device, timeout=10)
    assert cupsd.captured("dry") == [data]
    assert not driver.status(device).blocked


def test_disabled_queue_blocks_and_a_job_cancelled_in_cups_is_refused(cupsd: PrivateCupsd) -> None:
    """cupsdisable makes status() blocked (paused); a job someone cancels in CUPS is a failure."""
    cupsd.add_capture_queue("off")
    cupsd.disable("off", "maintenance")
    driver, device = driver_for(cupsd.uri("off")), cups_device(cupsd.uri("off"))
    status = driver.status(device)
    assert status.blocked and status.reasons == ("paused",) and status.message == "maintenance"
    device.write(b"never printed")
    assert device.last_job_id is not None
    cupsd.run("cancel", str(device.last_job_id))
    with pytest.raises(PrinterRefused, match="cancelled in CUPS"):
        driver.confirm(device, timeout=30)
    assert cupsd.captured("off") == []


def test_rejecting_queue_blocks(cupsd: PrivateCupsd) -> None:
    """A queue that rejects jobs (cupsreject) blocks instead of failing every label."""
    cupsd.add_capture_queue("rej")
    cupsd.run("cupsreject", "rej")
    driver, device = driver_for(cupsd.uri("rej")), cups_device(cupsd.uri("rej"))
    assert driver.status(device).blocked
    with pytest.raises(DeviceError) as refused:
        device.write(b"x")
    assert refused.value.reason == "paused"


def test_server_by_host_and_port(cupsd: PrivateCupsd) -> None:
    """cups://127.0.0.1:PORT/QUEUE reaches the same cupsd over TCP."""
    cupsd.add_capture_queue("tcp1")
    uri = cupsd.uri("tcp1", over_tcp=True)
    driver, device = driver_for(uri), cups_device(uri)
    device.write(b"over tcp")
    assert driver.confirm(device, timeout=10)
    assert cupsd.captured("tcp1") == [b"over tcp"]


def test_queue_alone_uses_cups_server_from_the_environment(cupsd: PrivateCupsd) -> None:
    """cups://QUEUE talks to the default server, here set by CUPS_SERVER (a fresh process,
    since libcups reads it once)."""
    cupsd.add_capture_queue("env1")
    script = (
        "from labeld.devices import open_device\n"
        "d = open_device('cups://env1'); d.write(b'via env'); print(d.last_job_id)\n"
    )
    env = {**os.environ, "CUPS_SERVER": cupsd.server}
    subprocess.run([sys.executable, "-c", script], env=env, check=True, timeout=60, capture_output=True)
    wait_for(lambda: cupsd.captured("env1") == [b"via env"])


def test_unknown_queue_names_the_problem(cupsd: PrivateCupsd) -> None:
    """A queue CUPS does not have is a DeviceError that says so."""
    driver, device = driver_for(cupsd.uri("nosuch")), cups_device(cupsd.uri("nosuch"))
    with pytest.raises(DeviceError, match="CUPS has no CUPS queue 'nosuch'"):
        driver.status(device)


def test_unreachable_server_is_offline() -> None:
    """A CUPS server that does not answer is a DeviceError with reason offline."""
    device = cups_device("cups://127.0.0.1:9/q")
    with pytest.raises(DeviceError) as error:
        device.printer_attributes()
    assert error.value.reason == "offline"


def test_pycups_is_the_real_one() -> None:
    """These tests run against the compiled pycups, not a stand-in."""
    assert cups.__file__ and cups.__file__.endswith(".so")
