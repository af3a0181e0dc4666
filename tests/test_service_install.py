"""scripts/install.sh and uninstall.sh into a scratch DESTDIR: the expected files, nothing outside it."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from labeld.config import load_config
from tests.cups_helpers import backend_text

REPO = Path(__file__).resolve().parent.parent
SYSTEM_TOOLS = ("systemctl", "udevadm", "systemd-sysusers", "systemd-tmpfiles", "useradd", "chgrp", "chown", "apt-get",
                "dpkg-query")
INSTALLED = (
    "etc/systemd/system/labeld.service",
    "etc/sysusers.d/labeld.conf",
    "etc/tmpfiles.d/labeld.conf",
    "etc/udev/rules.d/60-labeld-printers.rules",
    "etc/labeld/config.toml",
    "opt/labeld/share/doc/labeld/install.md",
    "opt/labeld/share/doc/labeld/troubleshooting.md",
    "usr/lib/cups/backend/labeld",
    "usr/share/cups/model/labeld.ppd",
)


@pytest.fixture
def tools_log(tmp_path: Path) -> Path:
    """Stubs that shadow the system tools and log any call: a staged install must make none."""
    stubs = tmp_path / "stubs"
    stubs.mkdir()
    log = tmp_path / "tools.log"
    for tool in SYSTEM_TOOLS:
        stub = stubs / tool
        stub.write_text(f'#!/bin/sh\necho "{tool} $*" >> "{log}"\n')
        stub.chmod(0o755)
    return log


def run_script(name: str, destdir: Path, tools_log: Path, *args: str, **env: str) -> str:
    environment = {**os.environ, "DESTDIR": str(destdir), "LABELD_INSTALL_SKIP_VENV": "1",
                   "PATH": f"{tools_log.parent / 'stubs'}:{os.environ['PATH']}", **env}
    result = subprocess.run(["sh", str(REPO / "scripts" / name), *args], env=environment, capture_output=True,
                            text=True, timeout=30)
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_install_into_destdir_produces_the_expected_files(tmp_path: Path, tools_log: Path) -> None:
    """Units, rules, sysusers, tmpfiles, config and docs land under DESTDIR, and no system tool runs."""
    root = tmp_path / "root"
    output = run_script("install.sh", root, tools_log)
    for path in INSTALLED:
        assert (root / path).is_file(), path
    assert (root / "etc/udev/rules.d/60-labeld-printers.rules").read_bytes() == (
        REPO / "udev/60-labeld-printers.rules").read_bytes()
    assert (root / "etc/systemd/system/labeld.service").read_text() == (REPO / "systemd/labeld.service").read_text()
    assert os.readlink(root / "usr/local/bin/labelctl") == "/opt/labeld/venv/bin/labelctl"
    assert not tools_log.exists(), tools_log.read_text()
    assert "staged install" in output
    assert not (root / "opt/labeld/venv").exists()


def test_installed_config_is_valid_and_private(tmp_path: Path, tools_log: Path) -> None:
    """The starting config loads with labeld's own parser, and is not world-readable."""
    root = tmp_path / "root"
    run_script("install.sh", root, tools_log)
    config_path = root / "etc/labeld/config.toml"
    config = load_config(config_path)
    assert config.daemon.socket_group == "labeld"
    assert config.daemon.submit_users == ("lp",)
    assert [p.driver for p in config.printers] == ["preview"]
    assert config_path.stat().st_mode & 0o777 == 0o640


def test_reinstall_keeps_an_edited_config(tmp_path: Path, tools_log: Path) -> None:
    """Running install.sh again (an upgrade) never overwrites the admin's configuration."""
    root = tmp_path / "root"
    run_script("install.sh", root, tools_log)
    config_path = root / "etc/labeld/config.toml"
    config_path.write_text(config_path.read_text().replace('name = "preview"', 'name = "desk"'))
    output = run_script("install.sh", root, tools_log)
    assert 'name = "desk"' in config_path.read_text()
    assert "kept the existing" in output


def test_a_cups_printer_in_the_config_names_the_packages_it_needs(tmp_path: Path, tools_log: Path) -> None:
    """An existing config with a CUPS queue on this machine: install.sh says which Debian packages
    and pip extra it needs, with the exact apt-get line, and (staged) installs none of them."""
    root = tmp_path / "root"
    config = root / "etc/labeld/config.toml"
    config.parent.mkdir(parents=True)
    config.write_text('[[printer]]\nname = "office"\ndriver = "cups"\nuri = "cups://office"\nmedia = "75x120mm"\n')
    output = run_script("install.sh", root, tools_log)
    assert "printer 'office' prints through CUPS with pycups: labeld[cups]" in output
    assert ("install them with: apt-get install --no-install-recommends gcc python3-dev pkg-config libcups2-dev "
            "cups-daemon cups-client cups cups-filters") in output
    assert not tools_log.exists(), tools_log.read_text()


