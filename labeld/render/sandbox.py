"""Run PDF work in a separate, limited worker process, so that a hostile or broken PDF can
neither hang nor crash the daemon.

One persistent worker serves many calls (a call costs a pickle round trip, not a process start).
It is killed when a call overruns its wall-clock limit, and replaced after it crashed or ran out of
memory; the next call gets a fresh worker. Workers are forked from multiprocessing's fork server,
a small single-threaded process started once with the render modules already imported: forking
the daemon itself, which runs threads, could copy a lock held by another thread into the child and
hang it, and starting a fresh interpreter per worker would cost half a second each time.

The memory limit is ``RLIMIT_AS`` set in the worker. It is headroom on top of what the idle
worker already maps (the interpreter, PyMuPDF, numpy), so the same setting means the same room
for a render on every machine. A render that hits it sees allocations fail, which surfaces as
``MemoryError`` (Python, numpy) or a MuPDF memory error, or as a crash of native code.

Callables must be importable by name (module-level functions, or ``functools.partial`` of one);
arguments and results must pickle (bytes, numpy arrays and dataclasses do).
"""

from __future__ import annotations

import importlib
import multiprocessing
import os
import resource
import signal
import sys
import threading
from collections.abc import Callable, Sequence
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from typing import Any, TypeVar

from labeld.errors import RenderFailed
from labeld.reasons import Reason

T = TypeVar("T")

#: Modules a worker needs for "open and inspect a PDF" and "render a page", imported before its memory
#: limit applies and, when the fork server is started by labeld, once for all workers.
DEFAULT_PRELOAD = ("labeld.render.rasterize",)
DEFAULT_MEMORY_LIMIT = 1024 * 1024 * 1024
_START_WAIT = 60.0
_MB = 1024 * 1024


class RenderTimeout(RenderFailed):
    """The call ran past its wall-clock limit and the worker was killed."""


class RenderMemoryExceeded(RenderFailed):
    """The call needed more memory than the worker's limit allows."""


class RenderCrashed(RenderFailed):
    """The worker died (a signal, or an exit) before it answered."""


