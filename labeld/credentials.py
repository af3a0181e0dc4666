"""Secrets (marketplace API keys and tokens) read from a file or a systemd credential.

A key never comes from the config text: the config names a file (``api_key_file``, which must
be readable by its owner only) or a systemd credential (``credential``, found in
``$CREDENTIALS_DIRECTORY`` when the unit says ``LoadCredential=``). The value is held in a
:class:`Secret`, whose ``repr`` and ``str`` are masked, so a stray log line or an exception
message cannot carry it. Errors name the file, never its content.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from labeld.errors import LabeldError

MAX_SECRET_BYTES = 4096
CREDENTIALS_ENV = "CREDENTIALS_DIRECTORY"


class SecretUnavailable(LabeldError):
    """The key cannot be read, or is kept where others can read it."""


class Secret:
    """A secret string that does not show itself; :meth:`reveal` is the one way to the value."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('***')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


def read_secret_file(path: Path) -> Secret:
    """The one-line secret in ``path``; :class:`SecretUnavailable` if it is missing, empty, not a
    regular file, or readable or writable by anyone but its owner (mode 0600 or 0400)."""
    try:
        info = path.stat()
    except FileNotFoundError:
        raise SecretUnavailable(f"{path} does not exist") from None
    except OSError as error:
        raise SecretUnavailable(f"{path} cannot be read: {error.strerror}") from None
    if not stat.S_ISREG(info.st_mode):
        raise SecretUnavailable(f"{path} is not a regular file")
    if info.st_mode & 0o077:
        raise SecretUnavailable(f"{path} has mode {stat.S_IMODE(info.st_mode):04o}: other users can read it; "
                                f"chmod 600 {path} (and get a new key if it was exposed)")
    try:
        raw = path.read_bytes()[: MAX_SECRET_BYTES + 1]
    except OSError as error:
        raise SecretUnavailable(f"{path} cannot be read: {error.strerror}") from None
    if len(raw) > MAX_SECRET_BYTES:
        raise SecretUnavailable(f"{path} is longer than {MAX_SECRET_BYTES} bytes: it is not a key")
    try:
        value = raw.decode("utf-8").strip()
    except UnicodeDecodeError:
        raise SecretUnavailable(f"{path} is not UTF-8 text") from None
    if not value:
        raise SecretUnavailable(f"{path} is empty")
    if any(ch in value for ch in "\r\n\x00"):
        raise SecretUnavailable(f"{path} holds more than one line; put only the key in it")
    return Secret(value)


def credential_path(name: str) -> Path:
    """Where systemd put the credential ``name`` for this service."""
    directory = os.environ.get(CREDENTIALS_ENV)
    if not directory:
        raise SecretUnavailable(f"credential {name!r}: ${CREDENTIALS_ENV} is not set; run labeld under systemd "
                                f"with LoadCredential={name}:/path/to/key (or use api_key_file)")
    return Path(directory) / name


def load_secret(api_key_file: Path | None, credential: str) -> Secret:
    """The key from ``api_key_file``, else from the systemd credential ``credential``."""
    if api_key_file is not None:
        return read_secret_file(api_key_file)
    if credential:
        return read_secret_file(credential_path(credential))
    raise SecretUnavailable("no api_key_file and no credential is configured")