def test_a_config_without_cups_needs_no_packages(tmp_path: Path, tools_log: Path) -> None:
    """The starting config (a preview printer) asks for nothing beyond the virtualenv, as before."""
    root = tmp_path / "root"
    run_script("install.sh", root, tools_log)
    output = run_script("install.sh", root, tools_log)
    assert "Debian packages" not in output and "labeld[" not in output


def test_prefix_rewrites_the_unit(tmp_path: Path, tools_log: Path) -> None:
    """A different PREFIX is where the unit's ExecStart and the command links point."""
    root = tmp_path / "root"
    run_script("install.sh", root, tools_log, PREFIX="/srv/labeld")
    unit = (root / "etc/systemd/system/labeld.service").read_text()
    assert "ExecStart=/srv/labeld/venv/bin/labeld run --config /etc/labeld/config.toml" in unit
    assert "/opt/labeld" not in unit
    assert (root / "srv/labeld/share/doc/labeld/udev.md").is_file()


def test_uninstall_removes_the_install_and_keeps_data_unless_purged(tmp_path: Path, tools_log: Path) -> None:
    """uninstall.sh removes what install.sh put there; config stays, --purge removes it too."""
    root = tmp_path / "root"
    run_script("install.sh", root, tools_log)
    spool = root / "var/spool/labeld/inbox"
    spool.mkdir(parents=True)
    run_script("uninstall.sh", root, tools_log)
    for path in INSTALLED:
        assert (root / path).exists() == (path == "etc/labeld/config.toml"), path
    assert not (root / "usr/local/bin/labelctl").is_symlink()
    assert spool.is_dir()
    run_script("uninstall.sh", root, tools_log, "--purge")
    assert not (root / "etc/labeld").exists() and not (root / "var/spool/labeld").exists()
    assert not tools_log.exists()


def test_unknown_option_is_a_usage_error_before_anything_happens() -> None:
    """A mistyped option stops install.sh with exit 2 before it checks or touches anything."""
    result = subprocess.run(["sh", str(REPO / "scripts/install.sh"), "--bogus"], capture_output=True, text=True,
                            timeout=30)
    assert result.returncode == 2 and "unknown option --bogus" in result.stderr


def test_cups_backend_gets_labelds_interpreter_and_runs_as_lp(tmp_path: Path, tools_log: Path) -> None:
    """The backend is the repository's, with the virtualenv's Python on its first line, mode 0755
    (cupsd runs it as lp, not root); the PPD is copied as it is; PREFIX moves the interpreter."""
    root = tmp_path / "root"
    run_script("install.sh", root, tools_log)
    backend = root / "usr/lib/cups/backend/labeld"
    assert backend.read_text() == backend_text("/opt/labeld/venv/bin/python")
    assert backend.stat().st_mode & 0o777 == 0o755
    assert (root / "usr/share/cups/model/labeld.ppd").read_bytes() == (REPO / "cups/labeld.ppd").read_bytes()
    other = tmp_path / "other"
    run_script("install.sh", other, tools_log, PREFIX="/srv/labeld", CUPS_SERVERBIN="/usr/local/lib/cups")
    assert (other / "usr/local/lib/cups/backend/labeld").read_text().startswith("#!/srv/labeld/venv/bin/python\n")
    assert not tools_log.exists()


def test_cups_queue_option_in_a_staged_install_prints_the_lpadmin_line(tmp_path: Path, tools_log: Path) -> None:
    """--cups-queue NAME=PRINTER stages no CUPS change but says the exact lpadmin line; bad names are usage errors."""
    output = run_script("install.sh", tmp_path / "root", tools_log, "--cups-queue", "ozon-labels=zd420")
    assert ("lpadmin -p ozon-labels -E -v labeld:/zd420 -P /usr/share/cups/model/labeld.ppd -D 'labeld zd420' "
            "-o printer-error-policy=abort-job") in output
    assert ("install them with: apt-get install --no-install-recommends cups-daemon cups-client cups cups-filters "
            "ghostscript") in output
    routed = run_script("install.sh", tmp_path / "root2", tools_log, "--cups-queue=labels")
    assert "-v labeld:/ -P" in routed
    assert not tools_log.exists()
    for bad in ("with space", "a/b", "ok=bad/printer"):
        result = subprocess.run(["sh", str(REPO / "scripts/install.sh"), "--cups-queue", bad], capture_output=True,
                                text=True, timeout=30)
        assert result.returncode == 2 and "--cups-queue" in result.stderr, bad
