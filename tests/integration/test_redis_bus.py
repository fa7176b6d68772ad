"""Redis Streams behaviour beyond the shared contract, against the machine's Redis."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from pydantic import SecretStr
from redis.asyncio import Redis

from outrigger.bus.base import BusMessage, Delivery, Subscription
from outrigger.bus.redis.bus import RedisBus
from outrigger.bus.redis.settings import RedisBusSettings
from outrigger.errors import Unroutable
from tests.redis_cleanup import delete_redis_keys

pytestmark = [pytest.mark.redis, pytest.mark.timeout(120)]


@pytest.fixture
async def names(redis_url: str) -> AsyncIterator[dict[str, str]]:
    tag = uuid.uuid4().hex[:10]
    made = {"exchange": f"rds.{tag}.ex", "prefix": f"rds-{tag}", "queue": f"rds.{tag}.q"}
    yield made
    await delete_redis_keys(redis_url, made["prefix"], [made["exchange"]])


async def _bus(url: str, names: dict[str, str], **settings: Any) -> RedisBus:
    bus = RedisBus(RedisBusSettings(url=SecretStr(url), key_prefix=names["prefix"], **settings))
    await bus.start()
    return bus


def _msg(n: int, key: str = "loans.submitted") -> BusMessage:
    return BusMessage(f'{{"n": {n}}}'.encode(), key, {}, f"m-{n}")


async def _handle(
    bus: RedisBus, sub: Subscription, exchange: str, seen: list[str], results: str
) -> None:
    """A worker: publish a result per event, then ack (the order the engine keeps)."""
    async for delivery in bus.consume(sub, prefetch=8):
        await asyncio.sleep(0.001)
        source = delivery.message.message_id or ""
        await bus.publish(BusMessage(b"{}", results, {}, f"r-{source}"), exchange=exchange)
        seen.append(source)
        await delivery.ack()


async def _collect(bus: RedisBus, sub: Subscription, into: list[str]) -> None:
    async for delivery in bus.consume(sub, prefetch=100):
        into.append(delivery.message.message_id or "")
        await delivery.ack()


async def _first(stream: AsyncIterator[Delivery]) -> Delivery:
    return await anext(stream)


async def _until(predicate: object, timeout: float) -> bool:
    for _ in range(int(timeout / 0.05)):
        if predicate():  # type: ignore[operator]
            return True
        await asyncio.sleep(0.05)
    return False


async def test_two_workers_share_one_group_one_result_each(
    redis_url: str, names: dict[str, str]
) -> None:
    ex, events = names["exchange"], 400
    work = Subscription(names["queue"], ex, ("loans.#",))
    results = Subscription(f"{names['queue']}.results", ex, ("ai.done",))
    buses = [await _bus(redis_url, names) for _ in range(3)]
    a, b, c = buses
    for sub in (work, results):
        await a.declare(sub)
    for n in range(events):
        await a.publish(_msg(n), exchange=ex)
    by_a: list[str] = []
    by_b: list[str] = []
    got: list[str] = []
    tasks = [
        asyncio.create_task(_handle(a, work, ex, by_a, "ai.done")),
        asyncio.create_task(_handle(b, work, ex, by_b, "ai.done")),
        asyncio.create_task(_collect(c, results, got)),
    ]
    try:
        assert await _until(lambda: len(got) >= events, 60)
        await asyncio.sleep(0.3)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for bus in buses:
            await bus.close()
    assert by_a and by_b, "one worker did all the work"
    assert sorted(by_a + by_b) == sorted(f"m-{n}" for n in range(events))
    assert sorted(got) == sorted(f"r-m-{n}" for n in range(events)), "a result twice or lost"


async def _kill_connections(url: str, name: str) -> int:
    admin = Redis.from_url(url)
    try:
        killed = 0
        for client in await admin.client_list():
            if client.get("name") == f"outrigger-bus-{name}":
                with contextlib.suppress(Exception):
                    await admin.client_kill_filter(_id=client["id"])
                    killed += 1
        return killed
    finally:
        await admin.aclose()


async def test_killed_connections_lose_nothing(redis_url: str, names: dict[str, str]) -> None:
    """CLIENT KILL on the bus's connections while it publishes and consumes: it reconnects
    by itself, and every event is handled (entries whose read reply was lost are claimed
    back once idle)."""
    ex, events = names["exchange"], 600
    bus = await _bus(redis_url, names, claim_idle_s=1.0, block_ms=100)
    sub = Subscription(names["queue"], ex, ("loans.#",))
    await bus.declare(sub)
    handled: set[str] = set()

    async def consume() -> None:
        async for d in bus.consume(sub, prefetch=16):
            handled.add(d.message.message_id or "")
            with contextlib.suppress(Exception):
                await d.ack()

    async def publish() -> None:
        for n in range(events):
            for _ in range(50):  # a publish may fail mid-kill: the caller retries
                try:
                    await bus.publish(_msg(n), exchange=ex)
                    break
                except Exception:
                    await asyncio.sleep(0.02)
            if n % 50 == 0:
                await asyncio.sleep(0.01)

    consumer = asyncio.create_task(consume())
    publisher = asyncio.create_task(publish())
    kills = 0
    try:
        while not publisher.done():
            kills += await _kill_connections(redis_url, bus.name)
            await asyncio.sleep(0.05)
        await publisher
        assert await _until(lambda: len(handled) >= events, 30), len(handled)
    finally:
        consumer.cancel()
        await asyncio.gather(consumer, return_exceptions=True)
        await bus.close()
    assert kills > 0
    assert handled == {f"m-{n}" for n in range(events)}


async def test_a_crashed_consumers_entries_are_claimed_with_their_count(
    redis_url: str, names: dict[str, str]
) -> None:
    ex = names["exchange"]
    sub = Subscription(names["queue"], ex, ("#",))
    dead = await _bus(redis_url, names, claim_idle_s=0.6)
    await dead.declare(sub)
    for n in range(3):
        await dead.publish(_msg(n), exchange=ex)
    stream = dead.consume(sub, prefetch=3)
    held = [await anext(stream) for _ in range(3)]
    assert [d.attempt for d in held] == [1, 1, 1]
    for consumer in dead._consumers:  # "SIGKILL": nothing given back, nothing touched
        consumer.closed = True
        if consumer._keeper is not None:
            consumer._keeper.cancel()
    live = await _bus(redis_url, names, claim_idle_s=0.6)
    try:
        again: list[Delivery] = []
        async for d in live.consume(sub, prefetch=3):
            again.append(d)
            await d.ack()
            if len(again) == 3:
                break
        assert sorted(d.message.message_id or "" for d in again) == ["m-0", "m-1", "m-2"]
        assert all(d.attempt == 2 for d in again)
    finally:
        await live.close()
        await dead.client.aclose()


async def test_a_dead_followers_group_is_reaped(redis_url: str, names: dict[str, str]) -> None:
    ex = names["exchange"]
    follower = await _bus(redis_url, names, temporary_ttl_s=0.5)
    tail = Subscription(f"{names['queue']}.tail", ex, ("loans.#",), temporary=True)
    await follower.declare(tail)  # then the process "dies": no heartbeat, no cleanup
    await follower.publish(_msg(1), exchange=ex)
    live = await _bus(redis_url, names, claim_idle_s=0.3)
    work = Subscription(names["queue"], ex, ("claims.#",))
    stream = live.consume(work, prefetch=1)
    task = asyncio.create_task(_first(stream))
    try:

        async def groups() -> list[Any]:
            return list(await live.client.xinfo_groups(ex))

        for _ in range(40):
            if all(g["name"] != tail.queue.encode() for g in await groups()):
                break
            await asyncio.sleep(0.1)
        assert [g["name"] for g in await groups()] == [work.queue.encode()]
        with pytest.raises(Unroutable):
            await live.publish(_msg(2), exchange=ex)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await live.close()
        await follower.close()


async def test_a_stopped_followers_group_goes_at_once(
    redis_url: str, names: dict[str, str]
) -> None:
    ex = names["exchange"]
    bus = await _bus(redis_url, names)
    try:
        tail = Subscription(f"{names['queue']}.tail", ex, ("#",), temporary=True)
        stream = bus.consume(tail, prefetch=1)
        task = asyncio.create_task(_first(stream))
        await asyncio.sleep(0.2)
        await bus.publish(_msg(1), exchange=ex)
        assert (await task).message.message_id == "m-1"
        await stream.aclose()  # type: ignore[attr-defined]
        assert await bus.client.xinfo_groups(ex) == []
        assert await bus.depth(tail.queue) == 0
    finally:
        await bus.close()


async def test_more_concurrent_settlements_than_connections_wait_for_one(
    redis_url: str, names: dict[str, str]
) -> None:
    """A prefetch above the pool's size: every ack waits for a free connection instead of
    failing with "Too many connections" (and its message coming back)."""
    bus = await _bus(redis_url, names, max_connections=4)
    try:
        sub = Subscription(names["queue"], names["exchange"], ("loans.submitted",))
        await bus.declare(sub)
        for n in range(150):
            await bus.publish(_msg(n), exchange=names["exchange"])
        stream = bus.consume(sub, prefetch=150)
        held = [await asyncio.wait_for(anext(stream), 10) for _ in range(150)]
        await asyncio.gather(*(d.ack() for d in held))  # raises on a refused connection
        await stream.aclose()  # type: ignore[attr-defined]
        assert await bus.depth(sub.queue) == 0
        client = Redis.from_url(redis_url)
        try:
            stream_key = bus.keys.stream(sub.exchange, sub.queue)
            pending = await client.xpending(stream_key, sub.queue)  # the group: the queue
        finally:
            await client.aclose()
        assert pending["pending"] == 0
    finally:
        await bus.close()
