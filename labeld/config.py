"""Configuration: TOML in, immutable typed objects out, every problem reported at once.

The schema is the dataclasses below; each field's ``metadata["kind"]`` says how its TOML value
is read. Unknown keys are errors with a "did you mean" hint, and every error names the key and,
where the file shows it, the line.
"""

from __future__ import annotations

import dataclasses
import difflib
import ipaddress
import os
import re
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

from labeld.credentials import SecretUnavailable, credential_path, read_secret_file
from labeld.devices import known_schemes
from labeld.devices.snmp import AUTH_PROTOCOLS, PRIV_PROTOCOLS, parse_target
from labeld.durations import parse_duration, parse_size
from labeld.errors import ConfigError
from labeld.media import parse_media

SYSTEM_CONFIG = Path("/etc/labeld/config.toml")
BUILTIN_DATA_DIR = Path("labeld-data")
PRINTER_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
POLICY_REJECT_HOLD_WARN = ("reject", "hold", "warn")
STATUS_MODES = ("auto", "snmp", "none")
#: URI schemes on which a printer's status can come over SNMP.
SNMP_SCHEMES = ("tcp", "socket")


def _kind(kind: str, default: Any = dataclasses.MISSING, **extra: Any) -> Any:
    meta = {"kind": kind, **extra}
    if isinstance(default, (list, dict)):
        return field(default_factory=lambda: default, metadata=meta)
    return field(default=default, metadata=meta)


@dataclass(frozen=True)
class DaemonConfig:
    state_dir: Path = _kind("path", Path("/var/lib/labeld"))
    socket: Path = _kind("path", Path("/run/labeld/labeld.sock"))
    socket_group: str = _kind("str", "labeld")
    #: Users who may only submit documents and follow their jobs on the socket (the CUPS backend's ``lp``).
    submit_users: tuple[str, ...] = _kind("strings", ())
    retention: float = _kind("duration", 7 * 86400.0)
    log_level: str = _kind("choice", "info", choices=("debug", "info", "warning", "error"))


@dataclass(frozen=True)
class IntakeConfig:
    hot_folder: Path = _kind("path", Path("/var/spool/labeld/inbox"))
    archive: Path = _kind("path", Path("/var/spool/labeld/archive"))
    rejected: Path = _kind("path", Path("/var/spool/labeld/rejected"))
    keep: bool = _kind("bool", True)
    poll: bool = _kind("bool", False)
    settle: float = _kind("duration", 1.0)
    max_file_size: int = _kind("size", 64 * 1000 * 1000)
    max_pages: int = _kind("int", 2000, minimum=1)
    max_page_mm: float = _kind("float", 600.0, minimum=10.0)
    min_free_space: int = _kind("size", 50 * 1000 * 1000)


@dataclass(frozen=True)
class RenderConfig:
    threshold: int = _kind("int", 128, minimum=1, maximum=255)
    timeout: float = _kind("duration", 30.0)
    memory_limit: int = _kind("size", 1024 * 1024 * 1024)
    min_zoom: float = _kind("float", 0.8, minimum=0.1, maximum=1.0)


@dataclass(frozen=True)
class PreflightConfig:
    min_dpi: int = _kind("int", 300, minimum=1)
    on_low_dpi: str = _kind("choice", "reject", choices=POLICY_REJECT_HOLD_WARN)
    verify_barcodes: bool = _kind("bool", True)
    on_unreadable: str = _kind("choice", "hold", choices=POLICY_REJECT_HOLD_WARN)
    barcode_repair: str = _kind("choice", "auto", choices=("auto", "off"))
    label_ttl: float = _kind("duration", 4 * 3600.0)
    warn_before: float = _kind("duration", 15 * 60.0)
    on_expired: str = _kind("choice", "hold", choices=("hold", "print", "reject"))
    posting_pattern: str = _kind("regex", r"\b\d{8}-\d{4}-\d{1,2}\b")
    dedupe: bool = _kind("bool", True)


