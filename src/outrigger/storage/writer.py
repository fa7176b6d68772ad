"""Batched writes off the hot path: callers hand over records and move on.

A background task flushes every ``interval_s`` (sooner when ``max_batch`` records wait);
``close`` flushes whatever is left, so a clean shutdown (SIGTERM) loses nothing. A failed
flush keeps its records for the next one.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any, Generic, TypeVar

T = TypeVar("T")
log = logging.getLogger(__name__)
Runner = Callable[..., Awaitable[Any]]


class BackgroundWriter(Generic[T]):
    def __init__(
        self,
        name: str,
        sink: Callable[[list[T]], None],
        run: Runner,
        *,
        interval_s: float = 0.2,
        max_batch: int = 500,
    ) -> None:
        self.name = name
        self._sink = sink
        self._run = run  # runs the blocking sink off the event loop (Database.run)
        self.interval_s = interval_s
        self.max_batch = max_batch
        self._pending: list[T] = []
        self._wake = asyncio.Event()
        self._lock = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self.written = 0
        self.failures = 0

    def add(self, item: T) -> None:
        self._pending.append(item)
        if len(self._pending) >= self.max_batch:
            self._wake.set()

    @property
    def pending(self) -> int:
        return len(self._pending)

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._loop(), name=f"{self.name}-writer")

    async def _loop(self) -> None:
        while not self._stopping:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.interval_s)
            self._wake.clear()
            await self.flush()

    async def flush(self) -> bool:
        """Write what is pending; False (records kept) when the write failed."""
        async with self._lock:
            while self._pending:
                batch = self._pending[: self.max_batch]
                try:
                    await self._run(self._sink, batch)
                except Exception:
                    self.failures += 1
                    log.exception(
                        "%s: writing %d records failed; will retry", self.name, len(batch)
                    )
                    return False
                del self._pending[: len(batch)]
                self.written += len(batch)
        return True

    async def close(self, attempts: int = 3) -> None:
        if self._task is not None:
            # Not cancelled: a flush cut off mid-write could be written twice.
            self._stopping = True
            self._wake.set()
            await self._task
            self._task = None
        for attempt in range(attempts):
            if await self.flush():
                return
            await asyncio.sleep(0.2 * (attempt + 1))
        log.error("%s: %d records could not be written at shutdown", self.name, self.pending)
