"""The contract every ``EventBus`` + ``DeadLetterQueue`` backend keeps, written once.

``BusContract`` and ``DeadLetterContract`` are not collected themselves: each backend's module
(tests/contract/bus/test_<backend>.py) subclasses them under its own marker and provides the
``kit`` fixture (tests/contract/bus/kits.py), as faststream's tests/brokers/base/ is reused by
tests/brokers/<broker>/.

Where brokers promise different things the kit says so (``fifo``: one order per queue rather
than per key; ``counts_attempts``: ``Delivery.attempt`` counts rather than flags redelivery),
and ``kit.routable`` makes routing keys routable the way the domain would (a no-op where a
binding does it; on Kafka the domain creates its topics).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from outrigger.bus.base import (
    REPLAYED_FROM_HEADER,
    ROUTING_KEY_HEADER,
    BusMessage,
    DeadLetter,
    Delivery,
    EventBus,
)
from outrigger.bus.delivery import AlreadySettled
from outrigger.errors import TransientError
from tests.contract.bus.kits import BusKit

SUBMITTED = "loans.application.submitted"
#: The CloudEvents partitioning extension: the key brokers that order per key order by.
PARTITION_KEY = "cloudEvents_partitionkey"


def msg(n: int, key: str = SUBMITTED, partition_key: str | None = None) -> BusMessage:
    headers = {"x-test": str(n)}
    if partition_key is not None:
        headers[PARTITION_KEY] = partition_key
    return BusMessage(
        body=f'{{"n": {n}}}'.encode(),
        routing_key=key,
        headers=headers,
        message_id=f"m-{n}",
        content_type="application/json",
    )


class Puller:
    """Pulls deliveries in a background task, so a test can wait with a timeout without
    cancelling the bus's iterator (cancelling ``anext`` would close the generator)."""

    def __init__(self, deliveries: AsyncIterator[Delivery]) -> None:
        self._queue: asyncio.Queue[Delivery] = asyncio.Queue()
        self._task = asyncio.create_task(self._pull(deliveries))

    async def _pull(self, deliveries: AsyncIterator[Delivery]) -> None:
        async for delivery in deliveries:
            await self._queue.put(delivery)

    async def take(self, count: int, timeout: float = 10.0) -> list[Delivery]:
        return [await asyncio.wait_for(self._queue.get(), timeout) for _ in range(count)]

    async def nothing_more(self, wait: float = 0.5) -> bool:
        try:
            await asyncio.wait_for(self._queue.get(), wait)
        except TimeoutError:
            return True
        return False


async def take(deliveries: AsyncIterator[Delivery], count: int) -> list[Delivery]:
    return await Puller(deliveries).take(count)


async def drain_depth(bus: EventBus, queue: str, expected: int) -> int:
    # Brokers count asynchronously; poll briefly until the count settles.
    depth = -1
    for _ in range(50):
        depth = await bus.depth(queue)
        if depth == expected:
            break
        await asyncio.sleep(0.1)
    return depth


