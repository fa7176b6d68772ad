"""Kafka offset commits: a commit abandoned by its caller must not land after a newer one.

The broker keeps whichever commit arrives last. confluent-kafka's ``AIOConsumer`` runs a
commit in a worker thread, so cancelling the awaiting task does not stop it: before the fix,
the periodic commit cancelled at close could reach the broker after the final commit and move
a settled record's position back (it was read again after a restart; seen in CI).
"""

from __future__ import annotations

import asyncio
import threading

from confluent_kafka import TopicPartition

from outrigger.bus.base import BusMessage, Subscription
from outrigger.bus.kafka.consumer import GroupConsumer
from outrigger.bus.kafka.leases import NoAttemptsLog
from outrigger.bus.kafka.window import PartitionWindow
from tests.kafka_broker import settings_for_tests


class ThreadedCommits:
    """Commits run in a thread, as in ``AIOConsumer``; the first one waits for ``release``."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.landed: list[int] = []
        self._calls = 0

    async def commit(self, offsets: list[TopicPartition], asynchronous: bool) -> None:
        self._calls += 1
        first = self._calls == 1
        await asyncio.to_thread(self._send, [tp.offset for tp in offsets], first)

    def _send(self, positions: list[int], first: bool) -> None:
        if first:
            self.release.wait(timeout=10)
        self.landed.extend(positions)


async def test_a_cancelled_commit_lands_before_the_next_one() -> None:
    consumer = GroupConsumer(
        settings_for_tests(), Subscription("q", "e"), "q", NoAttemptsLog(), prefetch=1
    )
    fake = ThreadedCommits()
    consumer._consumer = fake
    window = PartitionWindow()
    window.add(0, None, BusMessage(b"", "k"))
    window.lease()
    entry = window.take()
    consumer._windows[("t", 0)] = window

    stale = asyncio.create_task(consumer._commit())  # position 0: the record is out
    await asyncio.sleep(0.05)  # its commit is in the broker's hands (blocked in the thread)
    stale.cancel()
    window.settle(entry, done=True)  # now position 1
    final = asyncio.create_task(consumer._commit())
    await asyncio.sleep(0.05)  # without the fix, the newer commit lands here, first
    fake.release.set()
    await asyncio.gather(stale, final, return_exceptions=True)

    assert fake.landed == [0, 1], "the broker would keep the older position"
    assert window.committed == 1
