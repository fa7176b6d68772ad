"""Kafka-specific behaviour beyond the shared contract, against the tansu test broker:
consumer groups sharing the work, per-key order of results, rebalances that commit only
contiguous settled work, the CloudEvents Kafka binding on the wire, the dead-letter topic's
replay markers, where a new group starts."""

from __future__ import annotations

import asyncio
import json
import logging
import random
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition

from outrigger.bus.base import BusMessage, DeadLetter, Delivery, Subscription
from outrigger.bus.kafka.bus import KafkaBus
from outrigger.bus.kafka.dlq import REPLAYED_OF, KafkaDeadLetterQueue
from outrigger.bus.kafka.settings import KafkaSettings
from outrigger.bus.memory.bus import MemoryBus
from outrigger.config.settings import WorkerSettings
from outrigger.demo.loans import LoanService, holdout_rows
from outrigger.engine.envelope import parse_event
from outrigger.engine.results import result_id
from outrigger.engine.worker import Worker
from outrigger.errors import TransientError, Unroutable
from outrigger.runtime.worker import prepare_results
from outrigger.storage.memory import MemoryIdempotencyStore
from tests.helpers import demo_pipelines, wait_until
from tests.kafka_broker import settings_for_tests

pytestmark = [pytest.mark.kafka, pytest.mark.timeout(180)]
SUBMITTED, COMPLETED = "loans.application.submitted", "ai.assessment.completed"
PIPELINE = "credit-risk-assessment"


@dataclass
class Names:
    bootstrap: str
    tag: str = field(default_factory=lambda: uuid.uuid4().hex[:10])
    buses: list[KafkaBus] = field(default_factory=list)

    @property
    def exchange(self) -> str:
        return f"it.{self.tag}.events"

    def queue(self, name: str) -> str:
        return f"it.{self.tag}.{name}"

    def topic(self, key: str) -> str:
        return f"{self.exchange}.{key}"

    def settings(self, **overrides: Any) -> KafkaSettings:
        return settings_for_tests(self.bootstrap, **overrides)

    async def bus(self, **overrides: Any) -> KafkaBus:
        made = KafkaBus(self.settings(**overrides))
        await made.start()
        self.buses.append(made)
        return made


@pytest.fixture
async def names(kafka_bootstrap: str) -> AsyncIterator[Names]:
    made = Names(kafka_bootstrap)
    yield made
    for bus in reversed(made.buses):
        await bus.close()


def raw_config(names: Names) -> dict[str, Any]:
    return {"bootstrap.servers": names.bootstrap}


def raw_records(names: Names, topic: str, count: int) -> list[Any]:
    """What any Kafka client sees (blocking)."""
    reader = Consumer({**raw_config(names), "group.id": f"raw-{uuid.uuid4().hex}"})
    reader.assign([TopicPartition(topic, 0, 0)])
    got: list[Any] = []
    for _ in range(50):
        got += [m for m in reader.consume(100, 0.2) if m.error() is None]
        if len(got) >= count:
            break
    reader.close()
    return got


async def collect(bus: KafkaBus, sub: Subscription, into: list[dict[str, Any]]) -> None:
    async for delivery in bus.consume(sub, prefetch=500):
        into.append(json.loads(delivery.message.body))
        await delivery.ack()


def worker_for(bus: KafkaBus, names: Names, **settings: Any) -> Worker:
    pipelines = demo_pipelines()
    sub = Subscription(names.queue("work"), names.exchange, pipelines.bindings())
    return Worker(
        bus,
        KafkaDeadLetterQueue(bus, names.queue("dlq")),
        pipelines,
        MemoryIdempotencyStore(ttl_s=3600),
        WorkerSettings(**settings),
        sub,
        names.exchange,
    )


def assigned(worker: Worker) -> list[tuple[str, int]]:
    bus = worker.bus
    assert isinstance(bus, KafkaBus)
    return bus.assigned()


def keyed(message: BusMessage, key: str) -> BusMessage:
    """A domain event with a partition key (the CloudEvents partitioning extension)."""
    headers = {**message.headers, "cloudEvents_partitionkey": key}
    return BusMessage(message.body, message.routing_key, headers, message.message_id,
                      message.content_type)  # fmt: skip


async def publish_events(
    bus: KafkaBus, names: Names, count: int, key: Callable[[int], str]
) -> list[str]:
    service = LoanService(holdout_rows(), random.Random(7))
    ids = []
    for n in range(count):
        event_id, message = service.cloudevent()
        ids.append(event_id)
        await bus.publish(keyed(message, key(n)), exchange=names.exchange)
    return ids


