"""Files in the spool: documents stored by content hash, label bitmaps by job id.

Every file is written to a temporary name, fsynced, renamed into place and its folder fsynced,
so that a file the database points at is complete after a crash or a power cut.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_durably(target: Path, data: bytes) -> None:
    """Write ``data`` to ``target`` so that it is complete on disk before this returns."""
    target.parent.mkdir(parents=True, exist_ok=True)
    temp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    with open(temp, "wb") as out:
        out.write(data)
        out.flush()
        os.fsync(out.fileno())
    os.replace(temp, target)
    fsync_dir(target.parent)


class DocumentStore:
    """Documents under ``root/documents/ab/abcdef…``, bitmaps under ``root/bitmaps``."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.documents = root / "documents"
        self.bitmaps = root / "bitmaps"
        for folder in (self.documents, self.bitmaps):
            folder.mkdir(parents=True, exist_ok=True)

    def document_path(self, sha256: str) -> Path:
        return self.documents / sha256[:2] / sha256

    def put_bytes(self, data: bytes) -> tuple[str, Path]:
        sha = hashlib.sha256(data).hexdigest()
        target = self.document_path(sha)
        if not target.exists():
            write_durably(target, data)
        return sha, target

    def bitmap_path(self, job_id: int, plane: str = "") -> Path:
        """The rendered label of a job; ``plane="red"`` for the red plane of two-colour media."""
        suffix = f"-{plane}" if plane else ""
        return self.bitmaps / f"{job_id // 1000:04d}" / f"{job_id}{suffix}.png"

    def put_bitmap(self, job_id: int, png: bytes, plane: str = "") -> Path:
        """Store a rendered label. Not fsynced: a bitmap lost in a crash is rendered again."""
        path = self.bitmap_path(job_id, plane)
        path.parent.mkdir(parents=True, exist_ok=True)
        temp = path.with_name(f".{path.name}.tmp")
        temp.write_bytes(png)
        os.replace(temp, path)
        return path

    def remove_document(self, sha256: str) -> None:
        self.document_path(sha256).unlink(missing_ok=True)

    def remove_bitmap(self, job_id: int) -> None:
        self.bitmap_path(job_id).unlink(missing_ok=True)
        self.bitmap_path(job_id, "red").unlink(missing_ok=True)

    def free_bytes(self) -> int:
        stat = os.statvfs(self.root)
        return stat.f_bavail * stat.f_frsize
