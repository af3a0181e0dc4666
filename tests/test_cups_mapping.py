"""What CUPS says (IPP attributes, URIs) → what labeld understands, without a server."""

from __future__ import annotations

import subprocess
import sys
from urllib.parse import urlsplit

import pytest

from labeld.devices.cups import CupsJobState, CupsTarget, as_keywords, parse_cups_uri
from labeld.drivers.cups import job_failure, job_stuck, printer_status
from labeld.errors import DeviceError


def target(uri: str) -> CupsTarget:
    return parse_cups_uri(urlsplit(uri), uri)


def test_queue_alone_uses_the_default_server() -> None:
    """cups://QUEUE names a queue on whatever server CUPS_SERVER / client.conf say."""
    assert target("cups://Zebra_ZD420") == CupsTarget("Zebra_ZD420")


def test_host_and_port_name_a_remote_server() -> None:
    """cups://HOST:PORT/QUEUE reaches a central CUPS server."""
    assert target("cups://print.example:8631/ql820") == CupsTarget("ql820", "print.example", 8631)
    assert target("cups://print.example/ql820") == CupsTarget("ql820", "print.example", None)


def test_socket_path_names_a_local_server() -> None:
    """cups:///path/cups.sock/QUEUE talks to a cupsd through its Unix socket."""
    assert target("cups:///run/private/cups.sock/raw1") == CupsTarget("raw1", "/run/private/cups.sock")


@pytest.mark.parametrize("uri", ["cups:///raw1", "cups://host/a/b"])
def test_malformed_uris_say_how_to_write_them(uri: str) -> None:
    """A URI that names no queue (or too much) is refused with the form to use."""
    with pytest.raises(DeviceError, match="write cups://"):
        target(uri)


def test_keywords_come_as_str_or_list() -> None:
    """pycups returns one keyword as a string, several as a list, and 'none' for nothing."""
    assert as_keywords("none") == ()
    assert as_keywords("media-empty-error") == ("media-empty-error",)
    assert as_keywords(["media-empty-error", "paused"]) == ("media-empty-error", "paused")


def test_stopped_queue_out_of_media_blocks() -> None:
    """A queue stopped by a backend's media-empty-error blocks with media-empty and paused."""
    status = printer_status({"printer-state": 5, "printer-state-reasons": ["media-empty-error", "paused"],
                             "printer-state-message": "out of labels"}, "CUPS queue 'q'")
    assert status.blocked
    assert status.reasons == ("media-empty", "paused")
    assert status.message == "out of labels"
    assert status.detail["cups-state"] == "stopped"


def test_warnings_show_but_do_not_block_and_reports_are_dropped() -> None:
    """-warning keeps its suffix (shown, not blocking); -report is informational only."""
    status = printer_status({"printer-state": 3, "printer-state-reasons": [
        "media-low-warning", "toner-low-report"]}, "CUPS queue 'q'")
    assert not status.blocked
    assert status.reasons == ("media-low-warning",)


@pytest.mark.parametrize("reason", ["cover-open-error", "door-open", "media-jam-error", "offline-report"])
def test_errors_block_even_on_an_idle_queue(reason: str) -> None:
    """A printer error reported on a queue that has not (yet) stopped still blocks."""
    status = printer_status({"printer-state": 3, "printer-state-reasons": [reason]}, "CUPS queue 'q'")
    assert status.blocked == (not reason.endswith("-report"))


def test_stopped_or_rejecting_queue_blocks_even_without_reasons() -> None:
    """A stopped or job-rejecting queue keeps labeld's jobs waiting, and says why."""
    stopped = printer_status({"printer-state": 5, "printer-state-reasons": "none"}, "CUPS queue 'q'")
    rejecting = printer_status({"printer-state": 3, "printer-is-accepting-jobs": False}, "CUPS queue 'q'")
    assert stopped.blocked and stopped.reasons == ("paused",) and "stopped" in stopped.message
    assert rejecting.blocked and "rejecting" in rejecting.message


def test_busy_queue_is_busy_not_blocked() -> None:
    status = printer_status({"printer-state": 4, "printer-state-reasons": "none"}, "CUPS queue 'q'")
    assert status.busy and not status.blocked


def test_job_outcomes() -> None:
    """Aborted and cancelled jobs are failures; held, stopped and printer-stopped jobs are stuck."""
    assert job_failure(CupsJobState(7, 8, (), "filter failed")) == "CUPS aborted job 7: filter failed"
    assert job_failure(CupsJobState(7, 7, (), "")) == "CUPS job 7 was cancelled in CUPS"
    assert job_failure(CupsJobState(7, 9, (), "")) is None
    assert job_stuck(CupsJobState(7, 4, ("job-hold-until-specified",), ""))
    assert job_stuck(CupsJobState(7, 3, ("printer-stopped",), ""))
    assert not job_stuck(CupsJobState(7, 5, ("job-printing",), ""))


def test_without_pycups_self_check_says_what_to_install() -> None:
    """With pycups unimportable, a cups printer's self-check names the extra and the other
    drivers still load (a real interpreter in which ``import cups`` fails)."""
    script = (
        "import sys; sys.modules['cups'] = None\n"
        "from labeld.config import PrinterConfig\n"
        "from labeld.drivers import make_driver, known_drivers\n"
        "cups = make_driver(PrinterConfig(name='c', driver='cups', uri='cups://q', format='pdf'))\n"
        "preview = make_driver(PrinterConfig(name='p', driver='preview', uri='dir:///x'))\n"
        "print(cups.self_check()); print(preview.self_check()); print(known_drivers())\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True)
    lines = result.stdout.splitlines()
    assert lines[0] == ("the cups driver needs pycups, which is not installed: "
                        "pip install 'labeld[cups]' (needs the libcups2-dev package)")
    assert lines[1] == "None"
    assert "cups" in lines[2] and "preview" in lines[2]
