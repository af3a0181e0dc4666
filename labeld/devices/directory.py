"""``dir:///path``: each label becomes one file in a folder (the preview printer's device)."""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import SplitResult, unquote

from labeld.devices.base import register_scheme
from labeld.errors import DeviceError


class DirectoryDevice:
    bidirectional = False

    def __init__(self, path: Path, uri: str) -> None:
        self.path = path
        self.uri = uri

    def open(self) -> None:
        try:
            self.path.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise DeviceError(f"cannot create {self.path}: {error.strerror}") from error

    def write(self, data: bytes, name: str | None = None) -> None:
        self.open()
        target = self.path / (name or self._next_name())
        temp = target.with_name(f".{target.name}.part")
        try:
            with open(temp, "wb") as out:
                out.write(data)
                out.flush()
                os.fsync(out.fileno())
            os.replace(temp, target)
        except OSError as error:
            raise DeviceError(f"cannot write {target}: {error.strerror}", reason="other") from error

    def read(self, size: int, timeout: float) -> bytes:
        return b""

    def finish(self, timeout: float) -> None:
        """This connection cannot tell when the printer took the label: nothing to wait for."""
        self.close()

    def close(self) -> None:
        pass

    def _next_name(self) -> str:
        count = sum(1 for p in self.path.iterdir() if not p.name.startswith("."))
        return f"{count + 1:06d}.bin"


def _from_uri(parsed: SplitResult, uri: str) -> DirectoryDevice:
    path = unquote(parsed.netloc + parsed.path) if parsed.netloc else unquote(parsed.path)
    if not path:
        raise DeviceError(f"{uri!r}: no folder; write dir:///path/to/folder")
    return DirectoryDevice(Path(path), uri)


register_scheme("dir", _from_uri)
