"""A private cupsd for tests, benchmarks and integrators: never the system's CUPS.

Each :class:`PrivateCupsd` owns a fresh folder with its own ``cupsd.conf``/``cups-files.conf``,
spool, cache, state, logs and backend folder, listens on a Unix socket in that folder and on a
free loopback port, and is driven with the ordinary CUPS tools (``lpadmin -h SOCKET``), so no
part of CUPS is imitated. cupsd refuses to run its filters and backends as root, so they run as
``lp``: the folder lives under the system temp folder (reachable by ``lp``), not under a
private pytest ``tmp_path``.

It also ships the ``labeld-capture`` backend, a stand-in for a printer that keeps every job's
bytes in a folder and can be told it ran out of labels: it then reports
``STATE: +media-empty-error`` and exits 4, which makes cupsd stop the queue and keep the job,
exactly as a real backend does when the printer runs dry.
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType

CUPS_SERVER_BIN = Path("/usr/lib/cups")
CUPS_DATA_DIR = Path("/usr/share/cups")
CAPTURE_SCHEME = "labeld-capture"
MEDIA_EMPTY_FLAG = ".media-empty"

_CAPTURE_BACKEND = f"""#!/bin/sh
# labeld's test printer: job bytes land in the folder named by the device URI.
if [ $# -eq 0 ]; then echo 'direct {CAPTURE_SCHEME} "Unknown" "labeld capture printer"'; exit 0; fi
out="${{DEVICE_URI#{CAPTURE_SCHEME}:}}"
if [ -e "$out/{MEDIA_EMPTY_FLAG}" ]; then
    echo "STATE: +media-empty-error" >&2
    echo "ERROR: out of labels" >&2
    exit 4
fi
if [ -n "$6" ]; then cat "$6" > "$out/.$1.part"; else cat > "$out/.$1.part"; fi
mv "$out/.$1.part" "$out/$(printf %06d "$1").bin"
echo "STATE: -media-empty-error" >&2
exit 0
"""


class CupsdError(RuntimeError):
    """The private cupsd could not start or a CUPS command failed; the message says why."""


class PrivateCupsd:
    """A cupsd of our own. Use as a context manager, or call :meth:`start` and :meth:`stop`.

    ``server`` (the socket path) is what ``cups.Connection(host=...)``, ``CUPS_SERVER`` and
    ``lpadmin -h`` take; :meth:`uri` gives labeld's ``cups://`` URI for a queue on it.
    """

    def __init__(self, log_level: str = "info", *, env: Mapping[str, str] | None = None,
                 directives: Sequence[str] = ()) -> None:
        """``env`` becomes cups-files.conf ``SetEnv`` lines (what filters and backends see, e.g.
        ``LABELD_SOCKET``); ``directives`` are more cupsd.conf lines (``JobRetryInterval 2``)."""
        self.log_level = log_level
        self.env = dict(env or {})
        self.directives = tuple(directives)
        self.root: Path | None = None
        self.port = 0
        self._process: subprocess.Popen[bytes] | None = None

    # -- life cycle ---------------------------------------------------------------------------

    def start(self, timeout: float = 15.0) -> PrivateCupsd:
        cupsd = shutil.which("cupsd") or shutil.which("cupsd", path="/usr/sbin:/sbin")
        if cupsd is None:
            raise CupsdError("cupsd is not installed: apt-get install cups-daemon cups-client (or the cups package)")
        self.root = Path(tempfile.mkdtemp(prefix="labeld-cupsd-"))
        self.port = _free_port()
        self._write_tree(self.root)
        with open(self.root / "log" / "cupsd.out", "wb") as output:
            self._process = subprocess.Popen(
                [cupsd, "-f", "-c", str(self.root / "cupsd.conf"), "-s", str(self.root / "cups-files.conf")],
                stdout=output, stderr=subprocess.STDOUT,
            )
        self._wait_ready(timeout)
        return self

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if self.root is not None:
            shutil.rmtree(self.root, ignore_errors=True)
            self.root = None

    def __enter__(self) -> PrivateCupsd:
        return self.start()

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        self.stop()

    # -- where it is --------------------------------------------------------------------------

    @property
    def socket_path(self) -> Path:
        return self._root() / "cups.sock"

    @property
    def server(self) -> str:
        return str(self.socket_path)

    def uri(self, queue: str, *, over_tcp: bool = False) -> str:
        """labeld's printer URI for ``queue``: through the Unix socket, or the loopback port."""
        if over_tcp:
            return f"cups://127.0.0.1:{self.port}/{queue}"
        return f"cups://{self.socket_path}/{queue}"

    def log(self) -> str:
        path = self._root() / "log" / "error_log"
        return path.read_text(errors="replace") if path.exists() else ""

    # -- queues -------------------------------------------------------------------------------

    def add_queue(self, name: str, device_uri: str, *, ppd: Path | None = None, model: str | None = None,
                  options: dict[str, str] | None = None, enabled: bool = True) -> None:
        """Create queue ``name`` sending to ``device_uri``: raw without ``ppd``/``model``,
        else a driver queue (``model="drv:///sample.drv/zebra.ppd"``)."""
        args = ["-p", name, "-v", device_uri]
        if ppd is not None:
            args += ["-P", str(ppd)]
        if model is not None:
            args += ["-m", model]
        for key, value in (options or {}).items():
            args += ["-o", f"{key}={value}"]
        if enabled:
            args.append("-E")
        self.run("lpadmin", *args)

    def add_capture_queue(self, name: str, **kwargs: object) -> Path:
        """A queue on the ``labeld-capture`` backend; returns the folder its jobs land in."""
        out = self._root() / "capture" / name
        out.mkdir(parents=True, exist_ok=True)
        _give_to_backend_user(out)
        self.add_queue(name, f"{CAPTURE_SCHEME}:{out}", **kwargs)  # type: ignore[arg-type]
        return out

    def captured(self, name: str) -> list[bytes]:
        """The bytes of every job the capture queue ``name`` printed, oldest first."""
        folder = self._root() / "capture" / name
        return [p.read_bytes() for p in sorted(folder.glob("*.bin"))]

    def add_backend(self, scheme: str, text: str, mode: int = 0o755) -> Path:
        """Install a backend program for ``scheme:`` URIs; 0755 runs as ``lp``, 0700 as root (backend(7))."""
        path = self._root() / "bin" / "backend" / scheme
        path.unlink(missing_ok=True)
        path.write_text(text)
        path.chmod(mode)
        return path

    def set_media_empty(self, name: str, empty: bool) -> None:
        """Take the labels out of (or put them back into) the capture queue's printer."""
        flag = self._root() / "capture" / name / MEDIA_EMPTY_FLAG
        if empty:
            flag.touch()
        else:
            flag.unlink(missing_ok=True)

    def enable(self, name: str) -> None:
        self.run("cupsenable", name)

    def disable(self, name: str, reason: str = "") -> None:
        self.run("cupsdisable", *(["-r", reason] if reason else []), name)

    def run(self, tool: str, *args: str) -> str:
        """Run a CUPS command-line tool against this server; raise :class:`CupsdError` on failure."""
        command = [tool, "-h", self.server, *args]
        result = subprocess.run(command, capture_output=True, text=True, timeout=30, check=False)
        if result.returncode != 0:
            raise CupsdError(f"{' '.join(command)} failed ({result.returncode}): {result.stderr.strip()}")
        return result.stdout

    # -- internals ----------------------------------------------------------------------------

    def _root(self) -> Path:
        if self.root is None:
            raise CupsdError("the private cupsd is not running; call start() first")
        return self.root

    def _write_tree(self, root: Path) -> None:
        os.chmod(root, 0o755)
        for sub in ("conf", "spool", "spool/tmp", "cache", "state", "log", "capture"):
            (root / sub).mkdir()
        for sub in ("spool", "spool/tmp", "cache", "state", "log", "capture"):
            _give_to_backend_user(root / sub)
        _link_server_bin(root / "bin")
        backend = root / "bin" / "backend" / CAPTURE_SCHEME
        backend.write_text(_CAPTURE_BACKEND)
        backend.chmod(0o755)
        conf = _cupsd_conf(root, self.port, self.log_level) + "".join(f"{line}\n" for line in self.directives)
        (root / "cupsd.conf").write_text(conf)
        files = _cups_files_conf(root) + "".join(f"SetEnv {key} {value}\n" for key, value in self.env.items())
        (root / "cups-files.conf").write_text(files)

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self._process is not None
            if self._process.poll() is not None:
                status = self._process.returncode
                output = (self._root() / "log" / "cupsd.out").read_text(errors="replace")
                log = self.log()[-2000:]
                self.stop()
                raise CupsdError(f"cupsd exited with status {status} before it listened:\n{output}\n{log}")
            if _accepts(self.socket_path):
                return
            time.sleep(0.05)
        log = self.log()[-2000:]
        self.stop()
        raise CupsdError(f"cupsd did not open its socket within {timeout:g} s:\n{log}")


def _cupsd_conf(root: Path, port: int, log_level: str) -> str:
    return f"""LogLevel {log_level}
Listen {root / "cups.sock"}
Listen 127.0.0.1:{port}
Browsing No
BrowseLocalProtocols none
WebInterface No
DefaultAuthType None
<Location />
  Order allow,deny
  Allow all
</Location>
<Policy default>
  <Limit All>
    Order deny,allow
  </Limit>
</Policy>
"""


def _cups_files_conf(root: Path) -> str:
    user = _backend_user()
    return f"""User {user.pw_name}
Group {_group_name(user.pw_gid)}
SystemGroup root
ServerRoot {root / "conf"}
RequestRoot {root / "spool"}
TempDir {root / "spool" / "tmp"}
CacheDir {root / "cache"}
StateDir {root / "state"}
ServerBin {root / "bin"}
DataDir {CUPS_DATA_DIR}
AccessLog {root / "log" / "access_log"}
ErrorLog {root / "log" / "error_log"}
PageLog {root / "log" / "page_log"}
Printcap {root / "state" / "printcap"}
FileDevice No
"""


def _link_server_bin(target: Path) -> None:
    """CUPS's own filters and backends, plus room for ours, without touching /usr/lib/cups."""
    (target / "backend").mkdir(parents=True)
    for entry in CUPS_SERVER_BIN.iterdir():
        if entry.name != "backend":
            (target / entry.name).symlink_to(entry)
    for entry in (CUPS_SERVER_BIN / "backend").iterdir():
        (target / "backend" / entry.name).symlink_to(entry)


def _backend_user() -> pwd.struct_passwd:
    """cupsd runs filters as ``lp`` when started by root, else as whoever started it."""
    if os.geteuid() == 0:
        return pwd.getpwnam("lp")
    return pwd.getpwuid(os.geteuid())


def _group_name(gid: int) -> str:
    import grp

    return grp.getgrgid(gid).gr_name


def _give_to_backend_user(path: Path) -> None:
    user = _backend_user()
    if os.geteuid() == 0:
        os.chown(path, user.pw_uid, user.pw_gid)
    path.chmod(0o755)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _accepts(path: Path) -> bool:
    if not path.exists():
        return False
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
        try:
            probe.connect(str(path))
        except OSError:
            return False
    return True