async def one_event_through(
    worker: Worker, publisher: KafkaBus, names: Names, done: Callable[[], bool]
) -> None:
    """Run ``worker`` until it has its partitions, publish one event, wait for ``done``."""
    stop = asyncio.Event()
    run = asyncio.create_task(worker.run(stop))
    try:
        await wait_until(lambda: bool(assigned(worker)), 30)
        await publish_events(publisher, names, 1, key=lambda n: f"loan-{n}")
        await wait_until(done, 60)
    finally:
        stop.set()
        await run


async def test_two_workers_in_one_group_share_the_work_with_one_result_each(
    names: Names,
) -> None:
    setup = await names.bus()
    await setup.create([names.topic(SUBMITTED)], partitions=4)
    await setup.create([names.topic(COMPLETED)], partitions=1)
    results: list[dict[str, Any]] = []
    sink = Subscription(names.queue("sink"), names.exchange, (COMPLETED,))
    await setup.declare(sink)  # a new group starts where it is declared
    collector = asyncio.create_task(collect(setup, sink, results))
    workers, stop, runs = [], asyncio.Event(), []
    for _ in range(2):
        worker = worker_for(await names.bus(), names, prefetch=16)
        workers.append(worker)
        runs.append(asyncio.create_task(worker.run(stop)))
        await wait_until(lambda w=worker: bool(assigned(w)), 30)
    # The group settles when both own partitions of the events topic (4: two each).
    events = names.topic(SUBMITTED)
    await wait_until(
        lambda: all(sum(t == events for t, _ in assigned(w)) == 2 for w in workers), 30
    )
    ids = await publish_events(setup, names, 200, key=lambda n: f"loan-{n}")
    expected = {result_id(i, PIPELINE, 1) for i in ids}
    try:
        await wait_until(lambda: len(results) >= len(expected), 90)
        await asyncio.sleep(1)  # any duplicate would arrive now
    finally:
        stop.set()
        await asyncio.gather(*runs)
        collector.cancel()
    assert {r["id"] for r in results} == expected
    assert len(results) == len(expected), "an event got two results"
    assert all(w.stats.results > 0 for w in workers), [w.stats for w in workers]
    assert sum(w.stats.results for w in workers) == len(expected)


async def test_results_of_one_key_keep_the_order_of_their_events(names: Names) -> None:
    """Events of one key are handled one after the other while other keys run concurrently,
    so each key's results come out in the order of its events."""
    bus = await names.bus()
    await bus.create([names.topic(SUBMITTED)], partitions=2)
    await bus.create([names.topic(COMPLETED)], partitions=1)  # one order to read results in
    results: list[dict[str, Any]] = []
    sink = Subscription(names.queue("sink"), names.exchange, (COMPLETED,))
    worker = worker_for(await names.bus(), names, prefetch=16)
    for sub in (sink, worker.subscription):  # a new group starts where it is declared
        await bus.declare(sub)
    collector = asyncio.create_task(collect(bus, sink, results))
    stop = asyncio.Event()
    run = asyncio.create_task(worker.run(stop))
    ids = await publish_events(bus, names, 60, key=lambda n: f"loan-{n % 4}")
    try:
        await wait_until(lambda: len(results) >= 60, 60)
    finally:
        stop.set()
        await run
        collector.cancel()
    position = {r["correlationid"]: i for i, r in enumerate(results)}
    for k in range(4):
        of_key = [position[event_id] for event_id in ids[k::4]]
        assert of_key == sorted(of_key), f"results of loan-{k} out of order"


async def test_results_carry_the_record_key_of_their_event(names: Names) -> None:
    """A core service keys its records (no CloudEvents ``partitionkey``): each result is
    keyed the same way, so it lands in the partition of its event's key downstream."""
    bus = await names.bus()
    await bus.create([names.topic(SUBMITTED)], partitions=2)
    await bus.create([names.topic(COMPLETED)], partitions=1)
    worker = worker_for(await names.bus(), names, prefetch=8)
    await bus.declare(worker.subscription)
    producer = Producer(raw_config(names))
    service = LoanService(holdout_rows(), random.Random(11))
    keys = {}
    for n in range(6):
        event_id, message = service.cloudevent()
        keys[event_id] = f"loan-{n}".encode()
        producer.produce(names.topic(SUBMITTED), message.body, keys[event_id],
                         headers=[("content-type", b"application/cloudevents+json")])  # fmt: skip
    await asyncio.to_thread(producer.flush, 10)
    stop = asyncio.Event()
    run = asyncio.create_task(worker.run(stop))
    try:
        await wait_until(lambda: worker.stats.results >= 6, 60)
    finally:
        stop.set()
        await run
    records = await asyncio.to_thread(raw_records, names, names.topic(COMPLETED), 6)
    got = {json.loads(r.value())["correlationid"]: r.key() for r in records}
    assert got == keys
    assert all(json.loads(r.value())["partitionkey"] == r.key().decode() for r in records)


