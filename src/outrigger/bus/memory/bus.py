"""In-memory bus and dead-letter queue: for unit tests and quick experiments.

Same semantics as the durable buses (bindings, prefetch, ack/nack, redelivery on close),
but nothing survives the process. Use the SQLite bus for anything that must.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import AsyncGenerator, AsyncIterator
from dataclasses import dataclass, field

from outrigger.bus.base import (
    BusMessage,
    Delivery,
    Subscription,
)
from outrigger.bus.delivery import CallbackDelivery, Settle
from outrigger.bus.topics import topic_matches
from outrigger.errors import Unroutable


@dataclass
class _Entry:
    message: BusMessage
    deliveries: int = 0


@dataclass
class _Queue:
    ready: deque[_Entry] = field(default_factory=deque)
    unacked: set[int] = field(default_factory=set)
    entries: dict[int, _Entry] = field(default_factory=dict)
    changed: asyncio.Event = field(default_factory=asyncio.Event)


class MemoryBus:
    kind = "memory"

    def __init__(self) -> None:
        self._queues: dict[str, _Queue] = {}
        self._bindings: dict[str, set[tuple[str, str]]] = {}
        self._generation = 0  # bumped by close(): consumers of an older generation stop

    async def start(self) -> None:
        pass

    async def close(self) -> None:
        self._generation += 1
        for queue in self._queues.values():
            for key in sorted(queue.unacked, reverse=True):
                queue.ready.appendleft(queue.entries[key])
            queue.unacked.clear()
            queue.changed.set()

    async def declare(self, subscription: Subscription) -> None:
        self._queues.setdefault(subscription.queue, _Queue())
        links = self._bindings.setdefault(subscription.exchange, set())
        for pattern in subscription.bindings:
            links.add((pattern, subscription.queue))

    async def publish(self, message: BusMessage, *, exchange: str) -> None:
        if exchange == "":
            self._enqueue(message.routing_key, message)
            return
        targets = {
            queue
            for pattern, queue in self._bindings.get(exchange, set())
            if topic_matches(pattern, message.routing_key)
        }
        if not targets:
            raise Unroutable(exchange, message.routing_key)
        for queue in sorted(targets):
            self._enqueue(queue, message)

    def _enqueue(self, queue_name: str, message: BusMessage) -> None:
        queue = self._queues.setdefault(queue_name, _Queue())
        queue.ready.append(_Entry(message))
        queue.changed.set()

    async def consume(
        self, subscription: Subscription, *, prefetch: int
    ) -> AsyncIterator[Delivery]:
        await self.declare(subscription)
        try:
            async with contextlib.aclosing(self._deliveries(subscription.queue, prefetch)) as it:
                async for delivery in it:
                    yield delivery
        finally:
            if subscription.temporary:
                self._drop(subscription.queue)

    def _drop(self, name: str) -> None:
        self._queues.pop(name, None)
        for links in self._bindings.values():
            links.difference_update({link for link in links if link[1] == name})

    async def _deliveries(self, name: str, prefetch: int) -> AsyncGenerator[Delivery, None]:
        queue = self._queues[name]
        credit = asyncio.Semaphore(prefetch)
        generation = self._generation
        while generation == self._generation:
            await credit.acquire()
            while not queue.ready and generation == self._generation:
                queue.changed.clear()
                await queue.changed.wait()
            if generation != self._generation:
                credit.release()
                return
            entry = queue.ready.popleft()
            entry.deliveries += 1
            key = id(entry)
            queue.entries[key] = entry
            queue.unacked.add(key)
            yield CallbackDelivery(
                entry.message, entry.deliveries, self._settler(queue, key), credit
            )

    def _settler(self, queue: _Queue, key: int) -> Settle:
        async def settle(ack: bool, requeue: bool) -> None:
            if key not in queue.unacked:
                return  # returned to the queue by close(); a late ack is a no-op
            queue.unacked.discard(key)
            entry = queue.entries.pop(key)
            if not ack and requeue:
                queue.ready.appendleft(entry)
                queue.changed.set()

        return settle

    async def depth(self, queue: str) -> int:
        found = self._queues.get(queue)
        return len(found.ready) if found else 0
