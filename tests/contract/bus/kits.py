"""Bus kits for the shared contract: one per backend, real brokers included.

A kit builds a started bus and its dead-letter queue, and can build a *fresh* pair on the same
storage (``open`` again) to check durability. Names are unique per test, so runs against a
shared broker never see each other's messages. Each backend's test module provides its kit as
the ``kit`` fixture (tests/contract/bus/test_<backend>.py).
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

from outrigger.bus.base import DeadLetterQueue, EventBus, Subscription
from outrigger.bus.memory.bus import MemoryBus
from outrigger.bus.memory.dlq import MemoryDeadLetterQueue
from outrigger.bus.sqlite.bus import SqliteBus
from outrigger.bus.sqlite.dlq import SqliteDeadLetterQueue
from tests.rabbit_cleanup import delete_rabbit_objects

Pair = tuple[EventBus, DeadLetterQueue]


async def _nothing(keys: tuple[str, ...]) -> None:
    """On AMQP-style brokers a binding is what makes a routing key routable."""


@dataclass
class BusKit:
    name: str
    exchange: str
    open_pair: Callable[[], Awaitable[Pair]]
    durable: bool
    #: The broker keeps one order per queue (FIFO); otherwise only per key (Kafka).
    fifo: bool = True
    #: Delivery.attempt counts every delivery (not just "redelivered": 2).
    counts_attempts: bool = True
    prefix: str = field(default_factory=lambda: f"t{uuid.uuid4().hex[:10]}")
    opened: list[Pair] = field(default_factory=list)
    cleanup: Callable[[], Awaitable[None]] | None = None
    queues: list[str] = field(default_factory=list)
    #: Make routing keys routable as the domain would: create Kafka topics, say.
    make_routable: Callable[[tuple[str, ...]], Awaitable[None]] = _nothing

    async def open(self) -> Pair:
        pair = await self.open_pair()
        self.opened.append(pair)
        return pair

    async def reopen(self, bus: EventBus) -> EventBus:
        """A bus on the same storage after ``bus`` was closed (the same one if not durable)."""
        if self.durable:
            fresh, _ = await self.open()
            return fresh
        await bus.start()
        return bus

    def sub(self, name: str, *bindings: str) -> Subscription:
        self.queues.append(f"{self.prefix}.{name}")
        return Subscription(f"{self.prefix}.{name}", self.exchange, tuple(bindings) or ("#",))

    async def routable(self, *keys: str) -> None:
        await self.make_routable(keys)

    async def close_all(self) -> None:
        for bus, _ in reversed(self.opened):
            await bus.close()
        if self.cleanup is not None:
            await self.cleanup()


def memory_kit() -> BusKit:
    async def open_pair() -> Pair:
        bus = MemoryBus()
        await bus.start()
        return bus, MemoryDeadLetterQueue(bus)

    return BusKit("memory", "domain", open_pair, durable=False)


def sqlite_kit(tmp_path: Path) -> BusKit:
    path = tmp_path / "bus.sqlite3"

    async def open_pair() -> Pair:
        bus = SqliteBus(path, visibility_timeout_s=30.0, poll_interval_s=0.01)
        await bus.start()
        return bus, SqliteDeadLetterQueue(bus)

    return BusKit("sqlite", "domain", open_pair, durable=True)


def rabbitmq_kit(url: str) -> BusKit:
    from outrigger.bus.rabbitmq.bus import RabbitBus
    from outrigger.bus.rabbitmq.dlq import RabbitDeadLetterQueue

    tag = uuid.uuid4().hex[:10]
    exchange, dlq_name = f"outrigger.test.{tag}", f"outrigger.test.{tag}.dlq"

    async def open_pair() -> Pair:
        bus = RabbitBus(url, declare_exchanges=True)
        await bus.start()
        return bus, RabbitDeadLetterQueue(bus, dlq_name)

    kit = BusKit(
        "rabbitmq",
        exchange,
        open_pair,
        durable=True,
        counts_attempts=False,  # classic queues only flag a redelivery
        prefix=f"outrigger.test.{tag}",
    )
    kit.cleanup = lambda: delete_rabbit_objects(url, [*kit.queues, dlq_name], [exchange])
    return kit


def kafka_kit(bootstrap: str) -> BusKit:
    from outrigger.bus.kafka.bus import KafkaBus
    from outrigger.bus.kafka.dlq import KafkaDeadLetterQueue
    from tests.kafka_broker import settings_for_tests

    tag = uuid.uuid4().hex[:10]
    # Topics share one namespace: queues and the dead-letter topic stay outside the
    # exchange's prefix, or a "#" binding would read them (docs/brokers.md).
    exchange, dlq_name = f"outrigger.test.{tag}.events", f"outrigger.test.{tag}.dlq"
    settings = settings_for_tests(bootstrap, partitions=3)

    async def open_pair() -> Pair:
        bus = KafkaBus(settings)
        await bus.start()
        return bus, KafkaDeadLetterQueue(bus, dlq_name)

    async def make_routable(keys: tuple[str, ...]) -> None:
        bus = KafkaBus(settings)  # the domain's producers create their topics
        await bus.start()
        try:
            await bus.create([f"{exchange}.{key}" for key in keys])
        finally:
            await bus.close()

    return BusKit(
        "kafka",
        exchange,
        open_pair,
        durable=True,
        fifo=False,  # ordered per key (one partition), not per consumer group
        prefix=f"outrigger.test.{tag}",
        make_routable=make_routable,
    )