@pytest.mark.timeout(60)
class BusContract:
    async def test_message_round_trips_intact(self, kit: BusKit) -> None:
        bus, _ = await kit.open()
        sub = kit.sub("rt")
        await kit.routable("loans.x")
        await bus.declare(sub)
        raw = BusMessage(
            b"\xff\x00not-utf8", "loans.x", {"h": "v"}, "id-1", "application/octet-stream"
        )
        await bus.publish(raw, exchange=kit.exchange)
        (got,) = await take(bus.consume(sub, prefetch=1), 1)
        assert got.message.body == raw.body
        assert got.message.routing_key == "loans.x"
        assert got.message.headers["h"] == "v"
        assert got.message.message_id == "id-1"
        assert got.message.content_type == "application/octet-stream"
        assert got.attempt == 1
        await got.ack()

    async def test_topic_bindings_route_copies(self, kit: BusKit) -> None:
        bus, _ = await kit.open()
        loans = kit.sub("loans", "loans.#")
        claims = kit.sub("claims", "claims.*.filed")
        await kit.routable(SUBMITTED, "claims.auto.filed")
        for sub in (loans, claims):
            await bus.declare(sub)
        await bus.publish(msg(1, SUBMITTED), exchange=kit.exchange)
        await bus.publish(msg(2, "claims.auto.filed"), exchange=kit.exchange)
        with pytest.raises(TransientError, match="unroutable"):
            await bus.publish(msg(3, "claims.auto.closed"), exchange=kit.exchange)
        (a,) = await take(bus.consume(loans, prefetch=5), 1)
        (b,) = await take(bus.consume(claims, prefetch=5), 1)
        assert a.message.message_id == "m-1"
        assert b.message.message_id == "m-2"
        await a.ack()
        await b.ack()
        assert await drain_depth(bus, loans.queue, 0) == 0
        assert await drain_depth(bus, claims.queue, 0) == 0

    async def test_unroutable_result_is_refused_and_reported(self, kit: BusKit) -> None:
        """A result nobody consumes is an error the worker retries, never a silent drop."""
        bus, _ = await kit.open()
        await bus.declare(kit.sub("results", "ai.assessment.completed"))
        with pytest.raises(TransientError, match="unroutable") as info:
            await bus.publish(msg(1, "ai.nobody.listens"), exchange=kit.exchange)
        assert "ai.nobody.listens" in str(info.value)

    async def test_fifo_and_ack_removes(self, kit: BusKit) -> None:
        if not kit.fifo:
            pytest.skip(f"{kit.name} orders per key, not per queue (test_order_kept_per_key)")
        bus, _ = await kit.open()
        sub = kit.sub("fifo")
        await kit.routable(SUBMITTED)
        await bus.declare(sub)
        for n in range(5):
            await bus.publish(msg(n), exchange=kit.exchange)
        stream = Puller(bus.consume(sub, prefetch=10))
        got = await stream.take(5)
        assert [d.message.message_id for d in got] == [f"m-{n}" for n in range(5)]
        for d in got:
            await d.ack()
        assert await stream.nothing_more()
        assert await drain_depth(bus, sub.queue, 0) == 0

    async def test_order_kept_per_key(self, kit: BusKit) -> None:
        """Events of one key are handed out in publish order, each after the previous one
        was settled; every broker keeps at least that order."""
        bus, _ = await kit.open()
        sub = kit.sub("order")
        await kit.routable(SUBMITTED)
        await bus.declare(sub)
        for n in range(12):
            await bus.publish(msg(n, partition_key=f"loan-{n % 3}"), exchange=kit.exchange)
        stream = Puller(bus.consume(sub, prefetch=4))
        seen: dict[str, list[int]] = {}
        for _ in range(12):
            (d,) = await stream.take(1)
            n = int(d.message.headers["x-test"])
            seen.setdefault(d.message.headers[PARTITION_KEY], []).append(n)
            await d.ack()
        assert seen == {f"loan-{k}": list(range(k, 12, 3)) for k in range(3)}
        assert await stream.nothing_more()
        assert await drain_depth(bus, sub.queue, 0) == 0

    async def test_nack_requeues_with_higher_attempt(self, kit: BusKit) -> None:
        bus, _ = await kit.open()
        sub = kit.sub("nack")
        await kit.routable(SUBMITTED)
        await bus.declare(sub)
        await bus.publish(msg(1), exchange=kit.exchange)
        stream = Puller(bus.consume(sub, prefetch=1))
        (first,) = await stream.take(1)
        await first.nack(requeue=True)
        (again,) = await stream.take(1)
        assert again.message.message_id == "m-1"
        assert again.attempt >= 2
        await again.nack(requeue=False)
        assert await stream.nothing_more()

    async def test_attempts_grow_with_each_redelivery(self, kit: BusKit) -> None:
        bus, _ = await kit.open()
        sub = kit.sub("attempts")
        await kit.routable(SUBMITTED)
        await bus.declare(sub)
        await bus.publish(msg(1), exchange=kit.exchange)
        stream = Puller(bus.consume(sub, prefetch=1))
        attempts = []
        for _ in range(4):
            (d,) = await stream.take(1)
            attempts.append(d.attempt)
            await d.nack(requeue=True)
        assert attempts == ([1, 2, 3, 4] if kit.counts_attempts else [1, 2, 2, 2])

    async def test_settling_twice_is_an_error(self, kit: BusKit) -> None:
        bus, _ = await kit.open()
        sub = kit.sub("twice")
        await kit.routable(SUBMITTED)
        await bus.declare(sub)
        await bus.publish(msg(1), exchange=kit.exchange)
        (d,) = await take(bus.consume(sub, prefetch=1), 1)
        await d.ack()
        with pytest.raises(AlreadySettled):
            await d.ack()

    async def test_prefetch_bounds_unacked_deliveries(self, kit: BusKit) -> None:
        bus, _ = await kit.open()
        sub = kit.sub("prefetch")
        await kit.routable(SUBMITTED)
        await bus.declare(sub)
        for n in range(6):
            await bus.publish(msg(n), exchange=kit.exchange)
        stream = Puller(bus.consume(sub, prefetch=2))
        first = await stream.take(2)
        assert await stream.nothing_more(), "a third delivery arrived with two unacked"
        await first[0].ack()
        (third,) = await stream.take(1)
        taken = {d.message.message_id for d in first}
        if kit.fifo:
            assert third.message.message_id == "m-2"
        assert third.message.message_id not in taken

    async def test_unacked_messages_return_when_consumer_closes(self, kit: BusKit) -> None:
        """A crash (or close) before the ack: the message is delivered again, as a redelivery."""
        bus, _ = await kit.open()
        sub = kit.sub("close")
        await kit.routable(SUBMITTED)
        await bus.declare(sub)
        for n in range(3):
            await bus.publish(msg(n, partition_key=f"k{n}"), exchange=kit.exchange)
        got = await take(bus.consume(sub, prefetch=3), 3)
        acked = min(got, key=lambda d: d.message.message_id or "")
        await acked.ack()
        await bus.close()
        bus2 = await kit.reopen(bus)
        again = await take(bus2.consume(sub, prefetch=5), 2)
        seen = sorted((d.message.message_id, d.attempt) for d in again)
        first = [(d.message.message_id, d.attempt) for d in got]
        assert [i for i, _ in seen] == ["m-1", "m-2"], (first, seen)
        assert all(d.attempt >= 2 for d in again), seen

    async def test_attempts_survive_reopen(self, kit: BusKit) -> None:
        """A message that keeps crashing its consumer keeps counting up across restarts, so
        the worker's delivery limit is reached."""
        if not kit.durable:
            pytest.skip(f"the {kit.name} bus keeps nothing across processes by design")
        bus, _ = await kit.open()
        sub = kit.sub("crashloop")
        await kit.routable(SUBMITTED)
        await bus.declare(sub)
        await bus.publish(msg(1), exchange=kit.exchange)
        attempts = []
        for _ in range(3):
            (d,) = await take(bus.consume(sub, prefetch=1), 1)
            attempts.append(d.attempt)
            await bus.close()  # "crashed" before settling
            bus = await kit.reopen(bus)
        assert attempts == ([1, 2, 3] if kit.counts_attempts else [1, 2, 2])

    async def test_published_messages_survive_reopen(self, kit: BusKit) -> None:
        if not kit.durable:
            pytest.skip(f"the {kit.name} bus keeps nothing across processes by design")
        bus, _ = await kit.open()
        sub = kit.sub("durable")
        await kit.routable(SUBMITTED)
        await bus.declare(sub)
        await bus.publish(msg(7), exchange=kit.exchange)
        await bus.close()
        bus2, _ = await kit.open()
        (d,) = await take(bus2.consume(sub, prefetch=1), 1)
        assert d.message.message_id == "m-7"
        await d.ack()

    async def test_depth_counts_ready_messages(self, kit: BusKit) -> None:
        bus, _ = await kit.open()
        sub = kit.sub("depth")
        await kit.routable(SUBMITTED)
        await bus.declare(sub)
        assert await bus.depth(sub.queue) == 0
        for n in range(4):
            await bus.publish(msg(n), exchange=kit.exchange)
        assert await drain_depth(bus, sub.queue, 4) == 4


