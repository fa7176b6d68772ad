"""In-memory idempotency store: for tests and single-process experiments."""

from __future__ import annotations

import time
from collections.abc import Callable


class MemoryIdempotencyStore:
    def __init__(self, ttl_s: float, clock: Callable[[], float] = time.time) -> None:
        self._ttl = ttl_s
        self._clock = clock
        self._entries: dict[str, tuple[str, float]] = {}

    async def get(self, key: str) -> str | None:
        found = self._entries.get(key)
        if found is None or found[1] <= self._clock():
            return None
        return found[0]

    async def put(self, key: str, value: str) -> None:
        self._entries[key] = (value, self._clock() + self._ttl)

    async def purge_expired(self) -> int:
        now = self._clock()
        expired = [k for k, (_, expires) in self._entries.items() if expires <= now]
        for key in expired:
            del self._entries[key]
        return len(expired)

    async def close(self) -> None:
        pass
