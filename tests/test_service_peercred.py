"""SO_PEERCRED and the socket authorizer, with real users: the test creates a group and two
throwaway users, connects as each of them from a subprocess, and removes them afterwards."""

from __future__ import annotations

import os
import pwd
import socket
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from labeld.service.peercred import Authorizer, PeerCredentials, peer_credentials
from tests.conftest import become

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="creating users and switching to them needs root")

@dataclass(frozen=True)
class Accounts:
    group: str
    member: str
    outsider: str


def _run(*command: str) -> None:
    subprocess.run(command, check=True, capture_output=True)


@pytest.fixture(scope="module")
def accounts() -> Iterator[Accounts]:
    tag = uuid.uuid4().hex[:8]
    made = Accounts(group=f"lbltg{tag}", member=f"lbltm{tag}", outsider=f"lblto{tag}")
    _run("groupadd", "--system", made.group)
    try:
        _run("useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", "-G", made.group, made.member)
        _run("useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", made.outsider)
        yield made
    finally:
        for user in (made.member, made.outsider):
            subprocess.run(["userdel", user], capture_output=True)
        subprocess.run(["groupdel", made.group], capture_output=True)


def connect_as(user: str, authorizer: Authorizer) -> tuple[PeerCredentials, str, int]:
    """Serve one connection from a forked client that switched to ``user``: credentials seen, answer, its pid."""
    name = b"\0labeld-test-" + uuid.uuid4().hex.encode()
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as server:
        server.bind(name)
        server.listen(1)
        server.settimeout(10.0)
        reader, writer = os.pipe()
        pid = os.fork()
        if pid == 0:
            _client(user, name, writer)
        os.close(writer)
        connection, _ = server.accept()
        with connection:
            peer = peer_credentials(connection)
            connection.sendall(authorizer.check_socket(connection).reason.encode())
        with os.fdopen(reader, "rb") as answer:
            text = answer.read().decode()
        _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0, text
    return peer, text, pid


def _client(user: str, name: bytes, writer: int) -> None:
    """In the forked child: become ``user`` (groups, gid, uid, in that order), connect, report the answer."""
    code = 1
    try:
        become(user)
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.connect(name)
            os.write(writer, sock.recv(4096))
        code = 0
    except BaseException as error:
        os.write(writer, repr(error).encode())
    finally:
        os._exit(code)


def test_peer_credentials_of_a_socketpair_are_our_own() -> None:
    """Both ends of a socketpair report this process's pid, uid and gid."""
    left, right = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    with left, right:
        assert peer_credentials(left) == (os.getpid(), os.getuid(), os.getgid())


def test_root_is_allowed() -> None:
    """Root (this test) gets in whatever the group."""
    left, right = socket.socketpair()
    with left, right:
        decision = Authorizer("no-such-group-here").check_socket(left)
    assert decision.allowed and decision.reason == "root"


def test_outsider_is_refused_with_a_reason(accounts: Accounts) -> None:
    """A user outside the socket group is refused, and is told how an admin would let them in."""
    peer, answer, pid = connect_as(accounts.outsider, Authorizer(accounts.group, daemon_uid=1))
    uid = pwd.getpwnam(accounts.outsider).pw_uid
    assert (peer.pid, peer.uid) == (pid, uid)
    assert answer == (f"refused: user {accounts.outsider!r} (uid {uid}, pid {pid}) is not in group "
                      f"{accounts.group!r}; an administrator can add them with: "
                      f"usermod -aG {accounts.group} {accounts.outsider}")


def test_supplementary_group_member_is_allowed(accounts: Accounts) -> None:
    """Membership through a supplementary group is enough."""
    peer, answer, _ = connect_as(accounts.member, Authorizer(accounts.group, daemon_uid=1))
    assert peer.uid == pwd.getpwnam(accounts.member).pw_uid
    assert answer == f"member of group {accounts.group!r}"


def test_daemon_user_is_allowed(accounts: Accounts) -> None:
    """The user the daemon runs as needs no group (labelctl run by the service account)."""
    uid = pwd.getpwnam(accounts.outsider).pw_uid
    _, answer, _ = connect_as(accounts.outsider, Authorizer(accounts.group, daemon_uid=uid))
    assert answer == "the daemon's own user"


def test_missing_group_lets_only_root_and_daemon_in(accounts: Accounts) -> None:
    """A socket_group that does not exist refuses everyone else, and says the group is missing."""
    _, answer, _ = connect_as(accounts.member, Authorizer("lbl-missing-group", daemon_uid=1))
    assert answer.startswith("refused: ") and answer.endswith("the socket group 'lbl-missing-group' does not exist")


def test_primary_group_counts() -> None:
    """A peer whose gid at connect time is the socket group is a member, even if not listed in it."""
    group_gid = os.getgid()
    decision = Authorizer("root", daemon_uid=1).check(PeerCredentials(pid=1, uid=65534, gid=group_gid))
    assert decision.allowed


def test_submit_user_gets_the_submit_scope(accounts: Accounts) -> None:
    """A user named in submit_users and in no group is let in, with the submit scope only."""
    _, answer, _ = connect_as(accounts.outsider, Authorizer(accounts.group, submit_users=(accounts.outsider,),
                                                            daemon_uid=1))
    assert answer == f"user {accounts.outsider!r} in daemon.submit_users"
    uid = pwd.getpwnam(accounts.outsider).pw_uid
    decision = Authorizer(accounts.group, submit_users=(accounts.outsider,), daemon_uid=1).check(
        PeerCredentials(pid=1, uid=uid, gid=pwd.getpwnam(accounts.outsider).pw_gid))
    assert decision.allowed and decision.scope == "submit"
    member = pwd.getpwnam(accounts.member)
    both = Authorizer(accounts.group, submit_users=(accounts.member,), daemon_uid=1).check(
        PeerCredentials(pid=1, uid=member.pw_uid, gid=member.pw_gid))
    assert both.scope == "control"
