"""Configuration: typed values, every error at once with key and line, the example file validates."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from labeld.config import ConfigError, builtin_config, config_warnings, load_config, parse_config
from labeld.testing.daemon import DaemonProcess

ROOT = Path(__file__).resolve().parents[1]
MINIMAL_PRINTER = '[[printer]]\nname = "p"\ndriver = "preview"\nuri = "dir:///tmp/x"\n'


def test_example_config_validates() -> None:
    """config.example.toml, the documented starting point, loads without a problem."""
    config = load_config(ROOT / "config.example.toml")
    assert config.default_printer.name
    assert config.preflight.min_dpi == 300


def test_values_are_typed() -> None:
    """Durations become seconds, sizes bytes, relative paths resolve against the config's folder."""
    config = parse_config('[daemon]\nretention = "2d"\nstate_dir = "state"\n[intake]\nmax_file_size = "2MB"\n'
                          '[preflight]\nlabel_ttl = "4h"\n' + MINIMAL_PRINTER, Path("/etc/labeld/config.toml"))
    assert config.daemon.retention == 2 * 86400
    assert config.intake.max_file_size == 2_000_000
    assert config.preflight.label_ttl == 4 * 3600
    assert config.daemon.state_dir == Path("/etc/labeld/state")


def test_every_error_is_reported_at_once_with_key_and_line() -> None:
    """Three mistakes give three messages, each with the line and a hint where one exists."""
    text = '[daemon]\nstate_dirr = "x"\n[preflight]\nmin_dpi = "300"\non_low_dpi = "rejct"\n' + MINIMAL_PRINTER
    with pytest.raises(ConfigError) as caught:
        parse_config(text, Path("c.toml"))
    problems = caught.value.problems
    assert problems == [
        "c.toml:2: [daemon] state_dirr: unknown key; did you mean 'state_dir'?",
        "c.toml:4: [preflight] min_dpi: must be a whole number, not a string",
        "c.toml:5: [preflight] on_low_dpi: 'rejct' is not one of 'reject', 'hold', 'warn'; did you mean 'reject'?",
    ]


def test_unknown_section_and_route_to_missing_printer() -> None:
    """An unknown table and a route naming no printer are errors, not silence."""
    text = '[clok]\n' + MINIMAL_PRINTER + '[[route]]\nsize = "58x40mm"\nprinter = "pp"\n'
    with pytest.raises(ConfigError) as caught:
        parse_config(text)
    assert any("unknown section [clok]; did you mean 'clock'?" in p for p in caught.value.problems)


def test_route_to_missing_printer_is_named() -> None:
    text = MINIMAL_PRINTER + '[[route]]\nsize = "58x40mm"\nprinter = "pp"\n'
    with pytest.raises(ConfigError) as caught:
        parse_config(text)
    assert caught.value.problems == ["config:7: [[route]] #1 printer: no printer named 'pp'; did you mean 'p'?"]


def test_bad_media_and_uri_and_duplicate_names() -> None:
    text = MINIMAL_PRINTER + '[[printer]]\nname = "p"\ndriver = "zpl"\nuri = "ftp://x"\nmedia = "75x12"\n'
    with pytest.raises(ConfigError) as caught:
        parse_config(text)
    text_of = "\n".join(caught.value.problems)
    assert "'p' is used by more than one printer" in text_of
    assert "unknown media '75x12'" in text_of
    assert "'ftp://x': use one of" in text_of


def test_a_config_without_printers_is_refused() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config('[daemon]\nretention = "1d"\n')
    assert "no [[printer]]" in caught.value.problems[0]


def test_toml_syntax_error_names_the_line() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config('[daemon\n', Path("bad.toml"))
    assert caught.value.problems[0].startswith("bad.toml: ")
    assert "line 1" in caught.value.problems[0]


def test_builtin_defaults_use_labeld_data(tmp_path: Path) -> None:
    config = builtin_config(tmp_path / "labeld-data")
    assert config.intake.hot_folder == tmp_path / "labeld-data" / "inbox"
    assert config.default_printer.driver == "preview"
    assert config.default_printer.uri == f"dir://{tmp_path / 'labeld-data' / 'printed'}"


