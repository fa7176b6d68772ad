"""A dict whose entries expire: the in-memory stores (idempotency keys, privacy vaults)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Generic, TypeVar

V = TypeVar("V")


class ExpiringMap(Generic[V]):
    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._entries: dict[str, tuple[V, float]] = {}

    def put(self, key: str, value: V, ttl_s: float) -> None:
        self._entries[key] = (value, self._clock() + ttl_s)

    def get(self, key: str) -> V | None:
        """The value, or None when missing or expired."""
        found = self._entries.get(key)
        if found is None or found[1] <= self._clock():
            return None
        return found[0]

    def delete(self, key: str) -> None:
        self._entries.pop(key, None)

    def purge_expired(self) -> int:
        """Drop the expired entries; returns how many."""
        now = self._clock()
        expired = [k for k, (_, expires) in self._entries.items() if expires <= now]
        for key in expired:
            del self._entries[key]
        return len(expired)
