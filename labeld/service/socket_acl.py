"""Let named users reach the control socket with a POSIX ACL, without widening its mode.

The socket stays mode 0660 in ``daemon.socket_group`` (members may control labeld); the users in
``daemon.submit_users`` — CUPS's ``lp``, which runs the ``labeld`` backend — get one ACL entry each:
``rw`` on the socket (connecting needs write permission) and ``x`` on its folder when labeld owns
that folder (``/run/labeld``, mode 0750). Nobody else gains anything: the mask is the union of the
group's and these users' permissions, so the mode bits ``ls -l`` shows do not change. SO_PEERCRED
then gives these users the ``submit`` scope only (see :mod:`labeld.service.peercred`).

The ACL is written as the kernel's ``system.posix_acl_access`` extended attribute (acl(5),
``posix_acl_xattr.h``), so neither libacl nor ``setfacl`` is needed. Entries already there (an
administrator's ``setfacl``) are kept.
"""

from __future__ import annotations

import errno
import os
import pwd
import stat
import struct
from pathlib import Path

import structlog

log = structlog.get_logger("labeld.api")

XATTR = "system.posix_acl_access"
VERSION = 2
UNDEFINED_ID = 0xFFFFFFFF
USER_OBJ, USER, GROUP_OBJ, GROUP, MASK, OTHER = 0x01, 0x02, 0x04, 0x08, 0x10, 0x20
_HEADER = struct.Struct("<I")
_ENTRY = struct.Struct("<HHI")
READ_WRITE, SEARCH = 6, 1

Entry = tuple[int, int, int]  # tag, permission bits (rwx = 4|2|1), uid/gid or UNDEFINED_ID


def grant_submit_users(socket_path: Path, users: tuple[str, ...]) -> None:
    """Give each of ``users`` ``rw`` on the socket and ``x`` on its folder (if labeld owns it).

    Problems (an unknown user, a file system without ACLs) are logged with what to do; the
    daemon serves on regardless, and the members of the socket group are not affected."""
    uids = []
    for user in users:
        try:
            uids.append(pwd.getpwnam(user).pw_uid)
        except KeyError:
            log.warning("api_submit_user_missing", user=user,
                        reason=f"daemon.submit_users names {user!r}, which is not a user on this system")
    if not uids:
        return
    folder = socket_path.parent
    try:
        add_users(socket_path, uids, READ_WRITE)
        if folder.stat().st_uid == os.geteuid():
            add_users(folder, uids, SEARCH)
    except OSError as error:
        log.warning("api_submit_acl_failed", socket=str(socket_path), users=list(users),
                    reason=f"cannot give {', '.join(users)} access to the socket with an ACL ({error.strerror}); "
                           "the CUPS backend will be refused: mount the file system with ACL support")


def add_users(path: Path, uids: list[int], permission: int) -> None:
    """Add (or widen) a named-user entry with ``permission`` for each uid in ``path``'s access ACL."""
    entries = read_acl(path)
    named = {ident: perm for tag, perm, ident in entries if tag == USER}
    for uid in uids:
        named[uid] = named.get(uid, 0) | permission
    base = {tag: perm for tag, perm, _ in entries if tag in (USER_OBJ, GROUP_OBJ, OTHER)}
    groups = [(tag, perm, ident) for tag, perm, ident in entries if tag == GROUP]
    mask = base[GROUP_OBJ]
    for perm in [*named.values(), *(perm for _, perm, _ in groups)]:
        mask |= perm
    acl = [(USER_OBJ, base[USER_OBJ], UNDEFINED_ID), *((USER, perm, uid) for uid, perm in sorted(named.items())),
           (GROUP_OBJ, base[GROUP_OBJ], UNDEFINED_ID), *sorted(groups, key=lambda e: e[2]),
           (MASK, mask, UNDEFINED_ID), (OTHER, base[OTHER], UNDEFINED_ID)]
    os.setxattr(path, XATTR, encode_acl(acl))


def read_acl(path: Path) -> list[Entry]:
    """``path``'s access ACL; a file without one is described by its mode bits alone."""
    try:
        return decode_acl(os.getxattr(path, XATTR))
    except OSError as error:
        if error.errno not in (errno.ENODATA, errno.EOPNOTSUPP):  # no ACL yet; setxattr says EOPNOTSUPP again
            raise
    mode = stat.S_IMODE(path.stat().st_mode)
    return [(USER_OBJ, mode >> 6 & 7, UNDEFINED_ID), (GROUP_OBJ, mode >> 3 & 7, UNDEFINED_ID),
            (OTHER, mode & 7, UNDEFINED_ID)]


def encode_acl(entries: list[Entry]) -> bytes:
    return _HEADER.pack(VERSION) + b"".join(_ENTRY.pack(*entry) for entry in entries)


def decode_acl(raw: bytes) -> list[Entry]:
    (version,) = _HEADER.unpack_from(raw)
    if version != VERSION or (len(raw) - _HEADER.size) % _ENTRY.size:
        raise ValueError(f"not a version {VERSION} POSIX ACL ({len(raw)} bytes, version {version})")
    return [_ENTRY.unpack_from(raw, offset) for offset in range(_HEADER.size, len(raw), _ENTRY.size)]
