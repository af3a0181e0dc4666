"""The hot folder: complete files in ``inbox/`` (or ``inbox/<printer>/``) become jobs, exactly once.

Taking a file is a claim, an accept, and a move out:

1. **claim**: an atomic rename into ``inbox/.labeld/claimed/<key>~<folder>~<name>``; the key is
   unique per arrival. Nobody else takes a claimed file, and a crash leaves it where
   start-up finds it.
2. **accept**: the bytes are fsynced into the spool and the rows committed, recording the key.
3. **move out**: to ``archive/YYYY-MM-DD/`` (or deleted with ``keep = false``), or to
   ``rejected/`` with ``NAME.error.json`` saying why.

At start-up a claimed file whose key the spool knows was accepted before a crash: it is only
moved out. One whose key is unknown is taken again. So a kill -9 anywhere loses nothing and
creates no second document.

Files are noticed by inotify (close-after-write or move-in), or, with ``poll = true`` for
network shares, when their size and mtime have been stable for ``settle``.
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import threading
import time
import uuid
from datetime import datetime
from pathlib import Path
from typing import Any

import structlog
from watchdog.events import FileClosedEvent, FileMovedEvent, FileSystemEvent, FileSystemEventHandler
from watchdog.observers import Observer

from labeld import failpoints
from labeld.config import Config
from labeld.errors import RejectedInput, SpoolFull
from labeld.intake.accept import Acceptor
from labeld.intake.names import TAKEN_SUFFIXES, is_candidate, is_job_name, sidecar_names
from labeld.intake.remote import accept_job, is_link_job, job_limit, parse_job_bytes, redact_job_bytes
from labeld.intake.routing import inbox_folders
from labeld.intake.sidecar import Sidecar, parse_sidecar
from labeld.reasons import Reason

log = structlog.get_logger("labeld.intake")

CLAIM_DIR = ".labeld/claimed"
NO_FOLDER = "-"
MAX_NAME_BYTES = 255
#: How often files refused for a full disk are tried again.
RETRY_FULL_SECONDS = 2.0


class HotFolder:
    """Watches the inbox and feeds one intake thread, which takes files in arrival order."""

    def __init__(self, config: Config, acceptor: Acceptor, spool_has_key: Any,
                 on_link: Any = None) -> None:
        self.config = config
        #: Told when a link job was accepted (the link intake looks at once).
        self.on_link = on_link
        self.acceptor = acceptor
        self.spool_has_key = spool_has_key
        self.inbox = config.intake.hot_folder
        self.claimed = self.inbox / CLAIM_DIR
        self.printers = inbox_folders(config)  # the printers' subfolders and those [[route]] names
        self._queue: queue.Queue[Path | None] = queue.Queue()
        self._pending: set[Path] = set()
        self._pending_lock = threading.Lock()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._observer: Any = None
        self.waiting_for_space: list[Path] = []  # refused for want of space; only the retry loop offers them
        self.last_full_reason: str | None = None

    # ----- life cycle -------------------------------------------------------------------------

    def start(self) -> None:
        for folder in (self.inbox, self.claimed, self.config.intake.archive, self.config.intake.rejected):
            folder.mkdir(parents=True, exist_ok=True)
        for name in self.printers:
            (self.inbox / name).mkdir(exist_ok=True)
        self._recover_claimed()
        if self.config.intake.poll:
            self._spawn(self._poll_loop, "intake-poll")
        else:
            handler = _Handler(self)
            self._observer = Observer()
            self._observer.schedule(handler, str(self.inbox), recursive=True)
            self._observer.start()
        self._spawn(self._work_loop, "intake")
        self._spawn(self._retry_loop, "intake-retry")
        self.scan()

    def stop(self) -> None:
        self._stop.set()
        if self._observer is not None:
            self._observer.stop()
            self._observer.join(timeout=5)
        self._queue.put(None)
        for thread in self._threads:
            thread.join(timeout=10)

    def _spawn(self, target: Any, name: str) -> None:
        thread = threading.Thread(target=target, name=name, daemon=True)
        thread.start()
        self._threads.append(thread)

    # ----- noticing files -------------------------------------------------------------------

    def scan(self) -> None:
        """Queue every complete-looking file present now (start-up backlog), oldest first."""
        found = []
        for folder in [self.inbox, *(self.inbox / p for p in sorted(self.printers))]:
            with contextlib.suppress(FileNotFoundError), os.scandir(folder) as entries:
                for entry in entries:
                    if is_candidate(entry.name) and entry.is_file(follow_symlinks=False):
                        found.append((entry.stat(follow_symlinks=False).st_mtime, Path(entry.path)))
        for _, path in sorted(found):
            self.offer(path)

    def offer(self, path: Path) -> None:
        """A file may be complete: queue it once."""
        if not self._watched(path):
            return
        with self._pending_lock:
            if path in self._pending or path in self.waiting_for_space:
                return  # a file put back for want of space waits for the retry loop, not for its own move event
            self._pending.add(path)
        self._queue.put(path)

    def _watched(self, path: Path) -> bool:
        if not is_candidate(path.name):
            return False
        parent = path.parent
        return parent == self.inbox or parent.parent == self.inbox

    def _poll_loop(self) -> None:
        settle = self.config.intake.settle
        seen: dict[Path, tuple[int, int, float]] = {}
        while not self._stop.wait(min(max(settle / 2, 0.05), 1.0)):
            now = time.monotonic()
            current: dict[Path, tuple[int, int, float]] = {}
            for folder in [self.inbox, *(self.inbox / p for p in self.printers)]:
                with contextlib.suppress(FileNotFoundError), os.scandir(folder) as entries:
                    for entry in entries:
                        if not is_candidate(entry.name) or not entry.is_file(follow_symlinks=False):
                            continue
                        st = entry.stat(follow_symlinks=False)
                        path = Path(entry.path)
                        previous = seen.get(path)
                        if previous and previous[:2] == (st.st_size, st.st_mtime_ns):
                            current[path] = previous
                            if now - previous[2] >= settle:
                                self.offer(path)
                        else:
                            current[path] = (st.st_size, st.st_mtime_ns, now)
            seen = current

    # ----- taking files ---------------------------------------------------------------------

    def _work_loop(self) -> None:
        while True:
            path = self._queue.get()
            if path is None or self._stop.is_set():
                return
            try:
                self.take(path)
            except Exception:
                log.exception("intake_failed", file=str(path))
            finally:
                with self._pending_lock:
                    self._pending.discard(path)

    def take(self, path: Path) -> None:
        """Claim, accept and move out one file from the inbox."""
        folder = None if path.parent == self.inbox else path.parent.name
        try:
            st = path.lstat()
        except FileNotFoundError:
            return  # gone already (taken, or removed by its writer)
        if not _is_regular(st.st_mode):
            log.warning("intake_skipped", file=str(path), reason="not a regular file (symlinks are not followed)")
            return
        if is_job_name(path.name) and not self._is_link_job(path):
            return  # a sidecar: it waits for its label, which takes it along
        key = uuid.uuid4().hex[:20]
        claimed = self.claimed / _claim_name(key, folder, path.name)
        try:
            os.rename(path, claimed)
        except FileNotFoundError:
            return
        for sidecar_name in () if is_job_name(path.name) else sidecar_names(path.name):
            if len(os.fsencode(sidecar_name)) > MAX_NAME_BYTES:
                continue  # no file can have that name
            sidecar = path.with_name(sidecar_name)
            with contextlib.suppress(FileNotFoundError):
                if not sidecar.is_symlink():
                    os.rename(sidecar, claimed.with_name(claimed.name + ".json"))
                    break
        self.process_claimed(claimed)

    def process_claimed(self, claimed: Path) -> None:
        key, folder, name = _parse_claim(claimed.name)
        sidecar_path = claimed.with_name(claimed.name + ".json")
        if self.spool_has_key(key):
            log.info("intake_resumed", file=name, reason="accepted before a restart; moving it out of the inbox")
            self._move_out(claimed, sidecar_path, name)
            return
        try:
            if folder is not None and folder not in self.printers:
                raise RejectedInput(Reason("intake.unknown_folder", folder=folder, printers=sorted(self.printers)))
            if is_job_name(name):
                job = parse_job_bytes(claimed.read_bytes(), job_limit(self.config))
                accepted = accept_job(self.acceptor, job, name=_readable(name), source="hotfolder", folder=folder,
                                      intake_key=key, received=claimed.stat().st_mtime)
                if job.url is not None and self.on_link is not None:
                    self.on_link()
            else:
                sidecar = parse_sidecar(sidecar_path.read_bytes()) if sidecar_path.exists() else Sidecar()
                data = claimed.read_bytes()
                accepted = self.acceptor.accept(
                    data, name=_readable(name), source="hotfolder", folder=folder, sidecar=sidecar, intake_key=key,
                    mtime=claimed.stat().st_mtime,
                )
        except RejectedInput as error:
            log.warning("document_rejected", file=name, reason=error.reason.text(), code=error.reason.code)
            self._reject(claimed, sidecar_path, name, folder, error)
            return
        except SpoolFull as error:
            self._wait_for_space(claimed, sidecar_path, folder, name, str(error))
            return
        log.info("document_accepted", file=name, jobs=list(accepted.job_ids), printers=sorted(set(accepted.printers)))
        failpoints.hit("after-accept")
        self._move_out(claimed, sidecar_path, name)

    def _is_link_job(self, path: Path) -> bool:
        """Whether a ``*.json`` holds a link job (``label_url``/``label_code``); a sidecar does not.
        One that is not JSON (yet, or at all) is not taken: a sidecar's problems show with its label."""
        try:
            if path.stat().st_size > job_limit(self.config):
                return True  # refused as too big, with a reason
            raw = json.loads(path.read_bytes().decode("utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError):
            return False
        return is_link_job(raw)

    def _recover_claimed(self) -> None:
        for claimed in sorted(self.claimed.iterdir()):
            if claimed.name.endswith(".redacting"):  # a redaction a crash cut short: the claim is whole
                claimed.unlink(missing_ok=True)
                continue
            if claimed.name.startswith(".") or _is_claimed_sidecar(claimed.name):
                continue
            try:
                _parse_claim(claimed.name)
            except ValueError:
                continue
            self.process_claimed(claimed)

    # ----- moving out -----------------------------------------------------------------------

    def _move_out(self, claimed: Path, sidecar: Path, name: str) -> None:
        if not self.config.intake.keep:
            claimed.unlink(missing_ok=True)
            sidecar.unlink(missing_ok=True)
            return
        day = self.config.intake.archive / datetime.now().strftime("%Y-%m-%d")
        target = _free_name(day, name)
        _redact_job(claimed, name)
        _move(claimed, target)
        if sidecar.exists():
            _move(sidecar, target.with_name(target.name + ".json"))

    def _reject(self, claimed: Path, sidecar: Path, name: str, folder: str | None, error: RejectedInput) -> None:
        target = _free_name(self.config.intake.rejected, name)
        _redact_job(claimed, name)
        _move(claimed, target)
        size = target.stat().st_size
        if sidecar.exists():
            _move(sidecar, target.with_name(target.name + ".json"))
        report = {"reason": error.reason.text(), "reason_code": error.reason.code,
                  "reason_params": dict(error.reason.params), "detail": error.detail, "file": _readable(name),
                  "at": datetime.now().astimezone().isoformat(timespec="seconds")}
        error_path = target.with_name(target.stem + ".error.json")
        error_path.write_text(json.dumps(report, indent=2, ensure_ascii=False, default=str) + "\n", encoding="utf-8")
        self.acceptor.record_rejection(error, name=_readable(name), source="hotfolder", folder=folder,
                                       moved_to=target, size=size)

    def _wait_for_space(self, claimed: Path, sidecar: Path, folder: str | None, name: str, reason: str) -> None:
        """Put the file back where it was and try again when space returns."""
        original = (self.inbox / folder if folder else self.inbox) / name
        with self._pending_lock:  # before the rename: its own move event must not offer it again at once
            if original not in self.waiting_for_space:
                self.waiting_for_space.append(original)
        os.rename(claimed, original)
        if sidecar.exists():
            os.rename(sidecar, original.with_name(original.name + ".json"))
        if reason != self.last_full_reason:
            log.error("spool_full", file=name, reason=reason)
        self.last_full_reason = reason

    def _retry_loop(self) -> None:
        while not self._stop.wait(RETRY_FULL_SECONDS):
            if not self.waiting_for_space:
                continue
            try:
                self.acceptor.check_space()
            except SpoolFull:
                continue
            with self._pending_lock:
                waiting, self.waiting_for_space = self.waiting_for_space, []
            log.info("spool_space_back", files=len(waiting))
            self.last_full_reason = None
            for path in waiting:
                self.offer(path)


class _Handler(FileSystemEventHandler):
    def __init__(self, folder: HotFolder) -> None:
        self.folder = folder

    def on_closed(self, event: FileSystemEvent) -> None:
        if isinstance(event, FileClosedEvent) and not event.is_directory:
            self.folder.offer(Path(os.fsdecode(event.src_path)))

    def on_created(self, event: FileSystemEvent) -> None:
        """A file moved in from outside the watched tree shows up as "created", with no close.
        One that is still being written is left for its close event."""
        path = Path(os.fsdecode(event.src_path))
        if not event.is_directory and looks_complete(path):
            self.folder.offer(path)

    def on_moved(self, event: FileSystemEvent) -> None:
        if isinstance(event, FileMovedEvent) and not event.is_directory:
            self.folder.offer(Path(os.fsdecode(event.dest_path)))


def looks_complete(path: Path) -> bool:
    """True when the file ends the way a finished PDF (``%%EOF``), ZPL (``^XZ``), SVG (``</svg>``),
    PNG (``IEND``) or JSON job (``}``) ends."""
    try:
        with open(path, "rb") as src:
            src.seek(0, os.SEEK_END)
            size = src.tell()
            src.seek(max(0, size - 1024))
            tail = src.read()
    except OSError:
        return False
    end = tail.rstrip()
    return b"%%EOF" in tail or end.endswith((b"^XZ", b"</svg>", b"}")) or b"IEND" in tail[-16:]


def _is_claimed_sidecar(claim_name: str) -> bool:
    """A claimed label's sidecar (``KEY~F~a.pdf.json``), not a claimed link job (``KEY~F~a.json``)."""
    return claim_name.lower().endswith(".json") and claim_name[:-5].lower().endswith(TAKEN_SUFFIXES)


def _is_regular(mode: int) -> bool:
    import stat

    return stat.S_ISREG(mode)


def _claim_name(key: str, folder: str | None, name: str) -> str:
    """``key~folder~name``, the name shortened (extension kept) so that the claim and its
    ``.json`` sidecar stay within the 255-byte limit of a file name."""
    prefix = f"{key}~{folder or NO_FOLDER}~"
    room = MAX_NAME_BYTES - len(os.fsencode(prefix)) - len(".json")
    stem, dot, ext = name.rpartition(".")
    if not dot:
        stem, ext = name, ""
    while len(os.fsencode(name)) > room and stem:
        stem = stem[:-1]
        name = f"{stem}{dot}{ext}"
    return prefix + name


def _readable(name: str) -> str:
    """A file name as valid UTF-8 text for the spool and error.json: bytes that are not UTF-8
    (kept by os.fsdecode as surrogates) become U+FFFD."""
    return os.fsencode(name).decode("utf-8", "replace")


def _parse_claim(claim_name: str) -> tuple[str, str | None, str]:
    key, folder, name = claim_name.split("~", 2)
    return key, (None if folder == NO_FOLDER else folder), name


def _free_name(folder: Path, name: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / name
    stem, dot, ext = name.rpartition(".")
    counter = 1
    while target.exists() or target.with_name(target.name + ".json").exists():
        target = folder / (f"{stem}-{counter}.{ext}" if dot else f"{name}-{counter}")
        counter += 1
    return target


def _redact_job(claimed: Path, name: str) -> None:
    """A ``*.json`` job file loses its link's query (the signature) before it is kept anywhere:
    rewritten in place, durably, so a crash leaves either the whole old file or the whole new one
    (and a restart redacts it again before moving it out)."""
    if not is_job_name(name):
        return
    try:
        redacted = redact_job_bytes(claimed.read_bytes())
    except OSError:
        return
    if redacted is None:
        return
    scratch = claimed.with_name("." + claimed.name + ".redacting")
    with open(scratch, "wb") as out:
        out.write(redacted)
        out.flush()
        os.fsync(out.fileno())
    os.replace(scratch, claimed)


def _move(source: Path, target: Path) -> None:
    try:
        os.replace(source, target)
    except OSError:
        import shutil

        shutil.move(str(source), str(target))
