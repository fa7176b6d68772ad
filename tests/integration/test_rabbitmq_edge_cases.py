"""RabbitMQ edge cases beyond the shared contract, against the real broker: returns matched
by message_id, missing exchanges, header types, quorum delivery counts, cancelled consumers,
a consumer that loses its channel (connection closed by the broker, queue deleted)."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import aio_pika
import pytest

from outrigger.bus.base import BusMessage, DeadLetter, Delivery, Subscription
from outrigger.bus.rabbitmq.bus import RabbitBus
from outrigger.bus.rabbitmq.dlq import RabbitDeadLetterQueue
from outrigger.errors import TransientError
from tests.chaos import rabbit
from tests.helpers import until_transient_passes
from tests.rabbit_cleanup import delete_rabbit_objects

pytestmark = [pytest.mark.rabbitmq, pytest.mark.timeout(120)]


@dataclass
class Names:
    """Unique names for one test, deleted from the broker afterwards."""

    tag: str = field(default_factory=lambda: uuid.uuid4().hex[:12])
    queues: list[str] = field(default_factory=list)

    @property
    def exchange(self) -> str:
        return f"outrigger.it.{self.tag}"

    def queue(self, name: str) -> str:
        self.queues.append(f"outrigger.it.{self.tag}.{name}")
        return self.queues[-1]


@pytest.fixture
async def names(rabbitmq_url: str) -> AsyncIterator[Names]:
    made = Names()
    yield made
    await delete_rabbit_objects(rabbitmq_url, made.queues, [made.exchange])


@pytest.fixture
async def bus(rabbitmq_url: str) -> AsyncIterator[RabbitBus]:
    started = RabbitBus(rabbitmq_url)
    await started.start()
    yield started
    await started.close()


def msg(n: int, key: str = "loans.x", **headers: str) -> BusMessage:
    return BusMessage(f'{{"n": {n}}}'.encode(), key, headers, f"m-{n}", "application/json")


async def next_delivery(stream: AsyncIterator[Delivery]) -> Delivery:
    return await asyncio.wait_for(anext(stream), 10)


async def raw_queue(url: str, queue: str) -> tuple[aio_pika.abc.AbstractConnection, int]:
    """An operator's view: message count from a plain AMQP client."""
    connection = await aio_pika.connect(url)
    channel = await connection.channel()
    declared = await channel.declare_queue(queue, passive=True)
    return connection, int(declared.declaration_result.message_count or 0)


class TestPublishing:
    async def test_unroutable_publish_raises_and_the_channel_keeps_working(
        self, bus: RabbitBus, names: Names
    ) -> None:
        sub = Subscription(names.queue("routed"), names.exchange, ("loans.#",))
        await bus.declare(sub)
        with pytest.raises(TransientError, match="unroutable"):
            await bus.publish(msg(1, "claims.x"), exchange=names.exchange)
        with pytest.raises(TransientError, match="unroutable"):
            await bus.publish(msg(2, f"{names.exchange}.missing-queue"), exchange="")
        with pytest.raises(TransientError, match=r"does not exist|NOT_FOUND"):
            await bus.publish(msg(3), exchange=f"{names.exchange}.missing")
        await bus.publish(msg(4, "loans.ok"), exchange=names.exchange)  # right away: no reopen
        assert await bus.depth(sub.queue) == 1

    async def test_same_message_id_in_flight_keeps_each_outcome(
        self, bus: RabbitBus, names: Names
    ) -> None:
        sub = Subscription(names.queue("same-id"), names.exchange, ("loans.#",))
        await bus.declare(sub)
        for _ in range(5):
            lost, kept = await asyncio.gather(
                bus.publish(msg(1, "claims.nowhere"), exchange=names.exchange),
                bus.publish(msg(1, "loans.here"), exchange=names.exchange),
                return_exceptions=True,
            )
            assert isinstance(lost, TransientError)
            assert kept is None
        assert await bus.depth(sub.queue) == 5

    async def test_messages_are_persistent_and_keep_their_properties(
        self, bus: RabbitBus, names: Names, rabbitmq_url: str
    ) -> None:
        queue = names.queue("props")
        await bus.declare(Subscription(queue, ""))
        await bus.publish(msg(1, queue, traceparent="00-a-b-01"), exchange="")
        connection = await aio_pika.connect(rabbitmq_url)
        async with connection:
            raw = await (await (await connection.channel()).get_queue(queue)).get(timeout=5)
            assert raw.delivery_mode == aio_pika.DeliveryMode.PERSISTENT
            assert (raw.message_id, raw.content_type) == ("m-1", "application/json")
            assert raw.headers["traceparent"] == "00-a-b-01"