def test_check_config_command(tmp_path: Path) -> None:
    """`labeld check-config` prints the effective config and exits 0, or lists problems and exits 2."""
    good = subprocess.run([sys.executable, "-m", "labeld.cli.labeld_cmd", "check-config",
                           str(ROOT / "config.example.toml")], capture_output=True, text=True)
    assert good.returncode == 0, good.stderr
    assert "[[printer]]" in good.stdout
    bad_file = tmp_path / "bad.toml"
    bad_file.write_text('[intake]\nsettle = "soon"\n' + MINIMAL_PRINTER)
    bad = subprocess.run([sys.executable, "-m", "labeld.cli.labeld_cmd", "check-config", str(bad_file)],
                         capture_output=True, text=True)
    assert bad.returncode == 2
    assert f"{bad_file}:2: [intake] settle: 'soon' is not a duration" in bad.stderr


def test_check_config_warns_when_a_sources_ca_bundle_does_not_reach_its_label_links(tmp_path: Path) -> None:
    """An Ozon source with its own ``ca_bundle`` while ``[links] ca_bundle`` is unset (or another file):
    ``labeld check-config`` warns naming both keys and still passes; the same file in both is quiet."""
    ca = tmp_path / "private-ca.pem"
    other = tmp_path / "other-ca.pem"
    source = f'''
[[source]]
name = "ozon-main"
type = "ozon"
client_id = "123"
credential = "ozon-key"
ca_bundle = "{ca}"
'''

    def check(links: str) -> subprocess.CompletedProcess[str]:
        path = tmp_path / "labeld.toml"
        path.write_text(links + MINIMAL_PRINTER + source)
        return subprocess.run([sys.executable, "-m", "labeld.cli.labeld_cmd", "check-config", str(path)],
                              capture_output=True, text=True)

    unset = check("")
    assert unset.returncode == 0, unset.stderr
    warning = next(line for line in unset.stderr.splitlines() if line.startswith("# warning:"))
    assert "[[source]] ozon-main: ca_bundle is set" in warning and "[links] ca_bundle is unset" in warning
    assert f"set [links] ca_bundle = {str(ca)!r}" in warning and "file_url" in warning

    different = check(f'[links]\nca_bundle = "{other}"\n')
    assert different.returncode == 0, different.stderr
    assert f"but [links] ca_bundle is {str(other)!r}" in different.stderr

    same = check(f'[links]\nca_bundle = "{ca}"\n')
    assert same.returncode == 0, same.stderr
    assert "# warning" not in same.stderr
    assert config_warnings(parse_config(MINIMAL_PRINTER + source.replace('"ozon"', '"wildberries"')
                                        .replace('client_id = "123"\n', ""))) == []


def test_the_daemon_logs_the_ca_bundle_warning_at_start(tmp_path: Path, daemons: list[DaemonProcess]) -> None:
    """The same warning, once, in the daemon's start-up log (``config_warning``)."""
    key = tmp_path / "key"
    key.write_text("not-a-real-key\n")
    key.chmod(0o600)
    source = {"name": "ozon-main", "type": "ozon", "enabled": False, "client_id": "123",
              "api_key_file": str(key), "ca_bundle": str(tmp_path / "private-ca.pem")}
    daemon = DaemonProcess(tmp_path / "labeld", sources=[source])
    daemons.append(daemon)
    daemon.start()
    lines = [e for e in daemon.log_events() if e.get("event") == "config_warning"]
    assert len(lines) == 1 and lines[0]["level"] == "warning"
    assert "[[source]] ozon-main: ca_bundle is set" in lines[0]["warning"]
    assert "[links] ca_bundle is unset" in lines[0]["warning"]


def test_a_route_folder_may_not_be_a_printers_folder() -> None:
    """A printer's inbox folder always means that printer, so a [[route]] cannot claim it."""
    text = """
[[printer]]
name = "big"
driver = "preview"
uri = "dir:///tmp/x"

[[route]]
folder = "big"
printer = "big"
"""
    with pytest.raises(ConfigError) as refused:
        parse_config(text)
    assert any("route" in p and "folder" in p and "own inbox folder" in p for p in refused.value.problems)
