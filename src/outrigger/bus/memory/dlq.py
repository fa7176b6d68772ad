"""The in-memory dead-letter queue: letters kept in a dict beside the in-memory bus."""

from __future__ import annotations

from collections.abc import Sequence

from outrigger.bus.base import DeadLetter, Subscription, replay_message
from outrigger.bus.memory.bus import MemoryBus


class MemoryDeadLetterQueue:
    def __init__(self, bus: MemoryBus) -> None:
        self._bus = bus
        self._letters: dict[str, DeadLetter] = {}

    async def put(self, letter: DeadLetter) -> None:
        self._letters[letter.id] = letter

    async def list(self, limit: int = 100) -> list[DeadLetter]:
        return list(self._letters.values())[:limit]

    async def count(self) -> int:
        return len(self._letters)

    async def replay(self, target: Subscription, ids: Sequence[str] | None = None) -> int:
        chosen = [i for i in self._letters if ids is None or i in ids]
        await self._bus.declare(target)
        for letter_id in chosen:
            letter = self._letters.pop(letter_id)
            await self._bus.publish(replay_message(letter, target.queue), exchange="")
        return len(chosen)
