"""sd_notify: tell systemd that labeld is ready, what it is doing, and that it is still alive.

The protocol is one datagram of ``KEY=value`` lines to the Unix socket named by ``$NOTIFY_SOCKET``
(a path, or ``@name`` for the abstract namespace). It is a few lines, so labeld speaks it itself
rather than depend on libsystemd. Outside systemd the variable is unset and every call is a no-op,
so the daemon calls these unconditionally. A failed send never raises: a daemon must not die
because its supervisor is briefly unreachable; the boolean result says whether it was sent.
"""

from __future__ import annotations

import os
import socket

NOTIFY_SOCKET = "NOTIFY_SOCKET"


def notify(**fields: object) -> bool:
    """Send ``fields`` (e.g. ``READY=1, STATUS="..."``) to systemd; False when not under systemd or on error."""
    address = _address(os.environ.get(NOTIFY_SOCKET, ""))
    if address is None or not fields:
        return False
    message = "".join(f"{key}={_one_line(value)}\n" for key, value in fields.items()).encode()
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
            # Never block the main loop: a receiver that stopped reading (a full queue of 10
            # datagrams by default) must cost a lost status line, not a hung daemon.
            sock.sendto(message, socket.MSG_DONTWAIT, address)
    except OSError:
        return False
    return True


def ready(status_text: str | None = None) -> bool:
    """Start-up is complete: systemd now reports the unit active and starts what waits for it."""
    if status_text is None:
        return notify(READY=1)
    return notify(READY=1, STATUS=status_text)


def status(text: str) -> bool:
    """The one line an operator sees under ``systemctl status labeld``."""
    return notify(STATUS=text)


def watchdog() -> bool:
    """Proof of life; send it from the main loop more often than ``watchdog_interval()``."""
    return notify(WATCHDOG=1)


def stopping(status_text: str | None = None) -> bool:
    """A clean stop has begun, so systemd does not mistake the quiet that follows for a hang."""
    if status_text is None:
        return notify(STOPPING=1)
    return notify(STOPPING=1, STATUS=status_text)


def reloading() -> bool:
    """A reload (SIGHUP) has begun; follow it with ``ready()`` when the new configuration is in use."""
    return notify(RELOADING=1)


def watchdog_interval() -> float | None:
    """systemd's watchdog timeout in seconds, or None when no watchdog is set for this process.

    Ping at half of it at most. ``WATCHDOG_PID`` names the process the setting is for; a child
    that inherited the environment must not believe the watchdog is its business.
    """
    usec = os.environ.get("WATCHDOG_USEC", "")
    pid = os.environ.get("WATCHDOG_PID", "")
    if not usec.isdigit() or int(usec) == 0:
        return None
    if pid and (not pid.isdigit() or int(pid) != os.getpid()):
        return None
    return int(usec) / 1_000_000


def _address(value: str) -> str | bytes | None:
    if value.startswith("@"):
        return b"\0" + value[1:].encode()
    if value.startswith("/"):
        return value
    return None


def _one_line(value: object) -> str:
    """A newline inside a value would start a new field, so it becomes a space."""
    return " ".join(str(value).splitlines())
