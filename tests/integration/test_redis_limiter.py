"""The Redis limiter under more concurrent calls than its connection pool holds, and
retrying a script whose reply was lost."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError

from outrigger.proxy.limits import REDIS_MAX_CONNECTIONS, RedisLimiter, Window

pytestmark = [pytest.mark.redis, pytest.mark.timeout(60)]


@pytest.fixture
async def redis(redis_url: str) -> AsyncIterator[Redis]:
    client = Redis.from_url(redis_url)
    yield client
    await client.aclose()


@pytest.fixture
async def slot(redis: Redis) -> AsyncIterator[str]:
    """A counter key of this test's own, deleted afterwards."""
    key = f"outrigger-test-limiter-{{{uuid.uuid4().hex[:12]}}}"
    yield key
    await redis.delete(key)


@pytest.fixture
async def limiter(redis_url: str) -> AsyncIterator[RedisLimiter]:
    limiter = RedisLimiter(redis_url)
    yield limiter
    await limiter.close()


def window_on(key: str, limit: int, amount: int) -> Window:
    now = time.time()
    return Window("rpm", limit, amount, (key,), (now,), 60.0, int(now) + 120)


async def test_more_concurrent_calls_than_connections_wait_for_one(
    limiter: RedisLimiter, slot: str
) -> None:
    """Each call waits for a free connection: none fails with "Too many connections" (the
    default pool refused the 101st, and the call got a 503), and every count lands once."""
    calls = REDIS_MAX_CONNECTIONS + 100
    window = window_on(slot, 10**6, 1)
    counts = await asyncio.gather(*(limiter.add(window, 1) for _ in range(calls)))
    assert sorted(counts) == list(range(1, calls + 1))


class ReplyLost:
    """A registered script whose first run takes effect in Redis but whose reply never
    arrives (a connection dropped just after the command), as the limiter's retry sees it."""

    def __init__(self, script: Any) -> None:
        self.script = script
        self.runs = 0

    async def __call__(self, **kwargs: Any) -> Any:
        self.runs += 1
        result = await self.script(**kwargs)
        if self.runs == 1:
            raise RedisConnectionError("reply lost")
        return result


async def test_a_retried_acquire_whose_reply_was_lost_counts_once(
    limiter: RedisLimiter, slot: str, redis: Redis
) -> None:
    window = window_on(slot, 10, 3)
    lost = ReplyLost(limiter._script)
    limiter._script = lost
    assert await limiter.acquire([window]) is None
    assert lost.runs == 2  # the retry ran the script again
    assert int(await redis.get(slot)) == 3  # not 6
    assert await limiter.acquire([window]) is None  # a new call counts anew
    assert await limiter.add(window, 0) == 6


async def test_a_retried_add_whose_reply_was_lost_counts_once_and_answers_the_same(
    limiter: RedisLimiter, slot: str
) -> None:
    window = window_on(slot, 10, 3)
    assert await limiter.add(window, 5) == 5
    lost = ReplyLost(limiter._add_script)
    limiter._add_script = lost
    assert await limiter.add(window, 2) == 7  # what the lost run produced
    assert lost.runs == 2
    assert await limiter.add(window, 1) == 8
