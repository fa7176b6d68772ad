"""In-memory idempotency store: for tests and single-process experiments."""

from __future__ import annotations

import time
from collections.abc import Callable

from outrigger.storage.expiring import ExpiringMap


class MemoryIdempotencyStore:
    def __init__(self, ttl_s: float, clock: Callable[[], float] = time.time) -> None:
        self._ttl = ttl_s
        self._entries: ExpiringMap[str] = ExpiringMap(clock)

    async def get(self, key: str) -> str | None:
        return self._entries.get(key)

    async def put(self, key: str, value: str) -> None:
        self._entries.put(key, value, self._ttl)

    async def purge_expired(self) -> int:
        return self._entries.purge_expired()

    async def close(self) -> None:
        pass
