"""The attempts log: Kafka has no delivery count, so the consumer keeps one.

One compacted topic per consumer group (``__outrigger-attempts.<queue>``, one partition), keyed by
``<topic>:<partition>``; each record is the partition's latest ``Lease`` as JSON:
``{"n": {"<offset>": deliveries}, "d": [[first, last], ...]}`` — deliveries of the records
handed out and not settled, and the ranges of records settled above the committed offset.

A consumer writes a lease (and waits for the broker's acknowledgement) before it hands out a
record the log does not cover yet, and again after settlements, beside its offset commits. On
an assignment it reads the log, so a record that crashed the worker N times is delivered with
``attempt`` N+1 by whichever process gets its partition next, and records settled but not yet
committed are not handed out again.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterable
from typing import Any

from outrigger.bus.kafka.client import AsyncProducer, read_topic
from outrigger.bus.kafka.records import Record
from outrigger.bus.kafka.window import Lease

Partition = tuple[str, int]


def log_key(partition: Partition) -> str:
    return f"{partition[0]}:{partition[1]}"


def encode(lease: Lease) -> bytes:
    ranges: list[list[int]] = []
    for offset in sorted(lease.done):
        if ranges and ranges[-1][1] == offset - 1:
            ranges[-1][1] = offset
        else:
            ranges.append([offset, offset])
    body = {"n": {str(o): n for o, n in sorted(lease.counts.items())}, "d": ranges}
    return json.dumps(body, separators=(",", ":")).encode()


def decode(raw: bytes | None) -> Lease:
    try:
        body = json.loads(raw or b"{}")
        counts = {int(o): int(n) for o, n in body.get("n", {}).items()}
        done = frozenset(o for a, b in body.get("d", []) for o in range(int(a), int(b) + 1))
    except (ValueError, TypeError, AttributeError):
        return Lease()  # unreadable: count from scratch rather than stall the partition
    return Lease(counts, done)


class AttemptsLog:
    def __init__(self, producer: AsyncProducer, config: dict[str, Any], topic: str) -> None:
        self._producer = producer
        self._config = config
        self.topic = topic
        self._lock = asyncio.Lock()  # writes of one consumer stay in order

    async def write(self, partition: Partition, lease: Lease) -> None:
        record = Record(encode(lease), log_key(partition).encode(), [])
        async with self._lock:
            await self._producer.send(self.topic, record)

    async def read(self, partitions: Iterable[Partition]) -> dict[Partition, Lease]:
        """The latest lease of each of ``partitions`` (absent: never leased)."""
        wanted = {log_key(p): p for p in partitions}
        if not wanted:
            return {}
        stored = await asyncio.to_thread(read_topic, self._config, self.topic)
        latest: dict[Partition, Lease] = {}
        for record in sorted(stored, key=lambda r: (r.partition, r.offset)):
            name = (record.key or b"").decode("utf-8", errors="replace")
            if name in wanted:
                latest[wanted[name]] = decode(record.value)
        return latest


class NoAttemptsLog(AttemptsLog):
    """A follower's (temporary subscription's): it keeps no attempts, so it leaves no topic."""

    def __init__(self) -> None:
        self.topic = ""

    async def write(self, partition: Partition, lease: Lease) -> None:
        return None

    async def read(self, partitions: Iterable[Partition]) -> dict[Partition, Lease]:
        return {}