class RenderSandbox:
    """A persistent worker process with a time and a memory limit per call.

    Calls are serialised (one worker renders one thing at a time); a daemon that wants to render
    for several printers at once can hold several sandboxes. Use ``start()`` at daemon start-up
    to pay for the first worker there, and ``close()`` (or ``with``) at the end.
    """

    def __init__(self, *, timeout: float = 30.0, memory_limit: int | None = DEFAULT_MEMORY_LIMIT,
                 preload: Sequence[str] = DEFAULT_PRELOAD) -> None:
        self.timeout = timeout
        self.memory_limit = memory_limit
        self.preload = tuple(preload)
        self.workers_started = 0
        self._context = multiprocessing.get_context("forkserver")
        self._lock = threading.Lock()
        self._process: BaseProcess | None = None
        self._conn: Connection | None = None
        if self._context.get_start_method() == "forkserver":
            _set_forkserver_preload(self._context, self.preload)

    def __enter__(self) -> RenderSandbox:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def restarts(self) -> int:
        """Workers started to replace one that was killed or died (a metric worth watching)."""
        return max(0, self.workers_started - 1)

    @property
    def pid(self) -> int | None:
        """The current worker's pid, None when none is running."""
        return self._process.pid if self._process is not None and self._process.is_alive() else None

    def start(self) -> None:
        """Start the worker now and wait until it answers, so the first real call is not slowed."""
        self.run(_ping, task=Reason("task.start_worker"), timeout=max(self.timeout, _START_WAIT))

    def run(self, func: Callable[..., T], *args: Any, task: Reason | None = None,
            timeout: float | None = None) -> T:
        """``func(*args)`` in the worker; its result, or the exception it raised, re-raised here.

        Raises RenderTimeout, RenderMemoryExceeded or RenderCrashed when the worker fails; ``task``
        names what was being done, for the operator-facing reason.
        """
        limit = self.timeout if timeout is None else timeout
        task = task or Reason("task.render_pdf")
        with self._lock:
            conn = self._ensure_worker()
            try:
                conn.send((func, args))
            except (BrokenPipeError, ConnectionResetError):
                raise self._crashed(task) from None
            if not conn.poll(limit):
                self._discard()
                raise RenderTimeout(Reason("render.timeout", task=task, limit=limit), {"limit_s": limit})
            try:
                kind, value = conn.recv()
            except (EOFError, OSError):
                raise self._crashed(task) from None
            if kind == "memory":
                self._discard()
        result: T = self._answer(kind, value, task)
        return result

    def close(self) -> None:
        with self._lock:
            self._discard()

    def _ensure_worker(self) -> Connection:
        if self._conn is not None and self._process is not None and self._process.is_alive():
            return self._conn
        self._discard()
        parent, child = self._context.Pipe(duplex=True)
        process = self._context.Process(target=_serve, args=(child, self.memory_limit, self.preload, sys.path),
                                        name="labeld-render", daemon=True)
        process.start()
        child.close()
        self.workers_started += 1
        self._process, self._conn = process, parent
        return parent

    def _discard(self) -> int | None:
        """Kill the worker (if any) and return its exit code."""
        process, conn = self._process, self._conn
        if process is None:
            return None
        if process.is_alive():
            process.kill()
        process.join(5.0)
        if conn is not None:
            conn.close()
        self._process = None
        self._conn = None
        return process.exitcode

    def _crashed(self, task: Reason) -> RenderCrashed:
        code = self._discard()
        how = f"killed by {signal.Signals(-code).name}" if code is not None and code < 0 else f"exit status {code}"
        return RenderCrashed(Reason("render.crashed", task=task, how=how), {"exit": code})

    def _answer(self, kind: str, value: Any, task: Reason) -> Any:
        if kind == "ok":
            return value
        if kind == "memory":
            if self.memory_limit:
                reason = Reason("render.memory", task=task, limit_mb=self.memory_limit // _MB)
            else:
                reason = Reason("render.memory_unlimited", task=task)
            raise RenderMemoryExceeded(reason, {"limit_bytes": self.memory_limit, "error": value})
        if kind == "foreign":
            raise RenderFailed(Reason("render.failed", task=task, error=str(value)), {"error": value})
        if kind == "unsendable":
            raise RenderFailed(Reason("render.unsendable", task=task, error=str(value)))
        raise value


def _set_forkserver_preload(context: Any, modules: tuple[str, ...]) -> None:
    """Preload only takes effect before the fork server starts; later it is harmless."""
    context.set_forkserver_preload(list(modules))


def _ping() -> int:
    return os.getpid()


def _serve(conn: Connection, memory_limit: int | None, preload: tuple[str, ...], sys_path: list[str]) -> None:
    """The worker's loop: one request in, one answer out, until the daemon closes the pipe."""
    sys.path[:] = sys_path
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    for module in preload:
        importlib.import_module(module)
    _limit_resources(memory_limit)
    while True:
        try:
            func, args = conn.recv()
        except EOFError:
            return
        except Exception as error:  # a request that cannot be unpickled is the caller's error
            _reply(conn, ("error", error))
            continue
        if not _reply(conn, _call(func, args)):
            return


def _call(func: Callable[..., Any], args: tuple[Any, ...]) -> tuple[str, Any]:
    try:
        return "ok", func(*args)
    except MemoryError as error:
        return "memory", str(error) or "MemoryError"
    except Exception as error:  # every failure goes back to the caller to be re-raised there
        if _is_native_memory_error(error):
            return "memory", str(error)
        return "error", error


def _reply(conn: Connection, answer: tuple[str, Any]) -> bool:
    """Send ``answer``; False after a memory failure, when this worker should not go on."""
    try:
        conn.send(answer)
    except MemoryError:
        conn.send(("memory", "MemoryError while sending the answer"))
        return False
    except Exception as error:  # an unpicklable result, or an exception from native code (PyMuPDF's)
        kind, value = answer
        if kind == "error":
            conn.send(("foreign", f"{type(value).__name__}: {value}"))
        else:
            conn.send(("unsendable", f"{type(error).__name__}: {error}"))
    return answer[0] != "memory"


def _is_native_memory_error(error: Exception) -> bool:
    """MuPDF reports a failed malloc as its own exception type, not as MemoryError."""
    text = f"{type(error).__name__} {error}".lower()
    return "memory" in type(error).__name__.lower() or "alloc" in text or "out of memory" in text


def _limit_resources(memory_limit: int | None) -> None:
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    if memory_limit is None:
        return
    limit = _address_space() + memory_limit
    _, hard = resource.getrlimit(resource.RLIMIT_AS)
    if hard != resource.RLIM_INFINITY:
        limit = min(limit, hard)
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


def _address_space() -> int:
    """The worker's current virtual size (``/proc/self/statm`` field 1, in pages)."""
    with open("/proc/self/statm", encoding="ascii") as statm:
        pages = int(statm.read().split()[0])
    return pages * resource.getpagesize()