@dataclass(frozen=True)
class ClockConfig:
    servers: tuple[str, ...] = _kind("strings", ("127.0.0.1",))
    interval: float = _kind("duration", 300.0)
    max_offset: float = _kind("duration", 5.0)
    timeout: float = _kind("duration", 2.0)
    local_sources: bool = _kind("bool", True)


@dataclass(frozen=True)
class LinksConfig:
    """Labels that arrive as a link (label_url): how labeld fetches them (labeld.intake.remote)."""

    ca_bundle: Path | None = _kind("path", None)
    connect_timeout: float = _kind("duration", 10.0)
    read_timeout: float = _kind("duration", 30.0)
    tries: int = _kind("int", 3, minimum=1, maximum=20)
    backoff: float = _kind("duration", 2.0)
    concurrency: int = _kind("int", 4, minimum=1, maximum=32)
    clock_recheck_after: float = _kind("duration", 600.0)


@dataclass(frozen=True)
class WebConfig:
    """The station page (labeld.web): where it listens and who may use it."""

    listen: tuple[str, ...] = _kind("addresses", ("127.0.0.1:8631",))
    password_file: Path | None = _kind("path", None)
    hosts: tuple[str, ...] = _kind("strings", ())
    scan_action: str = _kind("choice", "show", choices=("show", "reprint"))
    session_lifetime: float = _kind("duration", 7 * 86400.0)
    metrics_token_file: Path | None = _kind("path", None)
    metrics_networks: tuple[str, ...] = _kind("networks", ())


@dataclass(frozen=True)
class PrinterConfig:
    name: str = _kind("name")
    driver: str = _kind("choice", choices=("brother_ql", "zpl", "cups", "preview"))
    uri: str = _kind("str")
    media: str = _kind("str", "75x120mm")
    model: str = _kind("str", "")
    dpi: int = _kind("int", 0, minimum=0, maximum=1200)
    default: bool = _kind("bool", False)
    darkness: int | None = _kind("int", None, minimum=0, maximum=30)
    speed: float | None = _kind("float", None, minimum=0.5)
    mode: str = _kind("choice", "tear", choices=("tear", "peel", "cut"))
    format: str = _kind("choice", "", choices=("", "pdf", "zpl", "brother_ql"))
    cut: bool = _kind("bool", True)
    red: bool = _kind("bool", False)
    confirm_timeout: float = _kind("duration", 30.0)
    #: Send the next label while the last one prints (ZPL with ``~HS``): opt-in, docs/decisions.md (#23).
    pipeline: bool = _kind("bool", False)
    #: How often an idle printer is asked how it is (0 never): a printer switched off shows ``offline``.
    probe_interval: float = _kind("duration", 10.0)
    # Status of network printers over SNMP (#22): docs/devdocs/SNMP.md
    status: str = _kind("choice", "auto", choices=STATUS_MODES)
    status_lost: str = _kind("choice", "write-only", choices=("write-only", "wait"))
    snmp: str = _kind("str", "")
    snmp_community_file: Path | None = _kind("path", None)
    snmp_user: str = _kind("str", "")
    snmp_auth_protocol: str = _kind("choice", "sha", choices=tuple(AUTH_PROTOCOLS))
    snmp_auth_key_file: Path | None = _kind("path", None)
    snmp_priv_protocol: str = _kind("choice", "aes", choices=tuple(PRIV_PROTOCOLS))
    snmp_priv_key_file: Path | None = _kind("path", None)


@dataclass(frozen=True)
class RouteConfig:
    printer: str = _kind("str")
    size: str | None = _kind("str", None)
    #: An inbox subfolder (not a printer's) whose files this route takes: ``inbox/<folder>/``.
    folder: str | None = _kind("name", None)


