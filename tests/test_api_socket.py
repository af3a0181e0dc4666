"""The control socket file: mode and group, a stale file replaced, a live one refused, and
SO_PEERCRED refusing a user outside the socket group even through a careless chmod 666."""

from __future__ import annotations

import grp
import json
import os
import shutil
import socket
import stat
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from labeld.cli.client import UnixHTTPConnection
from labeld.labelmaker import batch_pdf
from labeld.testing.daemon import DaemonProcess
from tests.conftest import become

ROOT_ONLY = pytest.mark.skipif(os.geteuid() != 0, reason="creating users and switching to them needs root")


def get_status(path: Path) -> int:
    connection = UnixHTTPConnection(path, timeout=10)
    try:
        connection.request("GET", "/v1/status")
        return connection.getresponse().status
    finally:
        connection.close()


def test_stale_socket_replaced_and_live_one_refused(tmp_path: Path) -> None:
    """A socket file nobody listens on is replaced; a second labeld on a live socket stops with a sentence."""
    shared = tmp_path / "shared.sock"
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as crashed:
        crashed.bind(str(shared))
    assert stat.S_ISSOCK(shared.lstat().st_mode)
    first = DaemonProcess(tmp_path / "one", sections={"daemon": {"socket": str(shared)}})
    with first:
        assert get_status(shared) == 200
        assert stat.S_IMODE(shared.stat().st_mode) == 0o660
        second = DaemonProcess(tmp_path / "two", sections={"daemon": {"socket": str(shared)}})
        with pytest.raises(RuntimeError):
            second.start(timeout=20)
        assert second.process is not None and second.process.wait(10) != 0
        assert f"another labeld is already serving on {shared}" in second.log_text()
        assert get_status(shared) == 200
    assert not shared.exists()


def test_non_socket_file_is_not_replaced(tmp_path: Path) -> None:
    """A regular file at the socket path is someone's data: start-up refuses to delete it."""
    path = tmp_path / "taken.sock"
    path.write_text("keep me")
    daemon = DaemonProcess(tmp_path / "d", sections={"daemon": {"socket": str(path)}})
    with pytest.raises(RuntimeError):
        daemon.start(timeout=20)
    assert path.read_text() == "keep me" and "is not a socket" in daemon.log_text()


def _run(*command: str) -> None:
    subprocess.run(command, check=True, capture_output=True)


@pytest.fixture(scope="module")
def accounts() -> Iterator[tuple[str, str, str]]:
    """(group, member, outsider): throwaway accounts, removed afterwards."""
    tag = uuid.uuid4().hex[:8]
    group, member, outsider = f"lblag{tag}", f"lblam{tag}", f"lblao{tag}"
    _run("groupadd", "--system", group)
    try:
        _run("useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", "-G", group, member)
        _run("useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", outsider)
        yield group, member, outsider
    finally:
        for user in (member, outsider):
            subprocess.run(["userdel", user], capture_output=True)
        subprocess.run(["groupdel", group], capture_output=True)


def request_as(user: str, path: Path, method: str = "GET", target: str = "/v1/status",
               body: bytes | None = None) -> tuple[int, str]:
    """One request from a forked child that became ``user``: (HTTP status or -errno, body)."""
    reader, writer = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - runs in the child
        code = 1
        try:
            become(user)
            try:
                connection = UnixHTTPConnection(path, timeout=30)
                connection.request(method, target, body=body, headers={"Content-Type": "application/pdf"})
                response = connection.getresponse()
                answer = json.dumps([response.status, response.read().decode(errors="replace")])
            except PermissionError as error:
                answer = json.dumps([-error.errno, str(error)])
            os.write(writer, answer.encode())
            code = 0
        finally:
            os._exit(code)
    os.close(writer)
    with os.fdopen(reader, "rb") as pipe:
        raw = pipe.read()
    os.waitpid(pid, 0)
    status, body = json.loads(raw)
    return int(status), str(body)


@ROOT_ONLY
def test_group_members_allowed_outsiders_refused(accounts: tuple[str, str, str]) -> None:
    """Mode 0660 + group lets members in; an outsider is kept out by the file mode and, after
    chmod 666, by SO_PEERCRED with a 403 that says how to fix it."""
    group, member, outsider = accounts
    public = Path(tempfile.mkdtemp(prefix="labeld-api-"))
    public.chmod(0o755)
    sock = public / "labeld.sock"
    with DaemonProcess(public / "d", sections={"daemon": {"socket": str(sock), "socket_group": group}}):
        info = sock.stat()
        assert stat.S_IMODE(info.st_mode) == 0o660 and info.st_gid == grp.getgrnam(group).gr_gid
        assert request_as(member, sock)[0] == 200
        assert request_as(outsider, sock)[0] < 0
        sock.chmod(0o666)
        status, body = request_as(outsider, sock)
        assert status == 403
        error = json.loads(body)["error"]
        assert error["code"] == "forbidden" and f"usermod -aG {group} {outsider}" in error["message"]
        assert get_status(sock) == 200
    shutil.rmtree(public)


@ROOT_ONLY
def test_submit_user_gets_in_by_acl_and_may_only_submit(accounts: tuple[str, str, str]) -> None:
    """A daemon.submit_users user reaches a socket in a 0700 folder through ACL entries (the
    socket stays 0660; the folder's group bits show the ACL mask), may upload and follow its job,
    and gets 403 for anything else; a socket-group member not named there cannot reach the folder."""
    group, member, submitter = accounts
    private = Path(tempfile.mkdtemp(prefix="labeld-api-"))
    sock = private / "labeld.sock"
    sections = {"daemon": {"socket": str(sock), "socket_group": group, "submit_users": [submitter]}}
    with DaemonProcess(private / "d", sections=sections):
        assert stat.S_IMODE(sock.stat().st_mode) == 0o660 and stat.S_IMODE(private.stat().st_mode) == 0o710
        pdf = batch_pdf(1, first_posting=84000000)
        status, body = request_as(submitter, sock, "POST", "/v1/documents?requested_by=cups", pdf)
        assert status == 201, body
        job = json.loads(body)["job_ids"][0]
        assert request_as(submitter, sock, "GET", f"/v1/jobs/{job}")[0] == 200
        assert request_as(submitter, sock, "GET", "/v1/events?timeout=0")[0] == 200
        for method, target in (("POST", f"/v1/jobs/{job}/cancel"), ("GET", f"/v1/jobs/{job}/preview.png"),
                               ("GET", "/v1/jobs"), ("POST", "/v1/printers/preview/pause")):
            status, body = request_as(submitter, sock, method, target)
            assert status == 403 and "may only submit documents" in body, (target, body)
        assert request_as(member, sock)[0] == -13  # EACCES: the folder is 0700 and only the ACL lets one in
    shutil.rmtree(private)