class TestConnecting:
    async def test_unreachable_broker_is_transient_and_hides_the_password(self) -> None:
        bus = RabbitBus("amqp://guest:s3cret-pw@127.0.0.1:1/")
        with pytest.raises(TransientError, match="cannot connect") as caught:
            await bus.start()
        assert "s3cret-pw" not in str(caught.value)
        assert "s3cret-pw" not in repr(bus)

    async def test_wrong_password_is_transient_and_hides_the_password(self) -> None:
        bus = RabbitBus("amqp://guest:wrong-pw-42@127.0.0.1:5672/")
        with pytest.raises(TransientError) as caught:
            await bus.start()
        assert "wrong-pw-42" not in str(caught.value)

    async def test_not_started_is_transient(self) -> None:
        with pytest.raises(TransientError, match="not started"):
            await RabbitBus("amqp://guest:guest@127.0.0.1:5672/").depth("q")


class TestDeclaring:
    async def test_declare_exchanges_off_never_creates_the_domain_exchange(
        self, rabbitmq_url: str, names: Names
    ) -> None:
        guest = RabbitBus(rabbitmq_url, declare_exchanges=False)
        await guest.start()
        try:
            sub = Subscription(names.queue("guest"), names.exchange, ("#",))
            with pytest.raises(TransientError, match=r"does not exist|NOT_FOUND"):
                await guest.declare(sub)
            connection = await aio_pika.connect(rabbitmq_url)
            async with connection:  # the domain owns its exchange, of its own type
                channel = await connection.channel()
                await channel.declare_exchange(names.exchange, "fanout", durable=True)
            await guest.declare(sub)  # binds, and leaves the fanout exchange as it is
            await guest.publish(msg(1, "anything"), exchange=names.exchange)
            assert await guest.depth(sub.queue) == 1
        finally:
            await guest.close()

    async def test_depth_of_a_missing_queue_is_zero(self, bus: RabbitBus, names: Names) -> None:
        assert await bus.depth(names.queue("never-declared")) == 0
        queue = names.queue("after")
        await bus.declare(Subscription(queue, ""))
        await bus.publish(msg(1, queue), exchange="")  # the channel survived the 404
        assert await bus.depth(queue) == 1


class TestConsuming:
    async def test_quorum_queue_reports_attempt_from_delivery_count(
        self, rabbitmq_url: str, names: Names
    ) -> None:
        quorum = RabbitBus(rabbitmq_url, queue_type="quorum")
        await quorum.start()
        try:
            sub = Subscription(names.queue("quorum"), names.exchange, ("q.#",))
            await quorum.declare(sub)
            await quorum.publish(msg(1, "q.x"), exchange=names.exchange)
            stream = quorum.consume(sub, prefetch=1)
            attempts = []
            for _ in range(3):
                delivery = await next_delivery(stream)
                attempts.append(delivery.attempt)
                assert "x-delivery-count" not in delivery.message.headers
                await delivery.nack(requeue=True)
            assert attempts == [1, 2, 3]
        finally:
            await quorum.close()

    async def test_header_values_become_strings(
        self, bus: RabbitBus, names: Names, rabbitmq_url: str
    ) -> None:
        queue = names.queue("headers")
        await bus.declare(Subscription(queue, ""))
        connection = await aio_pika.connect(rabbitmq_url)
        async with connection:
            channel = await connection.channel()
            headers = {"n": 7, "flag": True, "raw": bytearray(b"caf\xc3\xa9 \xff"), "s": "text"}
            await channel.default_exchange.publish(
                aio_pika.Message(b"{}", headers=headers), routing_key=queue
            )
        delivery = await next_delivery(bus.consume(Subscription(queue, ""), prefetch=1))
        assert dict(delivery.message.headers) == {
            "n": "7",
            "flag": "True",
            "raw": "café \ufffd",
            "s": "text",
        }
        await delivery.ack()

    async def test_leaving_the_iteration_returns_what_was_not_handed_out(
        self, bus: RabbitBus, names: Names
    ) -> None:
        sub = Subscription(names.queue("leave"), names.exchange, ("#",))
        await bus.declare(sub)
        for n in range(10):
            await bus.publish(msg(n), exchange=names.exchange)
        stream = bus.consume(sub, prefetch=5)
        taken = [await next_delivery(stream) for _ in range(2)]
        await stream.aclose()  # type: ignore[attr-defined]
        for delivery in taken:  # still settleable after the iteration ended
            await delivery.ack()
        again = bus.consume(sub, prefetch=20)
        rest = [await next_delivery(again) for _ in range(8)]
        ids = sorted(int(d.message.message_id.split("-")[1]) for d in rest)  # type: ignore[union-attr]
        assert ids == list(range(2, 10))
        for delivery in rest:
            await delivery.ack()

    async def test_concurrent_handlers_get_each_message_exactly_once(
        self, bus: RabbitBus, names: Names
    ) -> None:
        sub = Subscription(names.queue("many"), names.exchange, ("loans.#",))
        await bus.declare(sub)
        await asyncio.gather(*(bus.publish(msg(n), exchange=names.exchange) for n in range(500)))
        seen: list[str] = []
        in_hand = 0
        most_in_hand = 0

        async def handle(delivery: Delivery) -> None:
            nonlocal in_hand, most_in_hand
            in_hand += 1
            most_in_hand = max(most_in_hand, in_hand)
            await asyncio.sleep(0.002)
            seen.append(delivery.message.message_id or "")
            in_hand -= 1
            await delivery.ack()

        stream = bus.consume(sub, prefetch=50)
        async with asyncio.TaskGroup() as tasks:
            for _ in range(500):
                tasks.create_task(handle(await next_delivery(stream)))
        with pytest.raises(TimeoutError):  # and nothing a second time
            await asyncio.wait_for(anext(stream), 1.0)
        assert sorted(seen) == sorted(f"m-{n}" for n in range(500))
        assert 1 < most_in_hand <= 50
        assert await bus.depth(sub.queue) == 0


