"""Thin asyncio seams over confluent-kafka (librdkafka), the client chosen by measurement
(docs/brokers.md): a producer whose sends are awaitable, admin calls as coroutines, and a
one-shot reader of a whole topic (the dead-letter topic, the attempts log).

librdkafka does its network work in its own threads; here a producer's delivery reports are
served by one small thread per producer that resolves asyncio futures on the loop, and blocking
calls (metadata, reading a topic) run in worker threads.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any, TypeVar

from confluent_kafka import (
    OFFSET_BEGINNING,
    Consumer,
    KafkaError,
    Message,
    Producer,
    TopicPartition,
)
from confluent_kafka.admin import AdminClient

from outrigger.bus.kafka.records import RawHeaders, Record
from outrigger.errors import TransientError

log = logging.getLogger(__name__)
T = TypeVar("T")


class AsyncProducer:
    """An idempotent, acks=all producer; ``send`` returns once the broker acknowledged."""

    def __init__(
        self, config: dict[str, Any], timeout_s: float, overrides: dict[str, Any] | None = None
    ) -> None:
        self._timeout_s = timeout_s
        self._producer = Producer(
            {
                **config,
                "acks": "all",
                "enable.idempotence": True,
                "delivery.timeout.ms": int(timeout_s * 1000),
                "linger.ms": 2,
                **(overrides or {}),
            }
        )
        self._stop = threading.Event()
        self._closed = False
        self._thread = threading.Thread(
            target=self._serve, name="outrigger-kafka-acks", daemon=True
        )
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            self._producer.poll(0.05)  # runs the delivery callbacks

    async def send(self, topic: str, record: Record) -> Message:
        if self._closed:
            raise TransientError("the Kafka producer is closed")
        loop = asyncio.get_running_loop()
        done: asyncio.Future[Message] = loop.create_future()

        def on_delivery(err: KafkaError | None, msg: Message) -> None:
            loop.call_soon_threadsafe(_resolve, done, err, msg)

        deadline = time.monotonic() + self._timeout_s
        while True:
            try:
                self._producer.produce(
                    topic, record.value, record.key, headers=record.headers, on_delivery=on_delivery
                )
                break
            except BufferError:  # the local queue is full: wait for acknowledgements
                if time.monotonic() > deadline:
                    raise TransientError(
                        f"the Kafka producer queue stayed full for {topic}"
                    ) from None
                await asyncio.sleep(0.01)
        async with asyncio.timeout(self._timeout_s + 5):  # librdkafka times out first
            return await done

    async def close(self) -> None:
        """Deliver what is queued (up to the publish timeout), stop the acknowledgement thread,
        then destroy the librdkafka handle: a handle left to the garbage collector lives on
        after the bus closed, reconnecting to a broker that may be gone (CHANGELOG)."""
        if self._closed:
            return
        self._closed = True  # sends run on the loop thread: none starts after this
        try:
            left = await asyncio.to_thread(self._producer.flush, self._timeout_s)
            if left:  # undeliverable in time: fail their sends now, not in close's own flush
                self._producer.purge(blocking=False)
        finally:
            self._stop.set()
            await asyncio.to_thread(self._thread.join, 5)
            if not self._thread.is_alive():  # else the thread still polls: leave it the handle
                await asyncio.to_thread(self._producer.close)


def _resolve(done: asyncio.Future[Message], err: KafkaError | None, msg: Message) -> None:
    if done.done():
        return
    if err is not None:
        done.set_exception(KafkaFailure(err))
    else:
        done.set_result(msg)


class KafkaFailure(Exception):
    """A librdkafka error, with its code."""

    def __init__(self, error: KafkaError) -> None:
        super().__init__(error.str())
        self.error = error

    @property
    def code(self) -> int:
        return int(self.error.code())


async def admin_call(call: Callable[[], dict[Any, Future[Any]]]) -> dict[Any, Any]:
    """Run an AdminClient request that returns futures; wait for all of them."""
    futures = await asyncio.to_thread(call)
    results: dict[Any, Any] = {}
    for name, future in futures.items():
        results[name] = await asyncio.wrap_future(future)
    return results


async def in_thread(call: Callable[[], T]) -> T:
    return await asyncio.to_thread(call)


def new_admin(config: dict[str, Any]) -> AdminClient:
    return AdminClient(config)


@dataclass(frozen=True, slots=True)
class Stored:
    """One record read back from a topic."""

    partition: int
    offset: int
    timestamp_ms: int
    key: bytes | None
    value: bytes | None
    headers: RawHeaders


def read_topic(
    config: dict[str, Any], topic: str, *, idle_s: float = 0.3, limit_s: float = 30.0
) -> list[Stored]:
    """Every record of ``topic`` from the beginning, with a throwaway reader that joins no
    group and commits nothing (blocking: run it in a thread).

    Reads up to each partition's high watermark, then until a poll of ``idle_s`` brings
    nothing (some brokers under-report the watermark after a multi-record batch)."""
    reader = Consumer(
        {
            **config,
            "group.id": f"outrigger-reader-{uuid.uuid4().hex}",
            "enable.auto.commit": False,
            "enable.auto.offset.store": False,
        }
    )
    try:
        return _read_all(reader, topic, idle_s, limit_s)
    finally:
        reader.close()


def _read_all(reader: Consumer, topic: str, idle_s: float, limit_s: float) -> list[Stored]:
    found = reader.list_topics(topic, timeout=limit_s).topics.get(topic)
    if found is None or found.error is not None:
        return []
    partitions = sorted(found.partitions)
    ends = {
        p: reader.get_watermark_offsets(TopicPartition(topic, p), timeout=limit_s)[1]
        for p in partitions
    }
    reader.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in partitions])
    out: list[Stored] = []
    reached = {p for p, end in ends.items() if end <= 0}
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        batch = reader.consume(500, idle_s)
        for m in batch:
            if m.error() is not None:
                continue
            partition, offset = m.partition() or 0, m.offset() or 0
            key, value = m.key(), m.value()
            out.append(
                Stored(
                    partition,
                    offset,
                    m.timestamp()[1],
                    key if isinstance(key, bytes) else None,
                    value if isinstance(value, bytes) else None,
                    m.headers() or [],
                )
            )
            if offset + 1 >= ends.get(partition, 0):
                reached.add(partition)
        if not batch and len(reached) == len(partitions):
            break
    return out
