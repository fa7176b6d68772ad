"""The dead-letter queue as a real durable RabbitMQ queue.

A dead letter is the original body, properties and headers, plus ``x-outrigger-*`` headers
with the reason, so an operator sees everything with the broker's own tools
(``rabbitmqctl list_queues``, the management UI's "get messages"). ``list`` peeks with
``basic.get`` and gives every message back; ``replay`` re-publishes the chosen ones to the
target queue (confirmed) before acknowledging their dead-letter copies.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from aio_pika.abc import AbstractIncomingMessage, AbstractQueue

from outrigger.events.base import BusMessage, DeadLetter, Subscription, replay_message
from outrigger.events.rabbitmq import RabbitBus, to_bus_message

PREFIX = "x-outrigger-"
ID, CODE, REASON, ATTEMPTS = (
    f"{PREFIX}{k}" for k in ("dead-letter-id", "reason-code", "reason", "attempts")
)
SOURCE, PIPELINE, FAILED_AT, ROUTING = (
    f"{PREFIX}{k}" for k in ("source-queue", "pipeline", "failed-at", "original-routing-key")
)
_OURS = {ID, CODE, REASON, ATTEMPTS, SOURCE, PIPELINE, FAILED_AT, ROUTING}


def encode_letter(letter: DeadLetter, queue: str) -> tuple[BusMessage, dict[str, str]]:
    original = letter.message
    headers = dict(original.headers)
    headers.update(
        {
            ID: letter.id,
            CODE: letter.reason_code,
            REASON: letter.reason,
            ATTEMPTS: str(letter.attempts),
            SOURCE: letter.source_queue,
            PIPELINE: letter.pipeline or "",
            FAILED_AT: letter.failed_at.isoformat(),
            ROUTING: original.routing_key,
        }
    )
    message = BusMessage(original.body, queue, headers, original.message_id, original.content_type)
    return message, headers


def decode_letter(raw: AbstractIncomingMessage) -> DeadLetter:
    m = to_bus_message(raw)
    h = m.headers
    original = BusMessage(
        m.body,
        h.get(ROUTING, ""),
        {k: v for k, v in h.items() if k not in _OURS},
        m.message_id,
        m.content_type,
    )
    failed = h.get(FAILED_AT)
    return DeadLetter(
        message=original,
        reason_code=h.get(CODE, "unknown"),
        reason=h.get(REASON, ""),
        attempts=int(h.get(ATTEMPTS, "0") or 0),
        source_queue=h.get(SOURCE, ""),
        pipeline=h.get(PIPELINE) or None,
        id=h.get(ID) or (m.message_id or ""),
        failed_at=datetime.fromisoformat(failed) if failed else datetime.now(UTC),
    )


class RabbitDeadLetterQueue:
    def __init__(self, bus: RabbitBus, queue: str = "outrigger.dlq") -> None:
        self._bus = bus
        self.queue = queue
        self._declared = False

    async def _declare(self) -> None:
        if not self._declared:
            await self._bus.broker.declare_queue(self._bus.queue(self.queue))
            self._declared = True

    async def put(self, letter: DeadLetter) -> None:
        await self._declare()
        message, headers = encode_letter(letter, self.queue)
        await self._bus.publish_raw(message, "", headers)

    async def count(self) -> int:
        await self._declare()
        return await self._bus.depth(self.queue)

    async def _take(self, limit: int) -> tuple[AbstractQueue, list[AbstractIncomingMessage]]:
        await self._declare()
        channel = await self._bus.channel()  # a channel of its own: closing it gives back
        queue = await channel.get_queue(self.queue, ensure=True)
        taken: list[AbstractIncomingMessage] = []
        while len(taken) < limit:
            raw = await queue.get(no_ack=False, fail=False)
            if raw is None:
                break
            taken.append(raw)
        return queue, taken

    async def list(self, limit: int = 100) -> list[DeadLetter]:
        queue, taken = await self._take(limit)
        try:
            return [decode_letter(raw) for raw in taken]
        finally:
            await _give_back(queue, taken)

    async def replay(self, target: Subscription, ids: Sequence[str] | None = None) -> int:
        await self._bus.declare(target)
        queue, taken = await self._take(2**31)
        kept: list[AbstractIncomingMessage] = []
        replayed = 0
        try:
            for raw in taken:
                letter = decode_letter(raw)
                if ids is not None and letter.id not in ids:
                    kept.append(raw)
                    continue
                await self._bus.publish(replay_message(letter, target.queue), exchange="")
                await raw.ack()
                replayed += 1
        except BaseException:
            kept.extend(r for r in taken if r not in kept and not r.processed)
            raise
        finally:
            await _give_back(queue, kept)
        return replayed


async def _give_back(queue: AbstractQueue, taken: list[AbstractIncomingMessage]) -> None:
    """Return peeked messages in their order: closing the channel requeues them all."""
    if taken:
        await queue.channel.close()
