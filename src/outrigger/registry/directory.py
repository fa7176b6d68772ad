"""A directory as the model store: works on a mounted volume or a Git LFS checkout."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from outrigger.registry.base import BlobExists


class DirectoryBlobStore:
    def __init__(self, root: Path) -> None:
        self.root = root

    def _path(self, key: str) -> Path:
        path = (self.root / key).resolve()
        if not path.is_relative_to(self.root.resolve()):
            raise ValueError(f"key escapes the store: {key!r}")
        return path

    def read(self, key: str) -> bytes | None:
        path = self._path(key)
        return path.read_bytes() if path.is_file() else None

    def write(self, key: str, data: bytes, *, overwrite: bool = False) -> None:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        if not overwrite and path.exists():
            raise BlobExists(key)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, path)  # atomic: readers see the old or the new file, never half
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def list(self, prefix: str) -> list[str]:
        base = self.root.resolve()
        start = self._path(prefix) if prefix else base
        # The whole store is listed from its root, even before that exists (never its parent).
        folder = start if start.is_dir() or not prefix else start.parent
        if not folder.exists():
            return []
        keys = (str(p.relative_to(base)) for p in folder.rglob("*") if p.is_file())
        return sorted(k for k in keys if k.startswith(prefix) and "/.tmp-" not in k)

    def delete(self, key: str) -> None:
        self._path(key).unlink(missing_ok=True)

    def describe(self) -> str:
        return str(self.root)