@dataclass(frozen=True)
class SourceConfig:
    """A marketplace account that labeld polls for labels (``[[source]]``, docs/operators/marketplaces.md)."""

    name: str = _kind("name")
    type: str = _kind("choice", choices=("ozon", "wildberries"))
    enabled: bool = _kind("bool", True)
    client_id: str = _kind("str", "")
    api_key_file: Path | None = _kind("path", None)
    credential: str = _kind("str", "")
    base_url: str = _kind("str", "")
    ca_bundle: Path | None = _kind("path", None)
    interval: float = _kind("duration", 60.0)
    printer: str = _kind("str", "")
    label_size: str = _kind("choice", "auto", choices=("auto", "big", "small"))
    label_flow: str = _kind("choice", "task", choices=("task", "sync"))
    paths: tuple[tuple[str, str], ...] = _kind("paths", ())
    warehouse_ids: tuple[int, ...] = _kind("ints", ())
    supplies: tuple[str, ...] = _kind("strings", ())
    sticker_size: str = _kind("choice", "58x40", choices=("58x40", "40x30"))
    rate: float = _kind("float", 5.0, minimum=0.01, maximum=50.0)
    lookback: float = _kind("duration", 3 * 86400.0)
    not_ready_retry: float = _kind("duration", 30.0)
    max_backoff: float = _kind("duration", 900.0)
    timeout: float = _kind("duration", 30.0)
    per_poll: int = _kind("int", 200, minimum=1, maximum=10000)


@dataclass(frozen=True)
class Config:
    daemon: DaemonConfig = field(default_factory=DaemonConfig)
    intake: IntakeConfig = field(default_factory=IntakeConfig)
    render: RenderConfig = field(default_factory=RenderConfig)
    preflight: PreflightConfig = field(default_factory=PreflightConfig)
    clock: ClockConfig = field(default_factory=ClockConfig)
    web: WebConfig = field(default_factory=WebConfig)
    links: LinksConfig = field(default_factory=LinksConfig)
    printers: tuple[PrinterConfig, ...] = ()
    routes: tuple[RouteConfig, ...] = ()
    sources: tuple[SourceConfig, ...] = ()
    source: Path | None = None

    @property
    def default_printer(self) -> PrinterConfig:
        return next((p for p in self.printers if p.default), self.printers[0])

    def printer(self, name: str) -> PrinterConfig | None:
        return next((p for p in self.printers if p.name == name), None)


_SECTIONS: dict[str, type] = {
    "daemon": DaemonConfig,
    "intake": IntakeConfig,
    "render": RenderConfig,
    "preflight": PreflightConfig,
    "clock": ClockConfig,
    "web": WebConfig,
    "links": LinksConfig,
}
_ARRAYS: dict[str, type] = {"printer": PrinterConfig, "route": RouteConfig, "source": SourceConfig}
T = TypeVar("T")


def builtin_config(base: Path | None = None) -> Config:
    """The defaults a new user gets: everything under ``./labeld-data/``, one preview printer."""
    base = (base or BUILTIN_DATA_DIR).absolute()
    return Config(
        daemon=DaemonConfig(state_dir=base / "state", socket=base / "labeld.sock", socket_group=""),
        intake=IntakeConfig(hot_folder=base / "inbox", archive=base / "archive", rejected=base / "rejected"),
        clock=ClockConfig(servers=()),
        printers=(
            PrinterConfig(
                name="preview", driver="preview", uri=f"dir://{base / 'printed'}",
                media="75x120mm", dpi=300, default=True,
            ),
        ),
    )


