"""Kafka clients compared for the Kafka bus: aiokafka (pure asyncio) vs confluent-kafka
(librdkafka), against the test broker (tansu on 127.0.0.1:9092; ``--bootstrap`` for another).

Two figures per client, 1 KB messages, a few thousand of them, each phase bounded in time:
- produce: acks=all, at most ``--window`` sends unacknowledged (the worker's prefetch), each
  awaited as the bus does;
- consume + commit: a consumer group reads the topic back, committing each batch manually.
Join time is reported apart (tansu holds a group's first join for half the session timeout).

    .venv/bin/python benchmarks/kafka_clients.py [--messages 5000] [--json]

``--json`` prints one JSON object on the last line. aiokafka's idempotent producer is tried
too: tansu refuses its InitProducerId request (v0), which the report records.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from confluent_kafka.admin import AdminClient
from confluent_kafka.aio import AIOConsumer
from confluent_kafka.cimpl import NewTopic

from outrigger.bus.kafka.client import AsyncProducer
from outrigger.bus.kafka.records import Record

SESSION = {"session_timeout_ms": 3000, "heartbeat_interval_ms": 500}


async def windowed(count: int, window: int, send: Callable[[int], Awaitable[Any]]) -> float:
    """Seconds to send ``count`` messages with at most ``window`` unacknowledged."""
    gate = asyncio.Semaphore(window)

    async def one(n: int) -> None:
        async with gate:
            await send(n)

    started = time.perf_counter()
    await asyncio.gather(*(one(n) for n in range(count)))
    return time.perf_counter() - started


async def produce_confluent(args: argparse.Namespace, topic: str, idempotent: bool) -> float:
    """The bus's own producer (acks=all); idempotence off only to compare like with like."""
    overrides = {} if idempotent else {"enable.idempotence": False}
    producer = AsyncProducer({"bootstrap.servers": args.bootstrap}, 30, overrides=overrides)
    payload = Record(b"x" * args.size, None, [])
    try:
        return await windowed(args.messages, args.window, lambda n: producer.send(topic, payload))
    finally:
        await producer.close()


async def produce_aiokafka(args: argparse.Namespace, topic: str, idempotent: bool) -> float:
    from aiokafka import AIOKafkaProducer

    producer = AIOKafkaProducer(
        bootstrap_servers=args.bootstrap, acks="all", enable_idempotence=idempotent, linger_ms=2
    )
    await producer.start()
    payload = b"x" * args.size

    async def send(n: int) -> Any:
        return await (await producer.send(topic, payload))

    try:
        return await windowed(args.messages, args.window, send)
    finally:
        await producer.stop()


async def consume_confluent(args: argparse.Namespace, topic: str) -> tuple[float, float]:
    consumer = AIOConsumer(
        {
            "bootstrap.servers": args.bootstrap,
            "group.id": f"bench-{uuid.uuid4().hex}",
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
            "session.timeout.ms": SESSION["session_timeout_ms"],
            "heartbeat.interval.ms": SESSION["heartbeat_interval_ms"],
        },
        max_workers=2,
    )
    await consumer.subscribe([topic])
    joined_at, started, seen = None, time.perf_counter(), 0
    deadline = started + args.max_seconds
    while seen < args.messages and time.perf_counter() < deadline:
        batch = [m for m in await consumer.consume(500, 0.1) if m.error() is None]
        if batch:
            joined_at = joined_at or time.perf_counter()
            seen += len(batch)
            await consumer.commit(asynchronous=False)
    done = time.perf_counter()
    await consumer.close()
    return _split(started, joined_at, done, seen, args.messages)


async def consume_aiokafka(args: argparse.Namespace, topic: str) -> tuple[float, float]:
    from aiokafka import AIOKafkaConsumer

    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=args.bootstrap,
        group_id=f"bench-{uuid.uuid4().hex}",
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        session_timeout_ms=SESSION["session_timeout_ms"],
        heartbeat_interval_ms=SESSION["heartbeat_interval_ms"],
    )
    await consumer.start()
    joined_at, started, seen = None, time.perf_counter(), 0
    deadline = started + args.max_seconds
    while seen < args.messages and time.perf_counter() < deadline:
        batches = await consumer.getmany(timeout_ms=100, max_records=500)
        count = sum(len(records) for records in batches.values())
        if count:
            joined_at = joined_at or time.perf_counter()
            seen += count
            await consumer.commit()
    done = time.perf_counter()
    await consumer.stop()
    return _split(started, joined_at, done, seen, args.messages)


def _split(
    started: float, joined_at: float | None, done: float, seen: int, wanted: int
) -> tuple[float, float]:
    if joined_at is None or seen < wanted:
        raise RuntimeError(f"consumed {seen} of {wanted} within the time bound")
    return joined_at - started, done - joined_at


def new_topic(args: argparse.Namespace) -> str:
    name = f"bench.{uuid.uuid4().hex[:10]}"
    admin = AdminClient({"bootstrap.servers": args.bootstrap})
    for future in admin.create_topics([NewTopic(name, 1, 1)]).values():
        future.result()
    return name


async def measure(args: argparse.Namespace) -> dict[str, Any]:
    report: dict[str, Any] = {"messages": args.messages, "size": args.size, "window": args.window}
    producers = {
        "confluent-kafka idempotent": lambda t: produce_confluent(args, t, True),
        "confluent-kafka": lambda t: produce_confluent(args, t, False),
        "aiokafka idempotent": lambda t: produce_aiokafka(args, t, True),
        "aiokafka": lambda t: produce_aiokafka(args, t, False),
    }
    consumers = {"confluent-kafka": consume_confluent, "aiokafka": consume_aiokafka}
    filled: dict[str, str] = {}
    for name, run in producers.items():
        topic = new_topic(args)
        try:
            seconds = await asyncio.wait_for(run(topic), args.max_seconds)
        except Exception as exc:
            report[f"produce {name}"] = {"error": f"{type(exc).__name__}: {exc}"[:200]}
            continue
        report[f"produce {name}"] = {"msgs_per_s": round(args.messages / seconds)}
        filled.setdefault(name.split()[0], topic)
    for name, consume in consumers.items():
        topic = filled.get(name) or next(iter(filled.values()))
        try:
            join, seconds = await consume(args, topic)
        except Exception as exc:
            report[f"consume+commit {name}"] = {"error": f"{type(exc).__name__}: {exc}"[:200]}
            continue
        report[f"consume+commit {name}"] = {
            "msgs_per_s": round(args.messages / seconds),
            "join_s": round(join, 2),
        }
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bootstrap", default="127.0.0.1:9092")
    parser.add_argument("--messages", type=int, default=5000)
    parser.add_argument("--size", type=int, default=1024)
    parser.add_argument("--window", type=int, default=64)
    parser.add_argument("--max-seconds", type=float, default=60.0)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    report = asyncio.run(measure(args))
    for name, figures in report.items():
        print(f"{name:34} {figures}")
    if args.json:
        print(json.dumps(report))


if __name__ == "__main__":
    main()
