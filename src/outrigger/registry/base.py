"""The model store Protocol: a tiny key/value blob store the registry is built on.

Keys are ``/``-separated paths (``credit-risk/versions/2.1.3/model.onnx``). The registry keeps
all of its logic above this Protocol, so a directory (a mounted volume or a Git LFS checkout),
an S3-compatible bucket and the in-memory store behave the same (one contract suite).
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable


class BlobExists(Exception):
    """A write without ``overwrite`` found the key taken (versions are immutable)."""


@runtime_checkable
class BlobStore(Protocol):
    def read(self, key: str) -> bytes | None:
        """The bytes at ``key``, or None."""
        ...

    def write(self, key: str, data: bytes, *, overwrite: bool = False) -> None:
        """Store atomically; raise ``BlobExists`` if the key exists and not ``overwrite``."""
        ...

    def list(self, prefix: str) -> list[str]:
        """Every key under ``prefix``, sorted."""
        ...

    def delete(self, key: str) -> None:
        """Remove ``key`` (missing keys are not an error)."""
        ...

    def describe(self) -> str:
        """Where the store is, for messages."""
        ...
