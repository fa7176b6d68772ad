"""Batched writes off the hot path: callers hand over records and move on.

A background task flushes every ``interval_s`` (sooner when ``max_batch`` records wait);
``close`` flushes whatever is left, so a clean shutdown (SIGTERM) loses nothing. A failed
flush keeps its records for the next one, except a record with a value too long for its
column: that one is logged with its fields and set aside, so that it cannot hold back the
records after it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any, Generic, TypeVar

from sqlalchemy.exc import DataError

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
        capacity: int | None = None,
        on_reject: Callable[[], None] | None = None,
    ) -> None:
        self.name = name
        self._sink = sink
        self._run = run  # runs the blocking sink off the event loop (Database.run)
        self.interval_s = interval_s
        self.max_batch = max_batch
        #: Records pending from which ``full`` is true (None: never). ``add`` still takes
        #: what is handed over: the caller checks ``full`` before starting new work.
        self.capacity = capacity
        self._pending: list[T] = []
        self._wake = asyncio.Event()
        self._lock = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self.written = 0
        self.failures = 0
        self.rejected = 0  # records set aside because the database refuses their data
        self._on_reject = on_reject  # told of each (a metric)

    def add(self, item: T) -> None:
        self._pending.append(item)
        if len(self._pending) >= self.max_batch:
            self._wake.set()

    @property
    def pending(self) -> int:
        return len(self._pending)

    @property
    def full(self) -> bool:
        return self.capacity is not None and len(self._pending) >= self.capacity

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
                except Exception as exc:
                    if not _too_long(exc):  # kept for the next flush
                        self.failures += 1
                        log.exception(
                            "%s: writing %d records failed; will retry", self.name, len(batch)
                        )
                        return False
                    done = await self._one_by_one(batch)  # find the one, write the rest
                    del self._pending[:done]
                    if done < len(batch):
                        return False
                    continue
                del self._pending[: len(batch)]
                self.written += len(batch)
        return True

    async def _one_by_one(self, batch: list[T]) -> int:
        """Write ``batch`` a record at a time, setting aside (logged, counted in
        ``rejected``) each one the database refuses for its data, so that one bad value
        cannot hold back every later record (and, past ``capacity``, every new call). How
        many records were handled; fewer than all when the database failed otherwise."""
        for done, record in enumerate(batch):
            try:
                await self._run(self._sink, [record])
            except Exception as exc:
                if not _too_long(exc):
                    self.failures += 1
                    log.exception("%s: writing a record failed; will retry", self.name)
                    return done
                self.rejected += 1
                if self._on_reject is not None:
                    self._on_reject()
                log.error("%s: record set aside, the database refuses it: %s (%r)",
                          self.name, getattr(exc, "orig", exc), record)  # fmt: skip
                continue
            self.written += 1
        return len(batch)

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


#: SQLSTATE of a string longer than its column (PostgreSQL: string_data_right_truncation).
#: Only that is the record's own data; any other data error (a sequence out of range, a
#: column narrowed by a migration) would refuse every record alike, so those are kept and
#: retried, and the backlog bound refuses new calls instead of the trail dropping them.
_TOO_LONG = "22001"


def _too_long(exc: BaseException) -> bool:
    return isinstance(exc, DataError) and getattr(exc.orig, "sqlstate", None) == _TOO_LONG
