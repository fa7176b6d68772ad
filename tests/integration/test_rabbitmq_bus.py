"""RabbitMQ-specific behaviour beyond the shared contract, against the real broker."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import aio_pika
import pytest

from outrigger.bus.base import BusMessage, DeadLetter, Delivery, Subscription
from outrigger.bus.rabbitmq.bus import RabbitBus
from outrigger.bus.rabbitmq.dlq import RabbitDeadLetterQueue
from outrigger.errors import TransientError
from tests.rabbit_cleanup import delete_rabbit_objects

pytestmark = [pytest.mark.rabbitmq, pytest.mark.timeout(120)]


@pytest.fixture
async def names(rabbitmq_url: str) -> AsyncIterator[dict[str, str]]:
    tag = uuid.uuid4().hex[:10]
    made = {"exchange": f"rmq.{tag}.ex", "queue": f"rmq.{tag}.q", "dlq": f"rmq.{tag}.dlq"}
    yield made
    await delete_rabbit_objects(rabbitmq_url, [made["queue"], made["dlq"]], [made["exchange"]])


async def test_unroutable_publish_is_a_transient_error(
    rabbitmq_url: str, names: dict[str, str]
) -> None:
    bus = RabbitBus(rabbitmq_url)
    await bus.start()
    try:
        sub = Subscription(names["queue"], names["exchange"], ("loans.#",))
        await bus.declare(sub)
        with pytest.raises(TransientError, match="unroutable"):
            await bus.publish(BusMessage(b"{}", "claims.x"), exchange=names["exchange"])
        with pytest.raises(TransientError, match="unroutable"):  # default exchange, no queue
            await bus.publish(BusMessage(b"{}", f"{names['queue']}.missing"), exchange="")
        # A missing exchange closes the publishing channel; the next publish still works.
        with pytest.raises(TransientError):
            await bus.publish(BusMessage(b"{}", "loans.x"), exchange=f"{names['exchange']}.no")
        await bus.publish(BusMessage(b"{}", "loans.x"), exchange=names["exchange"])
        await bus.publish(BusMessage(b"{}", names["queue"]), exchange="")
        assert await _depth(bus, names["queue"], 2) == 2
        assert await bus.depth(f"{names['queue']}.missing") == 0
    finally:
        await bus.close()


async def _depth(bus: RabbitBus, queue: str, expected: int) -> int:
    depth = -1
    for _ in range(50):
        depth = await bus.depth(queue)
        if depth == expected:
            break
        await asyncio.sleep(0.1)
    return depth


async def test_cancelled_consumer_returns_prefetched_messages(
    rabbitmq_url: str, names: dict[str, str]
) -> None:
    bus = RabbitBus(rabbitmq_url)
    await bus.start()
    try:
        sub = Subscription(names["queue"], names["exchange"], ("c.#",))
        await bus.declare(sub)
        for i in range(20):
            await bus.publish(BusMessage(str(i).encode(), "c.x"), exchange=names["exchange"])
        got: list[Delivery] = []

        async def pump() -> None:
            async for delivery in bus.consume(sub, prefetch=10):
                got.append(delivery)
                if len(got) == 3:
                    await asyncio.Event().wait()  # the worker is busy; the next anext waits

        task = asyncio.create_task(pump())
        for _ in range(100):
            if len(got) == 3 and await bus.depth(sub.queue) == 10:
                break
            await asyncio.sleep(0.05)
        assert len(got) == 3
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        # Cancelled outside the generator: closing it returns the 7 buffered messages.
        await _close_stream_later()
        assert await _depth(bus, sub.queue, 17) == 17
        for delivery in got:  # handed-out deliveries can still be settled
            await delivery.ack()
        assert await _depth(bus, sub.queue, 17) == 17
    finally:
        await bus.close()


async def _close_stream_later() -> None:
    # The abandoned async generator is finalized by the event loop (aclose) shortly after.
    for _ in range(5):
        await asyncio.sleep(0.05)


async def test_dead_letter_queue_is_a_real_queue_with_reason_headers(
    rabbitmq_url: str, names: dict[str, str]
) -> None:
    bus = RabbitBus(rabbitmq_url)
    await bus.start()
    dlq = RabbitDeadLetterQueue(bus, names["dlq"])
    original = BusMessage(
        b"\xffnot-utf8", "loans.x", {"traceparent": "00-a-b-01"}, "src-9", "application/json"
    )
    await dlq.put(
        DeadLetter(original, "not_utf8", "body is not valid UTF-8", 1, "outrigger.pipelines", None)
    )
    await bus.close()
    # An operator's view: any AMQP client sees the original bytes and the reason.
    connection = await aio_pika.connect(rabbitmq_url)
    channel = await connection.channel()
    queue = await channel.declare_queue(names["dlq"], passive=True)
    raw = await queue.get(no_ack=False, timeout=10)
    assert raw is not None
    assert raw.body == b"\xffnot-utf8"
    headers = raw.headers
    assert headers["x-outrigger-reason-code"] == "not_utf8"
    assert headers["x-outrigger-reason"] == "body is not valid UTF-8"
    assert headers["x-outrigger-original-routing-key"] == "loans.x"
    assert headers["traceparent"] == "00-a-b-01"
    assert raw.delivery_mode == aio_pika.DeliveryMode.PERSISTENT
    await raw.nack(requeue=True)
    await connection.close()


async def test_quorum_queue_reports_attempts_from_delivery_count(
    rabbitmq_url: str, names: dict[str, str]
) -> None:
    bus = RabbitBus(rabbitmq_url, queue_type="quorum")
    await bus.start()
    sub = Subscription(names["queue"], names["exchange"], ("q.#",))
    await bus.declare(sub)
    await bus.publish(BusMessage(b"{}", "q.x"), exchange=names["exchange"])
    stream = bus.consume(sub, prefetch=1)
    attempts = []
    for _ in range(3):
        delivery = await asyncio.wait_for(anext(stream), 10)
        attempts.append(delivery.attempt)
        await delivery.nack(requeue=True)
    assert attempts == [1, 2, 3]
    await bus.close()


async def test_concurrent_consumption_delivers_each_message_once(
    rabbitmq_url: str, names: dict[str, str]
) -> None:
    bus = RabbitBus(rabbitmq_url)
    await bus.start()
    sub = Subscription(names["queue"], names["exchange"], ("c.#",))
    await bus.declare(sub)
    await asyncio.gather(
        *(
            bus.publish(
                BusMessage(str(i).encode(), "c.x", message_id=str(i)), exchange=names["exchange"]
            )
            for i in range(500)
        )
    )
    seen: list[str] = []

    async def handle(delivery: object) -> None:
        await asyncio.sleep(0.001)
        seen.append(delivery.message.message_id)  # type: ignore[attr-defined]
        await delivery.ack()  # type: ignore[attr-defined]

    tasks = []
    stream = bus.consume(sub, prefetch=50)
    for _ in range(500):
        tasks.append(asyncio.create_task(handle(await asyncio.wait_for(anext(stream), 10))))
    await asyncio.gather(*tasks)
    assert sorted(seen, key=int) == [str(i) for i in range(500)]
    assert await bus.depth(sub.queue) == 0
    await bus.close()


async def test_unreachable_broker_is_transient_and_hides_the_password() -> None:
    bus = RabbitBus("amqp://guest:s3cret@127.0.0.1:1/")
    with pytest.raises(TransientError) as info:
        await bus.start()
    assert "s3cret" not in str(info.value)
    assert "127.0.0.1:1" in str(info.value)