class TestDeadLetterQueue:
    async def test_the_queue_is_real_with_reason_headers(
        self, bus: RabbitBus, names: Names, rabbitmq_url: str
    ) -> None:
        dlq = RabbitDeadLetterQueue(bus, names.queue("dlq"))
        original = BusMessage(b"\xffraw", "loans.x", {"traceparent": "00-a-b-01"}, "s-1", "a/b")
        letter = DeadLetter(original, "not_utf8", "body is not UTF-8", 3, "src.q", "p1")
        await dlq.put(letter)
        connection, count = await raw_queue(rabbitmq_url, dlq.queue)
        async with connection:
            assert count == 1
            queue = await (await connection.channel()).get_queue(dlq.queue)
            raw = await queue.get(no_ack=False, timeout=5)
            assert raw.body == b"\xffraw"
            assert (raw.message_id, raw.content_type) == ("s-1", "a/b")
            assert raw.delivery_mode == aio_pika.DeliveryMode.PERSISTENT
            assert raw.headers == {
                "traceparent": "00-a-b-01",
                "x-outrigger-dead-letter-id": letter.id,
                "x-outrigger-reason-code": "not_utf8",
                "x-outrigger-reason": "body is not UTF-8",
                "x-outrigger-attempts": "3",
                "x-outrigger-source-queue": "src.q",
                "x-outrigger-pipeline": "p1",
                "x-outrigger-failed-at": letter.failed_at.isoformat(),
                "x-outrigger-original-routing-key": "loans.x",
            }
            await raw.nack(requeue=True)
        (listed,) = await dlq.list()
        assert listed == letter

    async def test_list_peeks_in_order_and_replay_keeps_the_rest_in_order(
        self, bus: RabbitBus, names: Names
    ) -> None:
        dlq = RabbitDeadLetterQueue(bus, names.queue("dlq"))
        target = Subscription(names.queue("target"), names.exchange, ("loans.#",))
        letters = [DeadLetter(msg(n), "boom", "failed", 5, target.queue) for n in range(5)]
        for letter in letters:
            await dlq.put(letter)
        ids = [x.id for x in letters]
        assert [x.id for x in await dlq.list()] == ids
        assert [x.id for x in await dlq.list(limit=2)] == ids[:2]
        assert [x.id for x in await dlq.list()] == ids  # nothing removed, order kept
        assert await dlq.count() == 5
        assert await dlq.replay(target, ids=[ids[1], ids[3]]) == 2
        assert [x.id for x in await dlq.list()] == [ids[0], ids[2], ids[4]]
        assert await dlq.count() == 3
        stream = bus.consume(target, prefetch=5)
        got = [await next_delivery(stream) for _ in range(2)]
        assert [d.message.message_id for d in got] == ["m-1", "m-3"]
        assert await dlq.replay(target) == 3
        assert await dlq.count() == 0


async def publish_when_taken(
    bus: RabbitBus, exchange: str, message_id: str, key: str = "loans.x"
) -> None:
    """Published once the broker takes it (the bus may be reconnecting, the queue being
    declared again: unroutable until then)."""
    message = BusMessage(b"{}", key, message_id=message_id)
    await until_transient_passes(lambda: bus.publish(message, exchange=exchange))