def load_config(path: Path) -> Config:
    """Read and validate ``path``; raises :class:`ConfigError` listing every problem."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise ConfigError([f"{path}: cannot read: {error.strerror}"]) from error
    except UnicodeDecodeError as error:
        raise ConfigError([f"{path}: not UTF-8 text ({error.reason} at byte {error.start})"]) from error
    return parse_config(text, path)


def parse_config(text: str, path: Path | None = None) -> Config:
    where = str(path) if path else "config"
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise ConfigError([f"{where}: {error}"]) from error
    reader = _Reader(where, _key_lines(text), path.parent if path else Path.cwd())
    config = reader.read(data)
    if reader.problems:
        raise ConfigError(reader.problems)
    return dataclasses.replace(config, source=path)


def resolve_config(path: Path | None) -> Config:
    """``--config`` if given, else /etc/labeld/config.toml if present, else the built-in defaults."""
    if path is not None:
        return load_config(path)
    if SYSTEM_CONFIG.exists():
        return load_config(SYSTEM_CONFIG)
    return builtin_config()


class _Reader:
    def __init__(self, where: str, lines: dict[tuple[str, int, str], int], base_dir: Path) -> None:
        self.where = where
        self.lines = lines
        self.base_dir = base_dir
        self.problems: list[str] = []

    def problem(self, table: str, index: int, key: str, message: str) -> None:
        line = self.lines.get((table, index, key))
        at = f"{self.where}:{line}" if line else self.where
        label = f"[{table}]" if index < 0 else f"[[{table}]] #{index + 1}"
        self.problems.append(f"{at}: {label} {key}: {message}" if key else f"{at}: {label}: {message}")

    def read(self, data: Mapping[str, Any]) -> Config:
        sections: dict[str, Any] = {}
        for name, value in data.items():
            if name in _SECTIONS:
                if isinstance(value, dict):
                    sections[name] = self.table(name, -1, value, _SECTIONS[name])
                else:
                    self.problem(name, -1, "", "must be a table: write it as [" + name + "]")
            elif name in _ARRAYS:
                if isinstance(value, list) and all(isinstance(v, dict) for v in value):
                    sections[name] = tuple(self.table(name, i, v, _ARRAYS[name]) for i, v in enumerate(value))
                else:
                    self.problem(name, -1, "", f"must be an array of tables: write each as [[{name}]]")
            else:
                self.unknown(name, -1, name, [*_SECTIONS, *_ARRAYS])
        given_printers = sections.pop("printer", ())
        printers = tuple(p for p in given_printers if p is not None)
        routes = tuple(r for r in sections.pop("route", ()) if r is not None)
        sources = tuple(s for s in sections.pop("source", ()) if s is not None)
        if not given_printers:
            self.problems.append(f"{self.where}: no [[printer]]: add at least one (driver = \"preview\" writes PNGs)")
        config = Config(
            **{k: v for k, v in sections.items() if v is not None},
            printers=printers or builtin_config().printers,
            routes=routes,
            sources=sources,
        )
        self.check_printers(config)
        self.check_web(config.web)
        self.check_sources(config)
        return config

    def check_snmp(self, i: int, printer: PrinterConfig) -> None:
        """The SNMP keys of one printer agree with each other and with its uri (secret files exist;
        they are read, never shown, when the printer starts)."""
        network = urlsplit(printer.uri).scheme in SNMP_SCHEMES and printer.driver in ("brother_ql", "zpl")
        if printer.status == "snmp" and not network:
            self.problem("printer", i, "status", '"snmp" is for brother_ql and zpl printers on tcp:// '
                         f"(this one is {printer.driver} on {printer.uri.split('://', 1)[0]}://)")
        try:
            parse_target(printer.snmp, urlsplit(printer.uri).hostname or "")
        except ValueError as error:
            self.problem("printer", i, "snmp", str(error))
        v3 = {"snmp_auth_key_file": printer.snmp_auth_key_file, "snmp_priv_key_file": printer.snmp_priv_key_file}
        for key, path in (("snmp_community_file", printer.snmp_community_file), *v3.items()):
            if path is not None:
                try:
                    read_secret_file(path)
                except SecretUnavailable as error:
                    self.problem("printer", i, key, str(error))
        if not printer.snmp_user and any(v3.values()):
            self.problem("printer", i, "snmp_user", "SNMPv3 keys are given, but no snmp_user")
        if printer.snmp_user and printer.snmp_community_file is not None:
            self.problem("printer", i, "snmp_community_file", "give either a v2c community or an SNMPv3 "
                         "snmp_user, not both")
        if printer.snmp_priv_key_file is not None and printer.snmp_auth_key_file is None:
            self.problem("printer", i, "snmp_priv_key_file", "SNMPv3 privacy needs authentication too: "
                         "add snmp_auth_key_file")

    def unknown(self, table: str, index: int, key: str, valid: list[str]) -> None:
        hint = difflib.get_close_matches(key, valid, n=1)
        suggestion = f"; did you mean {hint[0]!r}?" if hint else f"; known keys: {', '.join(valid)}"
        if index < 0 and table == key:
            self.problems.append(f"{self.where}: unknown section [{key}]{suggestion}")
        else:
            self.problem(table, index, key, f"unknown key{suggestion}")

    def table(self, table: str, index: int, values: Mapping[str, Any], cls: type[T]) -> T | None:
        fields = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
        kwargs: dict[str, Any] = {}
        ok = True
        for key, raw in values.items():
            spec = fields.get(key)
            if spec is None:
                self.unknown(table, index, key, list(fields))
                ok = False
                continue
            try:
                kwargs[key] = self.convert(raw, spec)
            except ValueError as error:
                self.problem(table, index, key, str(error))
                ok = False
        for name, spec in fields.items():
            required = spec.default is dataclasses.MISSING and spec.default_factory is dataclasses.MISSING
            if name not in values and required:
                self.problem(table, index, name, "is required")
                ok = False
        return cls(**kwargs) if ok else None

    def convert(self, raw: Any, spec: dataclasses.Field[Any]) -> Any:
        kind = spec.metadata["kind"]
        converter = _CONVERTERS[kind]
        value = converter(raw, spec.metadata)
        if kind == "path":
            value = value if value.is_absolute() else (self.base_dir / value)
        return value

    def check_web(self, web: WebConfig) -> None:
        """The page may listen beyond loopback only behind a password (loopback TCP is open to
        every local user; a LAN is open to everyone)."""
        outside = [address for address in web.listen if not is_loopback(address)]
        if outside and web.password_file is None:
            self.problem("web", -1, "listen", f"{', '.join(outside)} is reachable from other machines: set "
                         "password_file (labeld hash-password writes one) or listen on 127.0.0.1 only")

    def check_printers(self, config: Config) -> None:
        if self.problems:
            return  # cross-checks on half-read tables only repeat what was said
        schemes = [f"{scheme}://" for scheme in known_schemes()]
        names = [p.name for p in config.printers]
        for i, printer in enumerate(config.printers):
            if names.count(printer.name) > 1:
                self.problem("printer", i, "name", f"{printer.name!r} is used by more than one printer")
            try:
                parse_media(printer.media)
            except ValueError as error:
                self.problem("printer", i, "media", str(error))
            scheme = printer.uri.split("://", 1)[0] + "://" if "://" in printer.uri else ""
            if scheme not in schemes:
                self.problem("printer", i, "uri", f"{printer.uri!r}: use one of {', '.join(schemes)}")
            self.check_snmp(i, printer)
        if sum(p.default for p in config.printers) > 1:
            self.problems.append(f"{self.where}: more than one [[printer]] has default = true")
        for i, route in enumerate(config.routes):
            if route.printer not in names:
                hint = difflib.get_close_matches(route.printer, names, n=1)
                more = f"; did you mean {hint[0]!r}?" if hint else f"; printers are {', '.join(names)}"
                self.problem("route", i, "printer", f"no printer named {route.printer!r}{more}")
            if route.size is not None:
                try:
                    parse_media(route.size)
                except ValueError as error:
                    self.problem("route", i, "size", str(error))
            if route.folder is not None and route.folder in names:
                self.problem("route", i, "folder", f"{route.folder!r} is printer {route.folder!r}'s own inbox folder, "
                             "whose files always go to that printer; name another folder")


    def check_sources(self, config: Config) -> None:
        """Each source names its account and its key, and the key is kept private."""
        if self.problems:
            return
        names = [s.name for s in config.sources]
        printers = [p.name for p in config.printers]
        for i, source in enumerate(config.sources):
            if names.count(source.name) > 1:
                self.problem("source", i, "name", f"{source.name!r} is used by more than one source")
            if source.type == "ozon" and not source.client_id:
                self.problem("source", i, "client_id", "is required for an Ozon source (the seller portal's "
                             "Client ID, under Settings → Seller API)")
            if source.printer and source.printer not in printers:
                self.problem("source", i, "printer", f"no printer named {source.printer!r}; printers are "
                             f"{', '.join(printers)}")
            if source.base_url and not source.base_url.startswith("https://"):
                self.problem("source", i, "base_url", f"{source.base_url!r}: labeld talks to marketplaces over "
                             "https:// only")
            self.check_secret(i, source)

    def check_secret(self, index: int, source: SourceConfig) -> None:
        if (source.api_key_file is None) == (not source.credential):
            self.problem("source", index, "api_key_file", "give exactly one of api_key_file (a file readable by "
                         "labeld only, mode 0600) or credential (a systemd credential name); the key itself never "
                         "goes into this file")
            return
        try:
            if source.api_key_file is not None:
                read_secret_file(source.api_key_file)
            elif os.environ.get("CREDENTIALS_DIRECTORY"):
                read_secret_file(credential_path(source.credential))
        except SecretUnavailable as error:
            key = "api_key_file" if source.api_key_file is not None else "credential"
            self.problem("source", index, key, f"the key cannot be used: {error}")


def _as_str(raw: Any, meta: Mapping[str, Any]) -> str:
    if not isinstance(raw, str):
        raise ValueError(f"must be a string, not {_toml_type(raw)}")
    return raw


def _as_name(raw: Any, meta: Mapping[str, Any]) -> str:
    text = _as_str(raw, meta)
    if not PRINTER_NAME.match(text):
        raise ValueError(f"{text!r}: use letters, digits, '.', '_' or '-' (it names a folder in the inbox)")
    return text


def _as_bool(raw: Any, meta: Mapping[str, Any]) -> bool:
    if not isinstance(raw, bool):
        raise ValueError(f"must be true or false, not {_toml_type(raw)}")
    return raw


def _bounded(value: float, meta: Mapping[str, Any]) -> None:
    if "minimum" in meta and value < meta["minimum"]:
        raise ValueError(f"{value} is below the minimum {meta['minimum']}")
    if "maximum" in meta and value > meta["maximum"]:
        raise ValueError(f"{value} is above the maximum {meta['maximum']}")


def _as_int(raw: Any, meta: Mapping[str, Any]) -> int:
    if isinstance(raw, bool) or not isinstance(raw, int):
        raise ValueError(f"must be a whole number, not {_toml_type(raw)}")
    _bounded(raw, meta)
    return raw


def _as_float(raw: Any, meta: Mapping[str, Any]) -> float:
    if isinstance(raw, bool) or not isinstance(raw, (int, float)):
        raise ValueError(f"must be a number, not {_toml_type(raw)}")
    _bounded(float(raw), meta)
    return float(raw)


def _as_duration(raw: Any, meta: Mapping[str, Any]) -> float:
    if isinstance(raw, (int, float)) and not isinstance(raw, bool):
        return float(raw)
    return parse_duration(_as_str(raw, meta))


def _as_size(raw: Any, meta: Mapping[str, Any]) -> int:
    if isinstance(raw, int) and not isinstance(raw, bool):
        return raw
    return parse_size(_as_str(raw, meta))


def _as_choice(raw: Any, meta: Mapping[str, Any]) -> str:
    text = _as_str(raw, meta)
    choices = meta["choices"]
    if text not in choices:
        hint = difflib.get_close_matches(text, choices, n=1)
        more = f"; did you mean {hint[0]!r}?" if hint else ""
        raise ValueError(f"{text!r} is not one of {', '.join(repr(c) for c in choices if c)}{more}")
    return text


def _as_regex(raw: Any, meta: Mapping[str, Any]) -> str:
    text = _as_str(raw, meta)
    try:
        re.compile(text)
    except re.error as error:
        raise ValueError(f"not a valid regular expression: {error}") from error
    return text


def _as_strings(raw: Any, meta: Mapping[str, Any]) -> tuple[str, ...]:
    if not isinstance(raw, list) or not all(isinstance(x, str) for x in raw):
        raise ValueError("must be a list of strings, like [\"127.0.0.1\", \"ntp.example:123\"]")
    return tuple(raw)


def _as_addresses(raw: Any, meta: Mapping[str, Any]) -> tuple[str, ...]:
    values = [raw] if isinstance(raw, str) else raw
    if not isinstance(values, list) or not all(isinstance(x, str) for x in values):
        raise ValueError('must be "HOST:PORT" or a list of them, like ["127.0.0.1:8631"] ([] turns it off)')
    for value in values:
        split_address(value)
    return tuple(values)


def split_address(address: str) -> tuple[str, int]:
    """``"127.0.0.1:8631"`` → ``("127.0.0.1", 8631)``; ``"[::1]:8631"`` → ``("::1", 8631)``."""
    host, sep, port = address.rpartition(":")
    host = host.removeprefix("[").removesuffix("]")
    if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ValueError(f"{address!r} is not HOST:PORT (like \"127.0.0.1:8631\" or \"[::1]:8631\")")
    try:
        ipaddress.ip_address(host)
    except ValueError:
        if host != "localhost":
            raise ValueError(f"{address!r}: listen on an IP address (or localhost), not a host name") from None
    return host, int(port)


def is_loopback(address: str) -> bool:
    host, _ = split_address(address)
    return host == "localhost" or ipaddress.ip_address(host).is_loopback


def _as_networks(raw: Any, meta: Mapping[str, Any]) -> tuple[str, ...]:
    values = _as_strings(raw, meta)
    for value in values:
        try:
            ipaddress.ip_network(value, strict=False)
        except ValueError:
            raise ValueError(f"{value!r} is not a network like \"10.0.0.0/8\" or \"192.0.2.7\"") from None
    return values
def _as_ints(raw: Any, meta: Mapping[str, Any]) -> tuple[int, ...]:
    if not isinstance(raw, list) or not all(isinstance(x, int) and not isinstance(x, bool) for x in raw):
        raise ValueError("must be a list of whole numbers, like [22345678901000]")
    return tuple(raw)


def _as_paths(raw: Any, meta: Mapping[str, Any]) -> tuple[tuple[str, str], ...]:
    if not isinstance(raw, dict) or not all(isinstance(v, str) and v.startswith("/") for v in raw.values()):
        raise ValueError('must be a table of endpoint paths, like { label_create = "/v2/posting/fbs/package-label/'
                         'create" }')
    return tuple(sorted(raw.items()))


def _as_path(raw: Any, meta: Mapping[str, Any]) -> Path:
    return Path(_as_str(raw, meta)).expanduser()


_CONVERTERS: dict[str, Callable[[Any, Mapping[str, Any]], Any]] = {
    "str": _as_str, "name": _as_name, "bool": _as_bool, "int": _as_int, "float": _as_float,
    "duration": _as_duration, "size": _as_size, "choice": _as_choice, "regex": _as_regex,
    "strings": _as_strings, "path": _as_path, "addresses": _as_addresses, "networks": _as_networks,
    "ints": _as_ints, "paths": _as_paths,
}


def _toml_type(raw: Any) -> str:
    return {bool: "a boolean", int: "a number", float: "a number", str: "a string",
            list: "a list", dict: "a table"}.get(type(raw), type(raw).__name__)


_HEADER = re.compile(r"^\s*(\[\[?)\s*([A-Za-z0-9_.-]+)\s*\]\]?")
_KEY = re.compile(r"^\s*([A-Za-z0-9_-]+)\s*=")


def _key_lines(text: str) -> dict[tuple[str, int, str], int]:
    """(table, array index or -1, key) → line number, for error messages."""
    lines: dict[tuple[str, int, str], int] = {}
    counts: dict[str, int] = {}
    table, index = "", -1
    for number, line in enumerate(text.splitlines(), start=1):
        header = _HEADER.match(line)
        if header:
            table = header.group(2)
            if header.group(1) == "[[":
                index = counts.get(table, -1) + 1
                counts[table] = index
            else:
                index = -1
            lines.setdefault((table, index, ""), number)
            continue
        key = _KEY.match(line)
        if key:
            lines.setdefault((table, index, key.group(1)), number)
    return lines


def config_warnings(config: Config) -> list[str]:
    """What a valid configuration probably did not mean, in plain words (``labeld check-config`` and
    the daemon's start-up log say them; neither refuses to run).

    An Ozon source's label files (``file_url``) are fetched by the link intake, which trusts only
    ``[links] ca_bundle`` (else the system's store), not the source's own ``ca_bundle`` (#16/#17):
    a private CA set for the API alone leaves those fetches failing on an untrusted certificate."""
    warnings = []
    links = config.links.ca_bundle
    for source in config.sources:
        if source.ca_bundle is None or source.type != "ozon" or source.ca_bundle == links:
            continue
        now = "unset (the system's trust store)" if links is None else f"{str(links)!r}"
        warnings.append(
            f"[[source]] {source.name}: ca_bundle is set ({str(source.ca_bundle)!r}) but [links] ca_bundle is "
            f"{now}. The source's ca_bundle is trusted only for the marketplace's API; the label files it "
            f"hands over as links (Ozon's file_url) are fetched by the link intake, which trusts only "
            f"[links] ca_bundle. If the file host needs the same CA, set [links] ca_bundle = "
            f"{str(source.ca_bundle)!r}; otherwise those labels fail with an untrusted certificate.")
    return warnings


def describe(config: Config) -> str:
    """The effective configuration as TOML-like text (``labeld check-config``)."""
    origin = f"from {config.source}" if config.source else "(built-in defaults)"
    out: list[str] = [f"# effective configuration {origin}"]
    for name in _SECTIONS:
        out.append(f"\n[{name}]")
        out.extend(_describe_fields(getattr(config, name)))
    for printer in config.printers:
        out.append("\n[[printer]]")
        out.extend(_describe_fields(printer))
    for route in config.routes:
        out.append("\n[[route]]")
        out.extend(_describe_fields(route))
    for source in config.sources:
        out.append("\n[[source]]")
        out.extend(_describe_fields(source))
    return "\n".join(out) + "\n"


def _describe_fields(obj: Any) -> list[str]:
    rows = []
    for f in dataclasses.fields(obj):
        value = getattr(obj, f.name)
        if value is None:
            continue
        if f.metadata.get("kind") == "duration":
            rows.append(f"{f.name} = \"{value:g}s\"")
        elif f.metadata.get("kind") == "paths":
            rows.append(f"{f.name} = {{ {', '.join(f'{k} = {v!r}' for k, v in value)} }}")
        elif isinstance(value, Path):
            rows.append(f"{f.name} = \"{value}\"")
        elif isinstance(value, bool):
            rows.append(f"{f.name} = {'true' if value else 'false'}")
        elif isinstance(value, tuple):
            rows.append(f"{f.name} = [{', '.join(repr(v) for v in value)}]")
        elif isinstance(value, str):
            rows.append(f"{f.name} = {value!r}")
        else:
            rows.append(f"{f.name} = {value}")
    return rows