@pytest.mark.timeout(60)
class DeadLetterContract:
    async def test_put_list_count_keep_everything(self, kit: BusKit) -> None:
        _, dlq = await kit.open()
        start = await dlq.count()
        original = BusMessage(b"\xfe\xff raw", "loans.bad", {"k": "v"}, "src-1", "text/plain")
        letter = DeadLetter(original, "not_utf8", "body is not UTF-8", 1, kit.sub("w").queue, "p1")
        await dlq.put(letter)
        assert await dlq.count() == start + 1
        listed = [x for x in await dlq.list(limit=1000) if x.id == letter.id]
        assert len(listed) == 1
        got = listed[0]
        assert got.message.body == original.body
        assert got.message.routing_key == "loans.bad"
        assert got.message.headers["k"] == "v"
        assert (got.reason_code, got.reason, got.attempts, got.pipeline) == (
            "not_utf8",
            "body is not UTF-8",
            1,
            "p1",
        )
        assert got.source_queue == letter.source_queue

    async def test_replay_selected_ids_back_to_the_queue(self, kit: BusKit) -> None:
        bus, dlq = await kit.open()
        sub = kit.sub("replay", "loans.#")
        await bus.declare(sub)
        letters = [
            DeadLetter(msg(n, f"loans.k{n}"), "retries_exhausted", "boom", 5, sub.queue)
            for n in range(3)
        ]
        for letter in letters:
            await dlq.put(letter)
        before = await dlq.count()
        assert await dlq.replay(sub, ids=[letters[1].id]) == 1
        assert await dlq.count() == before - 1
        (d,) = await take(bus.consume(sub, prefetch=5), 1)
        assert d.message.body == letters[1].message.body
        assert d.message.domain_routing_key == "loans.k1"
        assert d.message.headers[ROUTING_KEY_HEADER] == "loans.k1"
        assert d.message.headers[REPLAYED_FROM_HEADER] == letters[1].id
        await d.ack()
        remaining = {x.id for x in await dlq.list(limit=1000)}
        assert letters[0].id in remaining and letters[2].id in remaining
        assert letters[1].id not in remaining

    async def test_replay_all(self, kit: BusKit) -> None:
        bus, dlq = await kit.open()
        sub = kit.sub("replayall")
        await bus.declare(sub)
        for n in range(3):
            await dlq.put(DeadLetter(msg(n), "x", "y", 1, sub.queue))
        # A shared broker may hold letters of other tests: replay only ours by id.
        ours = [x.id for x in await dlq.list(limit=1000) if x.source_queue == sub.queue]
        assert await dlq.replay(sub, ids=ours) == 3
        got = await take(bus.consume(sub, prefetch=5), 3)
        assert sorted(d.message.message_id for d in got) == ["m-0", "m-1", "m-2"]
