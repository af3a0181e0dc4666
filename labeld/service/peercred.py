"""Who is on the other end of the control socket, and may they control labeld?

File modes on the socket are the first fence; this is the second, and the one that cannot be
loosened by a careless ``chmod``: the kernel reports the peer's uid and gid at connect time
(``SO_PEERCRED``) and the daemon decides from that. Allowed are root, the daemon's own user and
members of the socket group, primary or supplementary. Group membership is looked up at each
decision, so ``usermod -aG labeld alice`` takes effect without restarting the daemon.

Users named in ``daemon.submit_users`` (CUPS's ``lp``, which runs the ``labeld`` backend) get in
with the ``submit`` scope: they may hand documents over and follow those jobs, nothing else.
"""

from __future__ import annotations

import grp
import os
import pwd
import socket
import struct
from dataclasses import dataclass
from typing import NamedTuple

_UCRED = struct.Struct("3i")


class PeerCredentials(NamedTuple):
    pid: int
    uid: int
    gid: int


CONTROL = "control"
SUBMIT = "submit"


@dataclass(frozen=True)
class Decision:
    """``allowed``, and for a refusal a sentence to log and to send back to the client.

    ``scope`` is :data:`CONTROL` (everything) or :data:`SUBMIT` (upload and follow jobs only)."""

    allowed: bool
    reason: str
    scope: str = CONTROL

    def __bool__(self) -> bool:
        return self.allowed


def peer_credentials(sock: socket.socket) -> PeerCredentials:
    """The (pid, uid, gid) of the process that connected ``sock`` (a connected AF_UNIX socket)."""
    raw = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, _UCRED.size)
    return PeerCredentials(*_UCRED.unpack(raw))


class Authorizer:
    """Decides whether a peer may use the control socket.

    ``group_name`` is ``daemon.socket_group``; an empty name means only root and the daemon's
    own user are let in (the built-in, single-user set-up). ``submit_users`` are let in with
    the :data:`SUBMIT` scope.
    """

    def __init__(self, group_name: str, *, submit_users: tuple[str, ...] = (), daemon_uid: int | None = None) -> None:
        self.group_name = group_name
        self.submit_users = frozenset(submit_users)
        self.daemon_uid = os.geteuid() if daemon_uid is None else daemon_uid

    def check_socket(self, sock: socket.socket) -> Decision:
        return self.check(peer_credentials(sock))

    def check(self, peer: PeerCredentials) -> Decision:
        if peer.uid == 0:
            return Decision(True, "root")
        if peer.uid == self.daemon_uid:
            return Decision(True, "the daemon's own user")
        user = _user_name(peer.uid)
        group_id = self._group_id()
        if group_id is not None and group_id in _groups_of(user, peer.gid):
            return Decision(True, f"member of group {self.group_name!r}")
        if user is not None and user in self.submit_users:
            return Decision(True, f"user {user!r} in daemon.submit_users", SUBMIT)
        return Decision(False, self._refusal(user, peer, group_id))

    def _group_id(self) -> int | None:
        if not self.group_name:
            return None
        try:
            return grp.getgrnam(self.group_name).gr_gid
        except KeyError:
            return None

    def _refusal(self, user: str | None, peer: PeerCredentials, group_id: int | None) -> str:
        who = f"user {user!r} (uid {peer.uid}, pid {peer.pid})" if user else f"uid {peer.uid} (pid {peer.pid})"
        if not self.group_name:
            return f"refused: {who} is neither root nor the user labeld runs as"
        if group_id is None:
            return (f"refused: {who} is neither root nor the user labeld runs as, and the socket group "
                    f"{self.group_name!r} does not exist")
        fix = f"; an administrator can add them with: usermod -aG {self.group_name} {user}" if user else ""
        return f"refused: {who} is not in group {self.group_name!r}{fix}"


def _user_name(uid: int) -> str | None:
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return None


def _groups_of(user: str | None, gid: int) -> set[int]:
    """The peer's gid at connect time plus every group its user belongs to."""
    if user is None:
        return {gid}
    return {gid, *os.getgrouplist(user, pwd.getpwnam(user).pw_gid)}
