"""In-memory blob store, for tests."""

from __future__ import annotations

from outrigger.registry.base import BlobExists


class MemoryBlobStore:
    def __init__(self) -> None:
        self._blobs: dict[str, bytes] = {}

    def read(self, key: str) -> bytes | None:
        return self._blobs.get(key)

    def write(self, key: str, data: bytes, *, overwrite: bool = False) -> None:
        if not overwrite and key in self._blobs:
            raise BlobExists(key)
        self._blobs[key] = bytes(data)

    def list(self, prefix: str) -> list[str]:
        return sorted(k for k in self._blobs if k.startswith(prefix))

    def delete(self, key: str) -> None:
        self._blobs.pop(key, None)

    def describe(self) -> str:
        return "memory://"
