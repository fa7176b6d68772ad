"""The SQS bus beyond the shared contract (tests/contract/bus/test_sqs.py), on moto's
server mode: FIFO order per message group, two consumers sharing a queue, visibility kept
while work is in flight, batched acks, the 10-attribute limit, followers' queues, and what a
domain service sending with its own SDK looks like."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from outrigger.bus.base import BusMessage, DeadLetter, Delivery, Subscription
from outrigger.bus.letters import CODE, REASON
from outrigger.bus.sqs.bus import SqsBus
from outrigger.bus.sqs.codec import MAX_ATTRIBUTES
from outrigger.bus.sqs.dlq import SqsDeadLetterQueue
from outrigger.bus.sqs.routes import EXPIRES
from outrigger.bus.sqs.settings import SqsSettings
from outrigger.errors import TransientError
from tests.contract.bus.base import Puller
from tests.contract.bus.test_sqs import delete_queues

pytestmark = [pytest.mark.sqs, pytest.mark.timeout(90)]
EXCHANGE = "domain.events"

Opener = Callable[..., Awaitable[SqsBus]]


@pytest.fixture
async def open_bus(sqs_endpoint: str) -> AsyncIterator[Opener]:
    """Started buses on one fresh queue prefix, closed and their queues deleted at the end."""
    prefix = f"it{uuid.uuid4().hex[:10]}-"
    opened: list[SqsBus] = []

    async def open_one(**overrides: object) -> SqsBus:
        values = {"endpoint_url": sqs_endpoint, "queue_prefix": prefix, "wait_time_s": 1}
        bus = SqsBus(SqsSettings.model_validate({**values, **overrides}))
        await bus.start()
        opened.append(bus)
        return bus

    yield open_one
    for bus in opened:
        await bus.close()
    await delete_queues(sqs_endpoint, prefix)


def event(n: int, key: str = "loans.application.submitted", **headers: str) -> BusMessage:
    body = json.dumps({"n": n}).encode()
    return BusMessage(body, key, headers, f"e-{n}", "application/json")


async def test_fifo_keeps_order_within_each_message_group(open_bus: Opener) -> None:
    bus = await open_bus(fifo=True, group_header="account")
    sub = Subscription("fifo", EXCHANGE, ("loans.#",))
    await bus.declare(sub)
    for n in range(30):  # one after the other: concurrent publishes have no order
        await bus.publish(event(n, account=f"a{n % 3}"), exchange=EXCHANGE)
    stream = Puller(bus.consume(sub, prefetch=6))
    seen: dict[str, list[int]] = {}
    for _ in range(30):
        (d,) = await stream.take(1)
        seen.setdefault(d.message.headers["account"], []).append(json.loads(d.message.body)["n"])
        await d.ack()
    assert seen == {f"a{k}": list(range(k, 30, 3)) for k in range(3)}
    assert await stream.nothing_more(1.5)


async def test_fifo_deduplicates_a_resent_message_but_not_its_replay(open_bus: Opener) -> None:
    bus = await open_bus(fifo=True)
    sub = Subscription("dedup", EXCHANGE, ("#",))
    await bus.declare(sub)
    await bus.publish(event(1), exchange=EXCHANGE)
    await bus.publish(event(1), exchange=EXCHANGE)  # a retried publish: the same message id
    dlq = SqsDeadLetterQueue(bus, "dlq")
    await dlq.put(DeadLetter(event(1), "x", "y", 1, sub.queue))
    assert await dlq.replay(sub) == 1
    stream = Puller(bus.consume(sub, prefetch=5))
    got = await stream.take(2)
    assert [d.message.message_id for d in got] == ["e-1", "e-1"]
    assert "x-outrigger-replayed-from" in got[1].message.headers
    for d in got:
        await d.ack()
    assert await stream.nothing_more(1.5)


async def test_two_consumers_share_a_queue_and_each_event_gets_one_result(
    open_bus: Opener,
) -> None:
    """Two workers (separate clients, as two processes) on one queue: the work is shared and
    each event ends with one result id. A standard SQS queue delivers at least once ("on rare
    occasions, more than one copy"), on receive and on a send retried after a lost reply; a
    copy carries the same id (result ids are deterministic in the worker, which also keeps
    an idempotency store), so a consumer that keeps ids sees each event once. One extra copy
    in 200 was seen here once under a full test run; a handful is tolerated, not more."""
    a, b = await open_bus(), await open_bus()
    work = Subscription("work", EXCHANGE, ("loans.#",))
    results = Subscription("results", EXCHANGE, ("ai.#",))
    for sub in (work, results):
        await a.declare(sub)
    events = 200
    await asyncio.gather(*(a.publish(event(n), exchange=EXCHANGE) for n in range(events)))
    handled = {"a": 0, "b": 0}

    async def worker(name: str, bus: SqsBus) -> None:
        async for d in bus.consume(work, prefetch=10):
            n = json.loads(d.message.body)["n"]
            result = BusMessage(d.message.body, "ai.assessment.completed", {}, f"r-{n}")
            await bus.publish(result, exchange=EXCHANGE)  # confirmed, then ...
            await d.ack()  # ... acknowledged
            handled[name] += 1
            await asyncio.sleep(0.002)

    tasks = [asyncio.create_task(worker("a", a)), asyncio.create_task(worker("b", b))]
    seen: dict[str | None, int] = {}
    stream = Puller(a.consume(results, prefetch=50))
    try:
        while len(seen) < events:
            (d,) = await stream.take(1, timeout=30)
            seen[d.message.message_id] = seen.get(d.message.message_id, 0) + 1
            await d.ack()
        while True:  # copies, until nothing arrives for 2 s
            try:
                (d,) = await stream.take(1, timeout=2.0)
            except TimeoutError:
                break
            seen[d.message.message_id] = seen.get(d.message.message_id, 0) + 1
            await d.ack()
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    assert set(seen) == {f"r-{n}" for n in range(events)}  # every event, no stranger
    copies = sum(seen.values()) - events
    assert copies <= 3, {k: v for k, v in seen.items() if v > 1}
    assert handled["a"] > 0 and handled["b"] > 0, handled
    assert events <= handled["a"] + handled["b"] <= events + 3


async def test_visibility_is_extended_while_work_is_in_flight(open_bus: Opener) -> None:
    slow, other = await open_bus(visibility_timeout_s=2), await open_bus(visibility_timeout_s=2)
    sub = Subscription("slow", EXCHANGE, ("#",))
    await slow.declare(sub)
    await slow.publish(event(1), exchange=EXCHANGE)
    (held,) = await Puller(slow.consume(sub, prefetch=1)).take(1)
    thief = Puller(other.consume(sub, prefetch=1))
    assert await thief.nothing_more(5.0), "redelivered while its consumer was still working"
    await held.ack()
    assert await thief.nothing_more(3.0)
    assert await slow.counts(sub.queue) == (0, 0)


async def test_concurrent_acks_share_delete_calls_and_return_once_deleted(
    open_bus: Opener,
) -> None:
    bus = await open_bus()
    sub = Subscription("acks", EXCHANGE, ("#",))
    await bus.declare(sub)
    await asyncio.gather(*(bus.publish(event(n), exchange=EXCHANGE) for n in range(20)))
    got: list[Delivery] = await Puller(bus.consume(sub, prefetch=20)).take(20)
    batches = bus.settler._deletes.batches
    await asyncio.gather(*(d.ack() for d in got))
    assert bus.settler._deletes.batches - batches <= 2
    assert await bus.counts(sub.queue) == (0, 0)  # every ack returned after its delete


async def test_many_headers_fold_within_ten_attributes_and_the_reason_shows(
    open_bus: Opener,
) -> None:
    bus = await open_bus()
    dlq = SqsDeadLetterQueue(bus, "dlq")
    headers = {f"h{i}": f"v{i}" for i in range(12)} | {"empty": ""}
    letter = DeadLetter(event(1, **headers), "mapping_failed", "no field amount", 3, "work")
    await dlq.put(letter)
    url = await bus.client.url(bus.name("dlq"))
    raw = await bus.client.call(
        "receive_message", QueueUrl=url, MessageAttributeNames=["All"], VisibilityTimeout=0
    )
    attributes = raw["Messages"][0]["MessageAttributes"]
    assert len(attributes) <= MAX_ATTRIBUTES
    assert attributes[CODE]["StringValue"] == "mapping_failed"
    assert attributes[REASON]["StringValue"] == "no field amount"
    (listed,) = await dlq.list()
    assert dict(listed.message.headers) == headers
    assert (listed.reason_code, listed.attempts) == ("mapping_failed", 3)


async def test_a_domain_service_sends_with_its_own_sdk(open_bus: Opener) -> None:
    """No Outrigger on the producing side: a plain SendMessage with the routing key in one
    message attribute is a normal delivery."""
    bus = await open_bus()
    sub = Subscription("plain", EXCHANGE, ("#",))
    await bus.declare(sub)
    url = await bus.client.url(bus.name("plain"))
    await bus.client.call(
        "send_message",
        QueueUrl=url,
        MessageBody='{"id": "1"}',
        MessageAttributes={
            "x-outrigger-routing-key": {"DataType": "String", "StringValue": "loans.x"}
        },
    )
    (d,) = await Puller(bus.consume(sub, prefetch=1)).take(1)
    assert (d.message.body, d.message.routing_key) == (b'{"id": "1"}', "loans.x")
    assert d.message.domain_routing_key == "loans.x"
    await d.ack()


async def test_a_followers_queue_goes_with_its_consumer_or_expires(open_bus: Opener) -> None:
    bus = await open_bus()
    await bus.declare(Subscription("work", EXCHANGE, ("loans.#",)))
    tail = Subscription("tail-1", EXCHANGE, ("#",), temporary=True)
    stream = Puller(bus.consume(tail, prefetch=5))
    await asyncio.sleep(0.5)  # declared by the consumer
    await bus.publish(event(1), exchange=EXCHANGE)
    (copy,) = await stream.take(1)
    await copy.ack()
    assert await bus.depth("work") == 1, "the follower took the worker's message"
    stream._task.cancel()
    await asyncio.gather(stream._task, return_exceptions=True)
    with pytest.raises(TransientError):  # deleted when its consumer stopped
        await bus.client.call("get_queue_url", QueueName=bus.name("tail-1"))

    # A follower that died: its queue keeps the expiry it had; a later reader reaps it.
    dead = await open_bus()
    await dead.declare(Subscription("tail-2", EXCHANGE, ("#",), temporary=True))
    url = await dead.client.url(dead.name("tail-2"))
    tags = (await dead.client.call("list_queue_tags", QueueUrl=url))["Tags"]
    assert float(tags[EXPIRES]) > time.time()
    later = await open_bus()
    later.routes._clock = lambda: time.time() + 3600  # an hour on: the expiry has passed
    await later.routes.refresh(force=True)
    with pytest.raises(TransientError):
        await later.client.call("get_queue_url", QueueName=dead.name("tail-2"))


async def test_an_unreachable_endpoint_is_a_transient_error(sqs_endpoint: str) -> None:
    from tests.sqs_server import free_port

    bus = SqsBus(SqsSettings(endpoint_url=f"http://127.0.0.1:{free_port()}"))
    with pytest.raises(TransientError, match="SQS"):
        await bus.start()
