"""Bus kits for the shared contract tests: one per backend, real brokers included.

Each kit builds a started bus and its dead-letter queue, and can build a *fresh* pair on the
same storage (``reopen``) to check durability. Queue names are unique per test so runs
against a shared broker never see each other's messages.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from outrigger.bus.base import DeadLetterQueue, EventBus, Subscription
from outrigger.bus.memory.bus import MemoryBus
from outrigger.bus.memory.dlq import MemoryDeadLetterQueue
from outrigger.bus.sqlite.bus import SqliteBus
from outrigger.bus.sqlite.dlq import SqliteDeadLetterQueue
from tests.rabbit_cleanup import delete_rabbit_objects

Pair = tuple[EventBus, DeadLetterQueue]


@dataclass
class BusKit:
    name: str
    exchange: str
    open_pair: Callable[[], Awaitable[Pair]]
    durable: bool
    prefix: str = field(default_factory=lambda: f"t{uuid.uuid4().hex[:10]}")
    opened: list[Pair] = field(default_factory=list)
    cleanup: Callable[[], Awaitable[None]] | None = None
    queues: list[str] = field(default_factory=list)

    async def open(self) -> Pair:
        pair = await self.open_pair()
        self.opened.append(pair)
        return pair

    def sub(self, name: str, *bindings: str) -> Subscription:
        self.queues.append(f"{self.prefix}.{name}")
        return Subscription(f"{self.prefix}.{name}", self.exchange, tuple(bindings) or ("#",))

    async def close_all(self) -> None:
        for bus, _ in reversed(self.opened):
            await bus.close()
        if self.cleanup is not None:
            await self.cleanup()


async def _memory_kit(tmp_path: Path, request: pytest.FixtureRequest) -> BusKit:
    async def open_pair() -> Pair:
        bus = MemoryBus()
        await bus.start()
        return bus, MemoryDeadLetterQueue(bus)

    return BusKit("memory", "domain", open_pair, durable=False)


async def _sqlite_kit(tmp_path: Path, request: pytest.FixtureRequest) -> BusKit:
    path = tmp_path / "bus.sqlite3"

    async def open_pair() -> Pair:
        bus = SqliteBus(path, visibility_timeout_s=30.0, poll_interval_s=0.01)
        await bus.start()
        return bus, SqliteDeadLetterQueue(bus)

    return BusKit("sqlite", "domain", open_pair, durable=True)


async def _rabbitmq_kit(tmp_path: Path, request: pytest.FixtureRequest) -> BusKit:
    from outrigger.bus.rabbitmq.bus import RabbitBus
    from outrigger.bus.rabbitmq.dlq import RabbitDeadLetterQueue

    url = request.getfixturevalue("rabbitmq_url")
    tag = uuid.uuid4().hex[:10]
    exchange, dlq_name = f"outrigger.test.{tag}", f"outrigger.test.{tag}.dlq"

    async def open_pair() -> Pair:
        bus = RabbitBus(url, declare_exchanges=True)
        await bus.start()
        return bus, RabbitDeadLetterQueue(bus, dlq_name)

    kit = BusKit("rabbitmq", exchange, open_pair, durable=True, prefix=f"outrigger.test.{tag}")
    kit.cleanup = lambda: delete_rabbit_objects(url, [*kit.queues, dlq_name], [exchange])
    return kit


KITS: dict[str, Callable[[Path, pytest.FixtureRequest], Awaitable[BusKit]]] = {
    "memory": _memory_kit,
    "sqlite": _sqlite_kit,
    "rabbitmq": _rabbitmq_kit,
}
KIT_PARAMS = [
    pytest.param("memory"),
    pytest.param("sqlite"),
    pytest.param("rabbitmq", marks=pytest.mark.rabbitmq),
]


@pytest.fixture(params=KIT_PARAMS)
async def kit(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[BusKit]:
    made = await KITS[request.param](tmp_path, request)
    try:
        yield made
    finally:
        await made.close_all()
