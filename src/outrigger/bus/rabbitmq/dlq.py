"""The dead-letter queue as a real durable RabbitMQ queue.

A dead letter is the original body, properties and headers, plus ``x-outrigger-*`` headers
with the reason (``bus/letters.py``, shared with Kafka's dead-letter topic), so an operator
sees everything with the broker's own tools (``rabbitmqctl list_queues``, the management
UI's "get messages"). ``list`` peeks with
``basic.get`` (no auto-ack) on a channel of its own and closes that channel, which gives
every message back in its original position; ``replay`` re-publishes the chosen ones to the
target queue through the default exchange (confirmed) before acknowledging their dead-letter
copies, and the rest go back when the channel closes. While a peek is in progress its
messages are unacked, so a concurrent ``list``/``count`` does not see them.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Sequence

from aio_pika.abc import AbstractIncomingMessage

from outrigger.bus.base import DeadLetter, Subscription, replay_message
from outrigger.bus.letters import decode_letter, encode_letter
from outrigger.bus.rabbitmq.bus import RabbitBus
from outrigger.bus.rabbitmq.messages import to_bus_message
from outrigger.errors import TransientError


def _letter(raw: AbstractIncomingMessage) -> DeadLetter:
    return decode_letter(to_bus_message(raw), f"delivery-{raw.delivery_tag}")


class RabbitDeadLetterQueue:
    """Dead letters in a durable queue; ``list`` peeks, ``replay`` moves chosen letters."""

    def __init__(self, bus: RabbitBus, queue: str = "outrigger.dlq") -> None:
        self._bus = bus
        self.queue = queue
        self._declared = False

    async def _declare(self) -> None:
        if self._declared:
            return
        try:
            await self._bus.broker.declare_queue(self._bus.queue(self.queue))
        except TransientError:
            raise
        except Exception as exc:
            raise TransientError(
                f"cannot declare the dead-letter queue {self.queue}: {exc}"
            ) from exc
        self._declared = True

    async def put(self, letter: DeadLetter) -> None:
        await self._declare()
        await self._bus.publish(encode_letter(letter, self.queue), exchange="")

    async def count(self) -> int:
        await self._declare()
        return await self._bus.depth(self.queue)

    @contextlib.asynccontextmanager
    async def _peek(self) -> AsyncIterator[AsyncIterator[AbstractIncomingMessage]]:
        """basic.get (no auto-ack) on a channel of its own; closing the channel at the end
        gives back every message not acked, in its original position."""
        await self._declare()
        channel = await self._bus.channel()
        try:
            queue = await channel.get_queue(self.queue, ensure=True)

            async def messages() -> AsyncIterator[AbstractIncomingMessage]:
                while (raw := await queue.get(no_ack=False, fail=False)) is not None:
                    yield raw

            yield messages()
        finally:
            with contextlib.suppress(Exception):
                await channel.close()

    async def list(self, limit: int = 100) -> list[DeadLetter]:
        letters: list[DeadLetter] = []
        if limit <= 0:
            return letters
        async with self._peek() as messages:
            async for raw in messages:
                letters.append(_letter(raw))
                if len(letters) >= limit:
                    break
        return letters

    async def replay(self, target: Subscription, ids: Sequence[str] | None = None) -> int:
        await self._bus.declare(target)
        wanted = None if ids is None else set(ids)
        replayed = 0
        async with self._peek() as messages:
            async for raw in messages:
                letter = _letter(raw)
                if wanted is not None and letter.id not in wanted:
                    continue  # stays: returned when the peek channel closes
                await self._bus.publish(replay_message(letter, target.queue), exchange="")
                await raw.ack()  # only once the target queue has it (confirmed)
                replayed += 1
                if wanted is not None:
                    wanted.discard(letter.id)
                    if not wanted:
                        break
        return replayed
