"""The systemd unit, sysusers.d, tmpfiles.d and udev files, checked by systemd's own tools.

There is no systemd running as PID 1 here, so everything is checked offline against a scratch
root: the unit as shipped is copied into it, with executable stubs at the paths its Exec lines name.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
UNIT = REPO / "systemd" / "labeld.service"
SYSUSERS = REPO / "systemd" / "labeld.sysusers.conf"
TMPFILES = REPO / "systemd" / "labeld.tmpfiles.conf"
RULES = REPO / "udev" / "60-labeld-printers.rules"
SECURITY_THRESHOLD = 2.0

needs_systemd = pytest.mark.skipif(shutil.which("systemd-analyze") is None,
                                   reason="systemd-analyze missing: apt-get install -y systemd")


def unit_settings() -> dict[str, list[str]]:
    settings: dict[str, list[str]] = {}
    for line in UNIT.read_text().splitlines():
        if "=" in line and not line.startswith(("#", "[")):
            key, value = line.split("=", 1)
            settings.setdefault(key, []).append(value)
    return settings


@pytest.fixture
def scratch_root(tmp_path: Path) -> Path:
    """A root with the unit installed and a stub at every absolute path its Exec lines run."""
    root = tmp_path / "root"
    (root / "etc/systemd/system").mkdir(parents=True)
    shutil.copy(UNIT, root / "etc/systemd/system/labeld.service")
    for key, values in unit_settings().items():
        if key.startswith("Exec"):
            for value in values:
                stub = root / value.split()[0].lstrip("-@+!:").lstrip("/")
                stub.parent.mkdir(parents=True, exist_ok=True)
                stub.write_text("#!/bin/sh\nexit 0\n")
                stub.chmod(0o755)
    return root


def run(*command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, capture_output=True, text=True, timeout=60)


def verify_problems(root: Path) -> str:
    """What ``systemd-analyze verify`` says about the unit; it warns (exit 0) about bad values, so both count."""
    result = run("systemd-analyze", "verify", "--man=no", "--recursive-errors=no", f"--root={root}", "labeld.service")
    problems = [line for line in result.stderr.splitlines() if "labeld.service" in line]
    if result.returncode != 0:
        problems.append(f"exit status {result.returncode}: {result.stderr}")
    return "\n".join(problems)


@needs_systemd
def test_unit_verifies(scratch_root: Path) -> None:
    """systemd-analyze verify finds nothing wrong with the unit as shipped."""
    assert verify_problems(scratch_root) == ""


@needs_systemd
def test_verify_catches_a_broken_unit(scratch_root: Path) -> None:
    """The check above has teeth: a misspelt setting in the same place fails it."""
    unit = scratch_root / "etc/systemd/system/labeld.service"
    unit.write_text(unit.read_text().replace("Type=notify", "Type=notfy"))
    assert "Failed to parse service type" in verify_problems(scratch_root)


@needs_systemd
def test_security_score_is_in_the_ok_band(scratch_root: Path) -> None:
    """systemd-analyze security scores the unit at or below the threshold the docs record."""
    # --threshold counts in tenths in systemd 252: 20 means 2.0.
    result = run("systemd-analyze", "security", "--offline=true", f"--threshold={round(SECURITY_THRESHOLD * 10)}",
                 f"--root={scratch_root}", "labeld.service")
    match = re.search(r"Overall exposure level for labeld\.service: (\d+\.\d) (\w+)", result.stdout)
    assert match, result.stdout + result.stderr
    assert result.returncode == 0, result.stdout[-2000:]
    score, band = float(match.group(1)), match.group(2)
    assert score <= SECURITY_THRESHOLD and band in ("OK", "SAFE", "PERFECT")
    documented = (REPO / "docs/operators/systemd.md").read_text()
    assert f"labeld.service: {score:.1f} {band}" in documented


def test_unit_runs_the_daemon_as_the_contract_says() -> None:
    """The settings everything else relies on: notify, watchdog, restart, user, folders, exec line."""
    settings = unit_settings()
    assert settings["Type"] == ["notify"]
    assert settings["ExecStart"] == ["/opt/labeld/venv/bin/labeld run --config /etc/labeld/config.toml"]
    assert settings["Restart"] == ["on-failure"]
    assert settings["WatchdogSec"] and settings["User"] == ["labeld"] and settings["SupplementaryGroups"] == ["lp"]
    for folder in ("StateDirectory", "RuntimeDirectory", "ConfigurationDirectory"):
        assert settings[folder] == ["labeld"]
    assert "PrivateUsers" not in settings, "PrivateUsers would hide clients' uids from SO_PEERCRED"
    assert "~@resources" not in " ".join(settings["SystemCallFilter"]), "the render worker needs setrlimit"


@needs_systemd
def test_sysusers_and_tmpfiles_build_a_working_tree(tmp_path: Path) -> None:
    """In a scratch root, sysusers creates the labeld user in lp, and tmpfiles its folders owned by it."""
    root = tmp_path / "root"
    (root / "etc").mkdir(parents=True)
    result = run("systemd-sysusers", f"--root={root}", str(SYSUSERS))
    assert result.returncode == 0, result.stderr
    passwd = dict(line.split(":", 1) for line in (root / "etc/passwd").read_text().splitlines())
    uid = int(passwd["labeld"].split(":")[1])
    group_lines = {line.split(":")[0]: line.split(":") for line in (root / "etc/group").read_text().splitlines()}
    assert "labeld" in group_lines["lp"][3].split(",")
    result = run("systemd-tmpfiles", f"--root={root}", "--create", str(TMPFILES))
    assert result.returncode == 0, result.stderr
    inbox = root / "var/spool/labeld/inbox"
    assert inbox.stat().st_uid == uid
    assert oct(inbox.stat().st_mode & 0o7777) == "0o2770"
    assert (root / "var/lib/labeld").stat().st_uid == uid
    assert oct((root / "var/spool/labeld/archive").stat().st_mode & 0o7777) == "0o2750"


RULE_TOKEN = re.compile(r'\s*([A-Z_]+(?:\{[^}]+\})?)\s*(==|!=|\+=|-=|:=|=)\s*"([^"]*)"\s*(?:,|$)')
MATCH_KEYS = {"ACTION", "SUBSYSTEM", "SUBSYSTEMS", "KERNEL", "ENV", "ATTR", "ATTRS"}
ASSIGN_KEYS = {"GROUP", "MODE", "TAG", "SYMLINK", "ENV", "RUN", "IMPORT", "GOTO", "LABEL"}


def rule_lines() -> list[list[tuple[str, str, str]]]:
    rules = []
    for line in RULES.read_text().splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        tokens = RULE_TOKEN.findall(line)
        assert "".join(f'{k}{o}"{v}"' for k, o, v in tokens) == re.sub(r'\s*,\s*|\s+(?=")', "", line), line
        rules.append(tokens)
    return rules


def test_udev_rules_are_well_formed() -> None:
    """Every line is KEY op "value" pairs with known keys, and every GOTO has its LABEL."""
    gotos, labels = set(), set()
    for tokens in rule_lines():
        for key, op, value in tokens:
            name = key.split("{")[0]
            allowed = MATCH_KEYS if op in ("==", "!=") else ASSIGN_KEYS
            assert name in allowed, (key, op)
            if name == "GOTO":
                gotos.add(value)
            if name == "LABEL":
                labels.add(value)
    assert gotos <= labels and labels


def test_udev_rules_cover_brother_and_zebra_as_the_issue_asks() -> None:
    """Both vendors, group lp, 0660, uaccess, stable symlinks, systemd tagging and a nudge for labeld."""
    text = RULES.read_text()
    assert 'ATTR{idVendor}=="04f9"' in text and 'ATTR{idVendor}=="0a5f"' in text
    assert 'ATTRS{idVendor}=="04f9|0a5f"' in text
    assert text.count('GROUP="lp", MODE="0660", TAG+="uaccess"') == 2
    assert 'SYMLINK+="labelprinter/$env{ID_MODEL}-$env{ID_SERIAL_SHORT}"' in text
    assert 'TAG+="systemd"' in text and 'ENV{SYSTEMD_WANTS}+="labeld.service"' in text
    assert "try-reload-or-restart labeld.service" in text
