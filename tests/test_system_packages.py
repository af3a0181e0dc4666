"""labeld.system_packages: which pip extra and Debian packages a configuration's printers need."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from labeld.system_packages import (
    LOCAL_SERVER,
    PDF_FILTERS,
    PYCUPS_BUILD,
    QUEUE_FILTERS,
    PrinterUse,
    needs,
    printers_in,
)

REPO = Path(__file__).resolve().parent.parent


def names(printers: list[PrinterUse], client_conf: Path = Path("/nonexistent"), cups_queue: bool = False) -> list[str]:
    return [f"{need.kind}:{need.name}" for need in needs(printers, client_conf, cups_queue=cups_queue)]


def debs(*groups: tuple[str, ...]) -> list[str]:
    return [f"deb:{name}" for group in groups for name in group]


def test_printers_without_cups_need_nothing() -> None:
    """Brother, ZPL and preview printers run on labeld's own libraries: no extra, no package."""
    printers = [PrinterUse("ql", "brother_ql", "usb://0x04f9:0x209d"), PrinterUse("zd", "zpl", "tcp://10.0.0.5:9100"),
                PrinterUse("preview", "preview", "dir:///var/lib/labeld/preview")]
    assert names(printers) == []


def test_a_local_pdf_queue_needs_pycups_its_build_and_a_cups_server_with_filters() -> None:
    """``cups://QUEUE`` with no client.conf is this machine's cupsd; a PDF queue needs the filters too."""
    assert names([PrinterUse("office", "cups", "cups://office")]) == [
        "extra:cups", *debs(PYCUPS_BUILD, LOCAL_SERVER, PDF_FILTERS)]


def test_a_raw_queue_on_a_socket_or_loopback_needs_no_filters() -> None:
    """A raw ZPL queue on a Unix socket or 127.0.0.1 still needs the server, not the PDF filters."""
    for uri in ("cups:///run/cups/cups.sock/zebra", "cups://127.0.0.1:631/zebra", "cups://localhost/zebra"):
        assert names([PrinterUse("zebra", "cups", uri, "zpl")]) == ["extra:cups", *debs(PYCUPS_BUILD, LOCAL_SERVER)]


def test_a_queue_on_another_server_needs_only_the_client_side() -> None:
    """A warehouse's central CUPS named in the URI, or in client.conf, needs no server here."""
    assert names([PrinterUse("central", "cups", "cups://print.example.lan/zebra")]) == [
        "extra:cups", *debs(PYCUPS_BUILD)]


def test_client_conf_server_name_makes_the_default_server_remote(tmp_path: Path) -> None:
    """``ServerName print.example.lan:631`` in client.conf: ``cups://QUEUE`` is on that server."""
    client_conf = tmp_path / "client.conf"
    client_conf.write_text("# central CUPS\nServerName print.example.lan:631\n")
    assert names([PrinterUse("office", "cups", "cups://office")], client_conf) == ["extra:cups", *debs(PYCUPS_BUILD)]
    client_conf.write_text("ServerName /run/cups/cups.sock\n")
    assert "deb:cups-daemon" in names([PrinterUse("office", "cups", "cups://office")], client_conf)


def test_a_cups_queue_feeding_labeld_needs_the_server_and_its_filters_but_not_pycups() -> None:
    """``install.sh --cups-queue``: cupsd, lpadmin and the PDF-making filters; no pycups (the backend
    talks to labeld's socket, not to CUPS's library)."""
    assert names([], cups_queue=True) == debs(LOCAL_SERVER, QUEUE_FILTERS)
    done = subprocess.run([sys.executable, "-m", "labeld.system_packages", "--cups-queue"], capture_output=True,
                          text=True, timeout=60, check=True)
    assert [line.split()[1] for line in done.stdout.splitlines()] == [*LOCAL_SERVER, *QUEUE_FILTERS]


def test_each_package_is_named_once_for_many_printers() -> None:
    """Two local CUPS printers need each package once, with the first printer's reason."""
    printers = [PrinterUse("a", "cups", "cups://a"), PrinterUse("b", "cups", "cups://b")]
    found = needs(printers)
    assert len(found) == len({(n.kind, n.name) for n in found})
    assert all("'b'" not in n.why for n in found)


def test_reads_the_printer_tables_of_a_config_file(tmp_path: Path) -> None:
    """The command reads [[printer]] tables from the TOML and prints one ``KIND NAME WHY`` line each."""
    config = tmp_path / "config.toml"
    config.write_text('[daemon]\nstate_dir = "/var/lib/labeld"\n\n[[printer]]\nname = "office"\ndriver = "cups"\n'
                      'uri = "cups://print.example.lan/office"\nmedia = "62"\nformat = "brother_ql"\n')
    assert printers_in(config.read_text()) == [PrinterUse("office", "cups", "cups://print.example.lan/office",
                                                          "brother_ql")]
    done = subprocess.run([sys.executable, "-m", "labeld.system_packages", "--root", str(tmp_path), str(config)],
                          capture_output=True, text=True, timeout=60, check=True)
    lines = done.stdout.splitlines()
    assert lines[0] == "extra cups printer 'office' prints through CUPS with pycups"
    assert [line.split()[1] for line in lines[1:]] == list(PYCUPS_BUILD)


def test_an_unreadable_config_is_exit_1_with_a_sentence(tmp_path: Path) -> None:
    """Broken TOML: exit 1 and a sentence naming the file; install.sh then installs nothing extra."""
    config = tmp_path / "config.toml"
    config.write_text("[[printer]\n")
    done = subprocess.run([sys.executable, "-m", "labeld.system_packages", str(config)], capture_output=True,
                          text=True, timeout=60, check=False)
    assert done.returncode == 1 and done.stdout == ""
    assert done.stderr.startswith(f"cannot tell what {config} needs:")
