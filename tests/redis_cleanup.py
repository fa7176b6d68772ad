"""Remove the keys a test created on the shared Redis: its prefix's, and named streams."""

from __future__ import annotations

from collections.abc import Iterable


async def delete_redis_keys(url: str, prefix: str, keys: Iterable[str] = ()) -> None:
    from redis.asyncio import Redis

    client = Redis.from_url(url)
    try:
        doomed = [*keys, *[k async for k in client.scan_iter(match=f"{prefix}:*", count=500)]]
        if doomed:
            await client.delete(*doomed)
    finally:
        await client.aclose()
