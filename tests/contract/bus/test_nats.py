"""The bus contract on the machine's NATS JetStream server."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest

from tests.contract.bus.base import BusContract, DeadLetterContract
from tests.contract.bus.kits import BusKit, Pair
from tests.nats_cleanup import delete_nats_objects

pytestmark = pytest.mark.nats


def nats_kit(url: str) -> BusKit:
    from outrigger.bus.nats.bus import NatsBus
    from outrigger.bus.nats.dlq import NatsDeadLetterQueue
    from outrigger.bus.nats.settings import NatsSettings

    tag = uuid.uuid4().hex[:10]
    exchange, dlq_name = f"outrigger.test.{tag}", f"outrigger.test.{tag}.dlq"
    settings = NatsSettings(create_streams=True, nak_delay_s=0.2)

    async def open_pair() -> Pair:
        bus = NatsBus(url, settings)
        await bus.start()
        return bus, NatsDeadLetterQueue(bus, dlq_name)

    kit = BusKit("nats", exchange, open_pair, durable=True, prefix=f"outrigger.test.{tag}")
    kit.cleanup = lambda: delete_nats_objects(url, kit.queues, [exchange, dlq_name])
    return kit


@pytest.fixture
async def kit(nats_url: str) -> AsyncIterator[BusKit]:
    made = nats_kit(nats_url)
    try:
        yield made
    finally:
        await made.close_all()


class TestNatsBus(BusContract):
    pass


class TestNatsDeadLetters(DeadLetterContract):
    pass
