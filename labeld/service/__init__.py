"""How labeld lives under systemd: readiness and watchdog notifications, and who may use the socket.

``notify`` speaks the sd_notify datagram protocol without libsystemd; ``peercred`` asks the kernel
who is on the other end of a Unix socket and decides whether they may control the daemon.
"""

from __future__ import annotations

from labeld.service.notify import (
    ready,
    reloading,
    status,
    stopping,
    watchdog,
    watchdog_interval,
)
from labeld.service.peercred import CONTROL, SUBMIT, Authorizer, Decision, PeerCredentials, peer_credentials

__all__ = [
    "CONTROL",
    "SUBMIT",
    "Authorizer",
    "Decision",
    "PeerCredentials",
    "peer_credentials",
    "ready",
    "reloading",
    "status",
    "stopping",
    "watchdog",
    "watchdog_interval",
]
