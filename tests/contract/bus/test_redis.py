"""The bus contract on the machine's Redis (Redis Streams)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest

from outrigger.bus.redis.settings import RedisBusSettings
from tests.contract.bus.base import BusContract, DeadLetterContract
from tests.contract.bus.kits import BusKit, Pair
from tests.redis_cleanup import delete_redis_keys

pytestmark = pytest.mark.redis


def redis_kit(url: str) -> BusKit:
    from pydantic import SecretStr

    from outrigger.bus.redis.bus import RedisBus
    from outrigger.bus.redis.dlq import RedisDeadLetterQueue

    tag = uuid.uuid4().hex[:10]
    exchange, prefix = f"outrigger.test.{tag}", f"outrigger-test-{tag}"
    settings = RedisBusSettings(url=SecretStr(url), key_prefix=prefix, block_ms=100)

    async def open_pair() -> Pair:
        bus = RedisBus(settings)
        await bus.start()
        return bus, RedisDeadLetterQueue(bus, f"{exchange}.dlq")

    kit = BusKit("redis", exchange, open_pair, durable=True, prefix=exchange)
    kit.cleanup = lambda: delete_redis_keys(url, prefix, [exchange])
    return kit


@pytest.fixture
async def kit(redis_url: str) -> AsyncIterator[BusKit]:
    made = redis_kit(redis_url)
    try:
        yield made
    finally:
        await made.close_all()


class TestRedisBus(BusContract):
    pass


class TestRedisDeadLetters(DeadLetterContract):
    pass