async def settle_until_quiet(
    stream: AsyncIterator[Delivery], quiet_s: float = 3.0, within_s: float = 60.0
) -> list[Delivery]:
    """Every delivery until none comes for ``quiet_s`` (at most ``within_s`` in all), each
    acked as it comes."""
    got: list[Delivery] = []
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        try:
            delivery = await asyncio.wait_for(anext(stream), quiet_s)
        except TimeoutError:
            break
        await delivery.ack()
        got.append(delivery)
    return got


class TestLostChannel:
    """The consumer's channel lost: it consumes again on a new one. Deliveries handed out on
    the lost channel settle as no-ops and come back; nothing stays held."""

    @pytest.mark.usefixtures("rabbitmqctl")
    async def test_a_consumer_goes_on_after_the_broker_closes_its_connection(
        self, bus: RabbitBus, names: Names
    ) -> None:
        sub = Subscription(names.queue("work"), names.exchange, ("loans.#",))
        await bus.declare(sub)
        for i in range(4):
            await publish_when_taken(bus, sub.exchange or "", f"m-{i}")
        stream = bus.consume(sub, prefetch=10)
        held = [await next_delivery(stream), await next_delivery(stream)]  # not settled
        assert [d.message.message_id for d in held] == ["m-0", "m-1"]
        for pid in await asyncio.to_thread(rabbit.connections_named, bus.connection_name()):
            await asyncio.to_thread(rabbit.rabbitmqctl, "close_connection", pid, "test: closed")
        for delivery in held:  # on the lost channel: a no-op, the broker gives them back
            await delivery.ack()
        await publish_when_taken(bus, sub.exchange or "", "m-4")  # after the reconnect
        got = await settle_until_quiet(stream)
        await stream.aclose()  # type: ignore[attr-defined]
        ids = {str(d.message.message_id) for d in got}
        assert ids == {f"m-{i}" for i in range(5)}, sorted(ids)
        again = [(d.message.message_id, d.attempt) for d in got if d.message.message_id in (
            "m-0", "m-1")]  # fmt: skip
        assert again and all(attempt >= 2 for _, attempt in again), again
        assert await bus.depth(sub.queue) == 0  # every ack that counted reached the broker

    @pytest.mark.parametrize("bound", [True, False], ids=["on-an-exchange", "default-exchange"])
    async def test_a_consumer_whose_queue_is_deleted_declares_it_again(
        self, bus: RabbitBus, names: Names, rabbitmq_url: str, bound: bool
    ) -> None:
        queue = names.queue("work")
        sub = (
            Subscription(queue, names.exchange, ("loans.#",)) if bound else Subscription(queue, "")
        )
        # On the default exchange the routing key is the queue's name.
        exchange, key = (names.exchange, "loans.x") if bound else ("", queue)
        await bus.declare(sub)
        await publish_when_taken(bus, exchange, "before", key)
        stream = bus.consume(sub, prefetch=10)
        await (await next_delivery(stream)).ack()
        connection = await aio_pika.connect(rabbitmq_url)
        try:
            await (await connection.channel()).queue_delete(sub.queue)  # the broker cancels us
        finally:
            await connection.close()
        # The consumer waits for its next delivery (as the worker's does) while "after" is
        # published: unroutable until the consumer has declared the queue again.
        consuming = asyncio.create_task(settle_until_quiet(stream, quiet_s=10))
        await publish_when_taken(bus, exchange, "after", key)
        got = await consuming
        await stream.aclose()  # type: ignore[attr-defined]
        assert [d.message.message_id for d in got] == ["after"]
        assert await bus.depth(sub.queue) == 0

    @pytest.mark.usefixtures("rabbitmqctl")
    async def test_closing_the_bus_ends_a_consumer_waiting_to_reconnect(
        self, bus: RabbitBus, names: Names
    ) -> None:
        sub = Subscription(names.queue("work"), names.exchange, ("loans.#",))
        stream = bus.consume(sub, prefetch=10)
        waiting = asyncio.create_task(anext(stream))
        await asyncio.sleep(0.5)  # consuming
        for pid in await asyncio.to_thread(rabbit.connections_named, bus.connection_name()):
            await asyncio.to_thread(rabbit.rabbitmqctl, "close_connection", pid, "test: closed")
        await asyncio.sleep(1.0)  # the consumer's channel is lost; it waits for the connection
        assert not waiting.done()
        await bus.close()
        with pytest.raises(StopAsyncIteration):
            await asyncio.wait_for(waiting, 15)
