"""Storage Protocols. Each has an in-memory implementation and a SQL one (SQLite by default,
PostgreSQL when configured) sharing one contract-test suite."""

from __future__ import annotations

from typing import Protocol, runtime_checkable


@runtime_checkable
class IdempotencyStore(Protocol):
    """Remembers which source events already produced a confirmed result.

    The key is the deterministic result-event id (source event id + pipeline name + version),
    so a redelivered event is recognised and acknowledged without being processed again.
    Entries expire after ``ttl_s`` seconds (the longest a broker may plausibly redeliver).
    """

    async def get(self, key: str) -> str | None:
        """The recorded value for ``key`` (the result id), or None."""
        ...

    async def put(self, key: str, value: str) -> None:
        """Record ``key``; recording the same key twice is not an error (last write wins)."""
        ...

    async def purge_expired(self) -> int:
        """Delete expired entries; returns how many."""
        ...

    async def close(self) -> None: ...
