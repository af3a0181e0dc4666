"""A real labeld in a child process, for tests, benchmarks and integrators.

``DaemonProcess`` writes a config into a scratch folder, starts ``labeld run`` with a real
``NOTIFY_SOCKET`` (so start-up is known from the daemon's own READY=1, as under systemd), and
offers the small views tests need: the spool rows (read through SQLite, concurrently with
the daemon thanks to WAL), the JSON log lines, and waiting for a condition.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from labeld.bitmap import Bitmap, from_png
from labeld.spool.store import DocumentStore

TomlValue = str | int | float | bool | list[str]


def toml_text(sections: Mapping[str, Any]) -> str:
    """TOML for a dict of tables (dicts) and arrays of tables (lists of dicts)."""
    out: list[str] = []
    for name, body in sections.items():
        tables = body if isinstance(body, list) else [body]
        for table in tables:
            out.append(f"[[{name}]]" if isinstance(body, list) else f"[{name}]")
            out.extend(f"{key} = {_toml_value(value)}" for key, value in table.items())
            out.append("")
    return "\n".join(out)


def _toml_value(value: TomlValue) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    return json.dumps(str(value))


class DaemonProcess:
    """``labeld run`` on a config under ``root``; ``printers``, ``routes`` and ``sources`` are
    ``[[printer]]``, ``[[route]]`` and ``[[source]]`` tables."""

    def __init__(self, root: Path, printers: list[dict[str, Any]] | None = None,
                 sections: Mapping[str, Mapping[str, Any]] | None = None, env: Mapping[str, str] | None = None,
                 routes: list[dict[str, Any]] | None = None, sources: list[dict[str, Any]] | None = None) -> None:
        self.root = root
        self.state_dir = root / "state"
        self.inbox = root / "inbox"
        self.archive = root / "archive"
        self.rejected = root / "rejected"
        self.printed = root / "printed"
        self.socket = root / "labeld.sock"
        self.log_path = root / "labeld.log"
        self.config_path = root / "config.toml"
        self.env = dict(env or {})
        config: dict[str, Any] = {
            "daemon": {"state_dir": str(self.state_dir), "socket": str(self.socket), "socket_group": "",
                       "log_level": "debug"},
            "intake": {"hot_folder": str(self.inbox), "archive": str(self.archive), "rejected": str(self.rejected),
                       "min_free_space": "1MB"},
            "clock": {"servers": [], "local_sources": False},
            "web": {"listen": []},
            "printer": printers or [{"name": "preview", "driver": "preview", "uri": f"dir://{self.printed}",
                                     "media": "75x120mm", "dpi": 300, "default": True}],
        }
        for name, values in (sections or {}).items():
            config[name] = {**config.get(name, {}), **values}
        if routes:
            config["route"] = routes
        if sources:
            config["source"] = sources
        root.mkdir(parents=True, exist_ok=True)
        self.config_path.write_text(toml_text(config), encoding="utf-8")
        self.process: subprocess.Popen[bytes] | None = None
        self._notify: socket.socket | None = None
        self.notifications: list[str] = []

    # ----- life cycle -------------------------------------------------------------------

    def start(self, timeout: float = 60.0) -> DaemonProcess:
        notify_path = Path(tempfile.mkdtemp(prefix="labeld-notify-")) / "notify.sock"
        self._notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self._notify.bind(str(notify_path))
        env = {**os.environ, "NOTIFY_SOCKET": str(notify_path), "PYTHONUNBUFFERED": "1", **self.env}
        log = open(self.log_path, "ab")  # noqa: SIM115  # handed to the child; closed when it exits
        self.process = subprocess.Popen(
            [sys.executable, "-m", "labeld.cli.labeld_cmd", "run", "--config", str(self.config_path),
             "--log-format", "json"],
            stdout=log, stderr=log, env=env, cwd=self.root,
        )
        log.close()
        self.wait_notification("READY=1", timeout)
        return self

    def wait_notification(self, line: str, timeout: float) -> None:
        assert self._notify is not None
        deadline = time.monotonic() + timeout
        while line not in self.notifications:
            left = deadline - time.monotonic()
            if left <= 0 or (self.process is not None and self.process.poll() is not None):
                raise RuntimeError(f"labeld did not send {line} within {timeout} s; log:\n{self.log_text()[-4000:]}")
            self._notify.settimeout(min(left, 0.5))
            try:
                data = self._notify.recv(65536).decode()
            except TimeoutError:
                continue
            self.notifications.extend(data.splitlines())

    def stop(self, timeout: float = 30.0) -> int:
        """SIGTERM and wait: a clean shutdown."""
        if self.process is None:
            return 0
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        code = self.process.wait(timeout)
        self._close_notify()
        return code

    def kill(self) -> None:
        """SIGKILL: the crash case."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)
        self._close_notify()

    def _close_notify(self) -> None:
        if self._notify is not None:
            self._notify.close()
            self._notify = None
        self.notifications = []

    def __enter__(self) -> DaemonProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        if self.process is not None and self.process.poll() is None:
            self.stop()

    # ----- views ------------------------------------------------------------------------

    def log_text(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace") if self.log_path.exists() else ""

    def log_events(self) -> list[dict[str, Any]]:
        events = []
        for line in self.log_text().splitlines():
            if line.startswith("{"):
                try:
                    events.append(json.loads(line))
                except json.JSONDecodeError:
                    continue
        return events

    def query(self, sql: str, args: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        db = sqlite3.connect(f"file:{self.state_dir / 'spool.db'}?mode=ro", uri=True, timeout=10)
        try:
            return db.execute(sql, args).fetchall()
        finally:
            db.close()

    def jobs(self) -> list[dict[str, Any]]:
        if not (self.state_dir / "spool.db").exists():
            return []
        rows = self.query(
            "SELECT j.id, j.state, j.reason, j.printer, l.page, l.posting, d.name, j.confirmed, j.interrupted,"
            " l.tracking, j.duplicate_of, l.preflight"
            " FROM jobs j JOIN labels l ON l.id = j.label_id JOIN documents d ON d.id = l.document_id ORDER BY j.id")
        keys = ("id", "state", "reason", "printer", "page", "posting", "document", "confirmed", "interrupted",
                "tracking", "duplicate_of", "preflight")
        return [dict(zip(keys, row, strict=True)) for row in rows]

    def spooled_bitmap(self, job_id: int) -> Bitmap:
        """The bitmap the daemon rendered for ``job_id``: exactly what it encodes and sends."""
        return from_png(DocumentStore(self.state_dir).bitmap_path(job_id).read_bytes())

    def printer(self, name: str) -> dict[str, Any]:
        """One printer as GET /v1/printers shows it."""
        from labeld.cli.client import Client

        printers = Client(self.socket).call("GET", "/v1/printers")["printers"]
        found: dict[str, Any] = next(p for p in printers if p["name"] == name)
        return found

    def web_url(self) -> str:
        """The station page's address (``[web] listen = "127.0.0.1:0"`` gets a free port)."""
        url: str = next(e["url"] for e in self.log_events() if e.get("event") == "web_listening")
        return url

    def wait_for(self, predicate: Callable[[], bool], timeout: float = 60.0, what: str = "condition") -> None:
        deadline = time.monotonic() + timeout
        while not predicate():
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out after {timeout} s waiting for {what}; jobs: {self.jobs()[-10:]}\n"
                                     f"log tail:\n{self.log_text()[-3000:]}")
            if self.process is not None and self.process.poll() is not None:
                raise AssertionError(f"labeld exited with {self.process.returncode}; log:\n{self.log_text()[-4000:]}")
            time.sleep(0.05)

    def wait_states(self, count: int, states: tuple[str, ...] = ("printed",), timeout: float = 60.0) -> None:
        self.wait_for(lambda: sum(j["state"] in states for j in self.jobs()) >= count, timeout,
                      f"{count} job(s) in {states}")

    def drop(self, name: str, data: bytes, folder: str | None = None, sidecar: dict[str, Any] | None = None) -> Path:
        """Put a file into the inbox the way a careful ERP does: write aside, then rename in."""
        target_dir = self.inbox / folder if folder else self.inbox
        target_dir.mkdir(parents=True, exist_ok=True)
        if sidecar is not None:
            (target_dir / (name.rsplit(".", 1)[0] + ".json")).write_text(json.dumps(sidecar), encoding="utf-8")
        temp = target_dir / f".{name}.part"
        temp.write_bytes(data)
        os.replace(temp, target_dir / name)
        return target_dir / name
