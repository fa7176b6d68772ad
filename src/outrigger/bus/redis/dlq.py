"""The dead-letter queue as a Redis stream (``<prefix>:dlq:<name>``).

A dead letter is an entry with the original body and headers plus the ``x-outrigger-*``
reason headers (``bus/letters.py``, shared with RabbitMQ and Kafka), so an operator reads it
with ``XRANGE outrigger:dlq:outrigger.dlq - +``. ``list`` is XRANGE from the oldest,
``count`` is XLEN; ``replay`` publishes each chosen letter to the target queue alone (an
entry addressed to its group, with the routing-key header) and only then XDELs it. The
stream is never trimmed.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import Any

from redis.exceptions import RedisError

from outrigger.bus.base import DeadLetter, Subscription, replay_message
from outrigger.bus.letters import decode_letter, encode_letter
from outrigger.bus.redis.bus import RedisBus
from outrigger.bus.redis.entries import Fields, to_fields, to_message
from outrigger.errors import TransientError

PAGE = 500


def _letter(entry_id: bytes, fields: Fields) -> DeadLetter:
    return decode_letter(to_message(fields), f"entry-{entry_id.decode()}")


class RedisDeadLetterQueue:
    def __init__(self, bus: RedisBus, name: str = "outrigger.dlq") -> None:
        self._bus = bus
        self.name = name

    @property
    def key(self) -> str:
        return self._bus.keys.dlq(self.name)

    async def put(self, letter: DeadLetter) -> None:
        try:
            await self._bus.client.xadd(self.key, to_fields(encode_letter(letter, self.name)))  # type: ignore[arg-type]
        except RedisError as exc:
            raise TransientError(f"storing a dead letter in {self.key} failed: {exc}") from exc

    async def count(self) -> int:
        try:
            return int(await self._bus.client.xlen(self.key))
        except RedisError as exc:
            raise TransientError(f"counting {self.key} failed: {exc}") from exc

    async def _entries(self) -> AsyncIterator[tuple[bytes, Fields]]:
        """Every entry, oldest first, a page at a time."""
        start = "-"
        while True:
            try:
                page: Any = await self._bus.client.xrange(self.key, min=start, max="+", count=PAGE)
            except RedisError as exc:
                raise TransientError(f"reading {self.key} failed: {exc}") from exc
            for entry_id, fields in page:
                yield entry_id, fields
            if len(page) < PAGE:
                return
            start = f"({page[-1][0].decode()}"

    async def list(self, limit: int = 100) -> list[DeadLetter]:
        letters: list[DeadLetter] = []
        if limit <= 0:
            return letters
        async for entry_id, fields in self._entries():
            letters.append(_letter(entry_id, fields))
            if len(letters) >= limit:
                break
        return letters

    async def replay(self, target: Subscription, ids: Sequence[str] | None = None) -> int:
        await self._bus.declare(target)
        wanted = None if ids is None else set(ids)
        replayed = 0
        async for entry_id, fields in self._entries():
            letter = _letter(entry_id, fields)
            if wanted is not None and letter.id not in wanted:
                continue
            await self._bus.publish(replay_message(letter, target.queue), exchange="")
            try:  # only once the target has it
                await self._bus.client.xdel(self.key, entry_id)
            except RedisError as exc:
                raise TransientError(f"removing a replayed letter failed: {exc}") from exc
            replayed += 1
            if wanted is not None:
                wanted.discard(letter.id)
                if not wanted:
                    break
        return replayed