async def test_a_revoke_commits_only_contiguous_settled_work(names: Names) -> None:
    """Offsets 1 and 2 settled, 0 not: the commit stays at 0, and the next owner hands out
    only offset 0 (as a redelivery), because the attempts log says 1 and 2 were settled."""
    first = await names.bus()
    await first.create([names.topic(SUBMITTED)], partitions=1)
    sub = Subscription(names.queue("work"), names.exchange, (SUBMITTED,))
    await first.declare(sub)
    for n in range(3):
        message = BusMessage(b"{}", SUBMITTED, {"cloudEvents_partitionkey": f"k{n}"}, f"m-{n}")
        await first.publish(message, exchange=names.exchange)
    stream = first.consume(sub, prefetch=3)
    got = [await asyncio.wait_for(anext(stream), 20) for _ in range(3)]
    assert [d.message.message_id for d in got] == ["m-0", "m-1", "m-2"]
    await got[1].ack()
    await got[2].ack()
    await first.close()
    committed = await (await names.bus())._committed(first.group(sub.queue))
    assert committed[(names.topic(SUBMITTED), 0)] == 0
    second = await names.bus()
    again: list[Delivery] = []
    stream2 = second.consume(sub, prefetch=3)
    again.append(await asyncio.wait_for(anext(stream2), 20))
    assert (again[0].message.message_id, again[0].attempt) == ("m-0", 2)
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(anext(stream2), 1.5)
    await again[0].ack()
    assert await _eventually(lambda: second.depth(sub.queue), 0) == 0


async def _eventually(read: Callable[[], Any], expected: int) -> int:
    value = -1
    for _ in range(50):
        value = await read()
        if value == expected:
            break
        await asyncio.sleep(0.1)
    return value


async def test_cloudevents_kafka_binding_on_the_wire(names: Names) -> None:
    bus = await names.bus()
    await bus.create([names.topic(SUBMITTED)], partitions=1)
    sub = Subscription(names.queue("work"), names.exchange, (SUBMITTED,))
    await bus.declare(sub)
    _, event = LoanService(holdout_rows(), random.Random(3)).cloudevent(binary=True)
    await bus.publish(keyed(event, "loan-9"), exchange=names.exchange)
    (raw,) = await asyncio.to_thread(raw_records, names, names.topic(SUBMITTED), 1)
    wire = dict(raw.headers())
    assert wire["ce_specversion"] == b"1.0" and "cloudEvents_specversion" not in wire
    assert wire["content-type"] == b"application/json"
    assert raw.key() == b"loan-9"
    # A core service producing with any Kafka client, binary mode: ce_ headers and a key.
    producer = Producer(raw_config(names))
    headers = [("ce_specversion", b"1.0"), ("ce_id", b"core-1"), ("ce_source", b"urn:core"),
               ("ce_type", b"com.acme.loans.LoanApplicationSubmitted"),
               ("content-type", b"application/json")]  # fmt: skip
    producer.produce(names.topic(SUBMITTED), b'{"amount": 5}', b"loan-1", headers=headers)
    await asyncio.to_thread(producer.flush, 10)
    stream = bus.consume(sub, prefetch=5)
    first = await asyncio.wait_for(anext(stream), 20)
    second = await asyncio.wait_for(anext(stream), 20)
    assert first.message.headers["cloudEvents_id"] == event.headers["cloudEvents_id"]
    parsed = parse_event(second.message, (), 1 << 20)
    assert (parsed.id, parsed.mode, parsed.data) == ("core-1", "binary", {"amount": 5})
    assert second.message.routing_key == SUBMITTED
    await first.ack()
    await second.ack()


