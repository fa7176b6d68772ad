"""One subscription's consumer: a consumer-group member that hands out deliveries one by one.

- A poll task keeps the member alive (librdkafka needs ``consume`` calls within
  ``max.poll.interval.ms``) and buffers records per partition in a ``PartitionWindow``;
  partitions whose buffer is full are paused rather than left unpolled.
- ``deliveries`` hands out records with at most ``prefetch`` unsettled, per-key ordered,
  after the attempts log covers them (``leases``).
- Offsets are committed manually by the poll task between two ``consume`` calls, every
  ``commit_interval_s``, and only up to each partition's oldest unsettled record
  (``PartitionWindow.position``). Never beside a ``consume``: confluent-kafka holds a
  per-consumer gate through ``consume`` and its rebalance callbacks, so a commit from
  another task would wait on it while ``on_revoke`` waited for that commit (a hang).
  Commits run one at a time and are never abandoned half-way: a cancelled commit still
  reaches the broker, so one started earlier could land after a later one and move the
  position back (a settled record read again after a restart).
- On a revoke (rebalance or close) the partition stops handing out, in-flight deliveries get
  ``revoke_timeout_s`` to settle (not at close: they go back), then its position is committed
  and its lease written; late settlements of a revoked partition are no-ops, and whoever gets
  the partition re-reads what was not committed.
- ``nack(requeue=True)`` keeps the record and hands it out again (a seek without the round
  trip); its attempt grows and is logged first.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncGenerator
from typing import Any

from confluent_kafka import KafkaError, Message, TopicPartition
from confluent_kafka.aio import AIOConsumer

from outrigger.bus.base import Delivery, Subscription
from outrigger.bus.delivery import CallbackDelivery, Settle
from outrigger.bus.kafka.leases import AttemptsLog, Partition
from outrigger.bus.kafka.naming import routing_key_of, subscription_topics
from outrigger.bus.kafka.records import from_record
from outrigger.bus.kafka.settings import KafkaSettings
from outrigger.bus.kafka.window import Entry, PartitionWindow
from outrigger.errors import TransientError

log = logging.getLogger(__name__)
#: How long close waits for the poll task's current consume or commit before cancelling it.
STOP_WAIT_S = 10.0


class GroupConsumer:
    def __init__(
        self,
        settings: KafkaSettings,
        subscription: Subscription,
        group: str,
        attempts: AttemptsLog,
        prefetch: int,
    ) -> None:
        self._settings = settings
        self._sub = subscription
        self._group = group
        self._log = attempts
        self._credit = asyncio.Semaphore(prefetch)
        self._buffer = max(prefetch, settings.max_poll_records)
        self._windows: dict[Partition, PartitionWindow] = {}
        self._changed = asyncio.Event()  # records arrived, or a settlement freed a key
        self._settled = asyncio.Event()  # for revokes waiting on in-flight work
        self._paused: set[Partition] = set()
        self._consumer: Any = None
        self._tasks: list[asyncio.Task[None]] = []
        self._failure: BaseException | None = None
        self._stopping = False  # no more polling (closing)
        self._iterating = True  # a ``deliveries`` generator is running
        self._closed = asyncio.Event()
        self._commit_lock = asyncio.Lock()
        self._closing: asyncio.Future[None] | None = None

    # -- lifecycle --------------------------------------------------------------------------

    async def start(self) -> None:
        s = self._settings
        config = {
            **s.client_config(),
            "group.id": self._group,
            "enable.auto.commit": False,
            "enable.auto.offset.store": False,
            "auto.offset.reset": "earliest",
            "session.timeout.ms": s.session_timeout_ms,
            "heartbeat.interval.ms": s.heartbeat_interval_ms,
            "max.poll.interval.ms": s.max_poll_interval_ms,
            "topic.metadata.refresh.interval.ms": s.metadata_refresh_ms,
        }
        self._consumer = AIOConsumer(config, max_workers=2)
        names, regex = subscription_topics(self._sub)
        try:
            await self._consumer.subscribe(
                [*names, *([regex] if regex else [])],
                on_assign=self._on_assign,
                on_revoke=self._on_revoke,
                on_lost=self._on_lost,
            )
        except BaseException:
            self._closing = asyncio.ensure_future(self._close())
            await asyncio.shield(self._closing)
            raise
        self._tasks = [asyncio.create_task(self._poll(), name=f"kafka-poll-{self._group}")]

    async def close(self) -> None:
        """Commit what is settled and leave the group; unsettled records are re-read by the
        partition's next owner. Every caller returns once the member has left."""
        if self._closing is None:
            self._closed.set()
            self._closing = asyncio.ensure_future(self._close())
        await asyncio.shield(self._closing)

    async def _close(self) -> None:
        self._stopping = True  # the poll task ends after its consume (0.1 s) or commit
        if self._tasks:
            _, late = await asyncio.wait(self._tasks, timeout=STOP_WAIT_S)
            for task in late:  # a broker that does not answer: its next owner re-reads
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._commit_quietly("at close")  # failed: the next owner re-reads
        try:
            # Runs _on_revoke (which does not wait when closing), destroys the librdkafka
            # handle and shuts the AIOConsumer's own thread pool down.
            await self._consumer.close()
        except Exception as exc:
            log.debug("closing the Kafka consumer of %s: %r", self._group, exc)
        self._windows.clear()
        self._changed.set()

    @property
    def assigned(self) -> list[Partition]:
        """The partitions this member owns now."""
        return sorted(self._windows)

    # -- handing out ------------------------------------------------------------------------

    async def deliveries(self) -> AsyncGenerator[Delivery]:
        try:
            while True:
                await self._credit.acquire()
                try:
                    found = await self._next()
                except BaseException:
                    self._credit.release()
                    raise
                if found is None:  # the bus was closed: the iteration ends, as on the others
                    self._credit.release()
                    return
                partition, window, entry = found
                message = entry.message
                yield CallbackDelivery(
                    message, entry.delivered, self._settler(partition, window, entry), self._credit
                )
        finally:
            self._iterating = False
            self._close_if_idle()

    async def _next(self) -> tuple[Partition, PartitionWindow, Entry] | None:
        while True:
            if self._failure is not None:
                raise TransientError(f"Kafka consumer {self._group} failed: {self._failure}")
            if self._closed.is_set():
                return None
            found = next(((p, w) for p, w in self._windows.items() if w.has_eligible()), None)
            if found is None:
                self._changed.clear()
                await self._changed.wait()
                continue
            partition, window = found
            if window.needs_lease():
                await self._log.write(partition, window.lease())
                continue  # the partition may have been revoked meanwhile: look again
            # Round robin: the partition goes to the back of the line.
            self._windows[partition] = self._windows.pop(partition)
            return partition, window, window.take()

    def _settler(self, partition: Partition, window: PartitionWindow, entry: Entry) -> Settle:
        async def settle(ack: bool, requeue: bool) -> None:
            if self._windows.get(partition) is window:  # not once revoked and committed
                window.settle(entry, done=ack or not requeue)
                self._changed.set()
            self._settled.set()
            self._close_if_idle()

        return settle

    def _close_if_idle(self) -> None:
        """Once the iteration ended and nothing handed out is unsettled, leave the group."""
        if self._iterating or self._closed.is_set():
            return
        if all(w.outstanding() == 0 for w in self._windows.values()):
            task = asyncio.get_running_loop().create_task(self.close())
            task.add_done_callback(lambda t: t.exception() if not t.cancelled() else None)

    # -- polling ----------------------------------------------------------------------------

    async def _poll(self) -> None:
        clock = asyncio.get_running_loop().time
        due = clock() + self._settings.commit_interval_s
        try:
            while not self._stopping:
                await self._flow_control()
                room = self._buffer - sum(w.waiting() for w in self._windows.values())
                batch = await self._consumer.consume(
                    max(1, min(room, self._settings.max_poll_records)), 0.1
                )
                if self._accept(batch):
                    self._changed.set()
                if clock() >= due and not self._stopping:  # close commits last itself
                    due = clock() + self._settings.commit_interval_s
                    await self._commit_quietly()
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.error("Kafka consumer %s stopped: %r", self._group, exc)
            self._failure = exc
            self._changed.set()

    def _accept(self, batch: list[Message]) -> bool:
        added = False
        for m in batch:
            error = m.error()
            if error is not None:
                self._on_error(error)
                continue
            topic, partition, offset = m.topic() or "", m.partition() or 0, m.offset() or 0
            window = self._windows.get((topic, partition))
            if window is None or window.revoked:
                continue  # fetched just before a revoke: its next owner reads it again
            key = m.key()
            message = from_record(
                m.value(), key if isinstance(key, bytes) else None, m.headers(),
                routing_key_of(topic, self._sub),
            )  # fmt: skip
            window.add(offset, key if isinstance(key, bytes) else None, message)
            added = True
        return added

    def _on_error(self, error: KafkaError) -> None:
        if error.fatal():
            raise TransientError(f"fatal Kafka error: {error.str()}")
        # Subscribed topics that do not exist yet, broker restarts: librdkafka retries.
        log.debug("Kafka consumer %s: %s", self._group, error.str())

    async def _flow_control(self) -> None:
        """Pause partitions whose window is full (or all, when the buffer is), resume others."""
        full = sum(w.waiting() for w in self._windows.values()) >= self._buffer
        limit = self._settings.max_window
        want = {p for p, w in self._windows.items() if full or w.size() >= limit}
        pause, resume = want - self._paused, (self._paused - want) & set(self._windows)
        if pause:
            await self._consumer.pause([TopicPartition(*p) for p in pause])
        if resume:
            await self._consumer.resume([TopicPartition(*p) for p in resume])
        self._paused = want

    # -- committing -------------------------------------------------------------------------

    async def _commit_quietly(self, when: str = "", only: set[Partition] | None = None) -> None:
        """``_commit``, a failure only logged: a rebalance in progress or a broker restart is
        retried by the next commit, or the partition's next owner re-reads."""
        try:
            await self._commit(only)
        except Exception as exc:
            log.warning("Kafka commit %sfor %s failed: %r", when and f"{when} ", self._group, exc)

    async def _commit(self, only: set[Partition] | None = None) -> None:
        """Write the leases and commit the positions of ``only`` (default: every partition).

        One commit at a time, and a cancelled caller leaves it running to the end: the
        broker keeps whichever commit arrives last, so two in flight could move a position
        back."""
        work = asyncio.ensure_future(self._commit_alone(only))
        try:
            await asyncio.shield(work)
        except asyncio.CancelledError:
            await asyncio.wait({work})
            if not work.cancelled() and work.exception() is not None:
                log.warning("Kafka commit for %s failed: %r", self._group, work.exception())
            raise

    async def _commit_alone(self, only: set[Partition] | None) -> None:
        async with self._commit_lock:
            await self._commit_now(only)

    async def _commit_now(self, only: set[Partition] | None) -> None:
        offsets: list[TopicPartition] = []
        for partition, window in list(self._windows.items()):
            if only is not None and partition not in only:
                continue
            position = window.position()
            if position is None:
                continue
            lease = window.snapshot()
            if lease.done != window.leased_done:
                await self._log.write(partition, lease)
                window.leased_done = lease.done
            if position != window.committed:
                offsets.append(TopicPartition(partition[0], partition[1], position))
        if offsets:
            await self._consumer.commit(offsets=offsets, asynchronous=False)
            for tp in offsets:
                if (found := self._windows.get((tp.topic, tp.partition))) is not None:
                    found.committed = tp.offset

    # -- rebalances (called by librdkafka from within ``consume``) ----------------------------

    async def _on_assign(self, consumer: Any, partitions: list[TopicPartition]) -> None:
        wanted = [(tp.topic, tp.partition) for tp in partitions]
        leases = await self._log.read(wanted)
        for partition in wanted:
            self._windows[partition] = PartitionWindow(leases.get(partition))
        self._paused -= set(wanted)
        log.info("Kafka group %s: assigned %d partitions", self._group, len(wanted))

    async def _on_revoke(self, consumer: Any, partitions: list[TopicPartition]) -> None:
        gone = {(tp.topic, tp.partition) for tp in partitions}
        for partition in gone:
            if partition in self._windows:
                self._windows[partition].revoked = True
        if not self._stopping:
            await self._await_in_flight(gone)
        await self._commit_quietly("on revoke", only=gone)
        for partition in gone:
            self._windows.pop(partition, None)
            self._paused.discard(partition)
        log.info("Kafka group %s: revoked %d partitions", self._group, len(gone))

    async def _await_in_flight(self, gone: set[Partition]) -> None:
        def busy() -> bool:
            return any(self._windows[p].outstanding() for p in gone if p in self._windows)

        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(self._settings.revoke_timeout_s):
                while busy():
                    self._settled.clear()
                    await self._settled.wait()

    async def _on_lost(self, consumer: Any, partitions: list[TopicPartition]) -> None:
        for tp in partitions:  # another member owns them now: commit nothing
            window = self._windows.pop((tp.topic, tp.partition), None)
            if window is not None:
                window.revoked = True
        log.warning("Kafka group %s: lost %d partitions", self._group, len(partitions))
