"""The Redis limiter under more concurrent calls than its connection pool holds."""

from __future__ import annotations

import asyncio
import time
import uuid

import pytest
from redis.asyncio import Redis

from outrigger.proxy.limits import REDIS_MAX_CONNECTIONS, RedisLimiter, Window

pytestmark = [pytest.mark.redis, pytest.mark.timeout(60)]


async def test_more_concurrent_calls_than_connections_wait_for_one(redis_url: str) -> None:
    """Each call waits for a free connection: none fails with "Too many connections" (the
    default pool refused the 101st, and the call got a 503), and every count lands once."""
    calls = REDIS_MAX_CONNECTIONS + 100
    key = f"outrigger-test-limiter-{uuid.uuid4().hex[:12]}"
    now = time.time()
    window = Window("rpm", 10**6, 1, (key,), (now,), 60.0, int(now) + 120)
    limiter = RedisLimiter(redis_url)
    try:
        counts = await asyncio.gather(*(limiter.add(window, 1) for _ in range(calls)))
        assert sorted(counts) == list(range(1, calls + 1))
    finally:
        await limiter.close()
        client = Redis.from_url(redis_url)
        await client.delete(key)
        await client.aclose()