async def test_dead_letter_topic_keeps_letters_and_replay_markers(names: Names) -> None:
    bus = await names.bus()
    dlq = KafkaDeadLetterQueue(bus, names.queue("dlq"))
    sub = Subscription(names.queue("work"), names.exchange, (SUBMITTED,))
    original = BusMessage(b"\xffraw", SUBMITTED, {"traceparent": "00-a-b-01"}, "s-1", "text/plain")
    letters = [DeadLetter(original, "not_utf8", f"bad {n}", 2, sub.queue) for n in range(2)]
    for letter in letters:
        await dlq.put(letter)
    assert await dlq.replay(sub, ids=[letters[0].id]) == 1
    assert [x.id for x in await dlq.list()] == [letters[1].id]
    assert await dlq.count() == 1
    stored = await asyncio.to_thread(raw_records, names, names.queue("dlq"), 3)
    wire = [dict(m.headers() or []) for m in stored]
    assert stored[0].value() == b"\xffraw"
    assert wire[0]["x-outrigger-reason-code"] == b"not_utf8"
    assert wire[0]["x-outrigger-attempts"] == b"2"
    assert wire[2][REPLAYED_OF] == letters[0].id.encode()
    replayed = await asyncio.wait_for(anext(bus.consume(sub, prefetch=1)), 20)
    assert replayed.message.domain_routing_key == SUBMITTED
    assert replayed.message.body == b"\xffraw"
    await replayed.ack()


@pytest.mark.parametrize("start_at", ["declare", "earliest"])
async def test_where_a_new_group_starts(names: Names, start_at: str) -> None:
    """``declare``: like a freshly declared queue, only events published after it;
    ``earliest``: everything the topic retains."""
    bus = await names.bus(start_at=start_at)
    await bus.create([names.topic(SUBMITTED)], partitions=1)
    old = BusMessage(b"{}", SUBMITTED, message_id="old")
    await bus.publish(old, exchange=names.exchange)
    sub = Subscription(names.queue("late"), names.exchange, (SUBMITTED,))
    await bus.declare(sub)
    await bus.publish(BusMessage(b"{}", SUBMITTED, message_id="new"), exchange=names.exchange)
    stream = bus.consume(sub, prefetch=5)
    first = await asyncio.wait_for(anext(stream), 20)
    assert first.message.message_id == ("new" if start_at == "declare" else "old")
    await first.ack()


async def test_publish_to_a_missing_topic_creates_nothing(names: Names) -> None:
    bus = await names.bus()
    with pytest.raises(Unroutable, match=r"unroutable: topic .* does not exist"):
        await bus.publish(BusMessage(b"{}", "nobody.listens"), exchange=names.exchange)
    assert names.topic("nobody.listens") not in await bus.topics()


async def test_a_result_without_its_topic_is_dead_lettered_as_result_unroutable(
    names: Names,
) -> None:
    """As on every bus: said by name (the topic), not as a generic retry failure."""
    setup = await names.bus()
    await setup.create([names.topic(SUBMITTED)], partitions=1)  # no result topic
    worker = worker_for(await names.bus(), names, max_attempts=2)
    await one_event_through(worker, setup, names, lambda: worker.stats.dead_lettered == 1)
    (letter,) = await KafkaDeadLetterQueue(setup, names.queue("dlq")).list()
    assert letter.reason_code == "result_unroutable"
    assert names.topic(COMPLETED) in letter.reason
    assert worker.stats.results == 0


async def test_missing_result_topics_are_named_at_start_up_and_created_when_allowed(
    names: Names, caplog: pytest.LogCaptureFixture
) -> None:
    """The worker's start-up names the result topics that do not exist (not one dead letter
    per result later); with ``create_topics`` it creates them, and results flow."""
    destinations = demo_pipelines().result_destinations(names.exchange)
    topics = [names.topic(key) for _, key in destinations]
    plain = await names.bus()
    with caplog.at_level(logging.WARNING, logger="outrigger.run"):
        assert await prepare_results(plain, destinations) == topics
    assert all(f"results go to {t} on kafka, which does not exist" in caplog.text for t in topics)
    assert not set(topics) & set(await plain.topics())  # creates nothing

    creating = await names.bus(create_topics=True)
    await creating.create([names.topic(SUBMITTED)], partitions=1)
    assert await prepare_results(creating, destinations) == []
    assert set(topics) <= set(await creating.topics())
    assert await prepare_results(plain, destinations) == []  # they exist now
    worker = worker_for(creating, names)
    await one_event_through(worker, creating, names, lambda: worker.stats.results == 1)
    assert worker.stats.dead_lettered == 0


async def test_a_bus_without_destinations_to_prepare_is_left_alone() -> None:
    assert await prepare_results(MemoryBus(), [("domain.events", "ai.done")]) == []


async def test_unreachable_broker_is_transient() -> None:
    bus = KafkaBus(settings_for_tests("127.0.0.1:1", publish_timeout_s=1.0))
    with pytest.raises(TransientError, match=r"cannot connect to Kafka at 127\.0\.0\.1:1"):
        await bus.start()
