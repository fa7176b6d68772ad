"""The SQLite dead-letter queue: table ``dead_letters`` in the bus's own file."""

from __future__ import annotations

from collections.abc import Sequence

from outrigger.bus.base import DeadLetter, Subscription
from outrigger.bus.sqlite.bus import SqliteBus


class SqliteDeadLetterQueue:
    """Dead letters in the same file, table ``dead_letters``; replay is one transaction."""

    def __init__(self, bus: SqliteBus) -> None:
        self._bus = bus

    async def put(self, letter: DeadLetter) -> None:
        await self._bus.run(self._bus.store().put_dead_letter, letter)

    async def list(self, limit: int = 100) -> list[DeadLetter]:
        return await self._bus.run(self._bus.store().dead_letters, limit)

    async def count(self) -> int:
        return await self._bus.run(self._bus.store().count_dead_letters)

    async def replay(self, target: Subscription, ids: Sequence[str] | None = None) -> int:
        await self._bus.declare(target)
        db = self._bus.store()
        count = await self._bus.run(db.replay, target.queue, ids, self._bus.clock())
        self._bus.wake()
        return count
