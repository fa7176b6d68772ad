"""Kafka through confluent-kafka (librdkafka): idempotent acks=all publishing, consumer groups
with manual commits, per-key ordering, attempts kept in a log (docs/brokers.md, "Kafka").

Addressing (``naming``): exchange ``E`` + routing key ``K`` is topic ``E.K``; ``exchange=""``
is the topic named by the routing key (a queue's own topic); a subscription's queue is its
consumer group (``group_prefix + queue``), which reads the topics its bindings match plus the
queue's own topic.

Unroutable: publishing to a topic that does not exist is refused (``Unroutable``, which the
worker dead-letters as ``result_unroutable`` once its attempts are spent) — the producer
never auto-creates topics, and the topic is looked up in the cluster's metadata before the
first publish to it.
"""

from __future__ import annotations

import logging
import re
from collections.abc import AsyncIterator, Sequence
from contextlib import aclosing
from typing import Any

from confluent_kafka import ConsumerGroupTopicPartitions, KafkaError, TopicPartition
from confluent_kafka.admin import AdminClient
from confluent_kafka.admin._listoffsets import OffsetSpec
from confluent_kafka.cimpl import NewTopic

from outrigger.bus.base import BusMessage, Delivery, Subscription
from outrigger.bus.kafka.client import (
    AsyncProducer,
    KafkaFailure,
    admin_call,
    in_thread,
    read_topic,
)
from outrigger.bus.kafka.consumer import GroupConsumer
from outrigger.bus.kafka.leases import AttemptsLog, NoAttemptsLog
from outrigger.bus.kafka.naming import check_topic, subscription_topics, topic_for
from outrigger.bus.kafka.records import to_record
from outrigger.bus.kafka.settings import KafkaSettings
from outrigger.errors import ConfigError, TransientError, Unroutable

log = logging.getLogger(__name__)

_ABSENT = (KafkaError.UNKNOWN_TOPIC_OR_PART, KafkaError._UNKNOWN_TOPIC)
_LATEST: OffsetSpec = OffsetSpec.latest()  # type: ignore[no-untyped-call]
_EARLIEST: OffsetSpec = OffsetSpec.earliest()  # type: ignore[no-untyped-call]


class KafkaBus:
    kind = "kafka"

    def __init__(self, settings: KafkaSettings) -> None:
        self.settings = settings
        self._producer: AsyncProducer | None = None
        self._admin: AdminClient | None = None
        self._known: set[str] = set()  # topics seen in the cluster's metadata
        self._consumers: list[GroupConsumer] = []
        self._declared: dict[str, Subscription] = {}  # queue -> subscription, for depth
        self._followers: set[str] = set()  # groups of temporary subscriptions, deleted at close

    # -- connection ---------------------------------------------------------------------

    @property
    def config(self) -> dict[str, Any]:
        return self.settings.client_config()

    @property
    def producer(self) -> AsyncProducer:
        if self._producer is None:
            raise TransientError("the Kafka bus is not started")
        return self._producer

    @property
    def admin(self) -> AdminClient:
        if self._admin is None:
            raise TransientError("the Kafka bus is not started")
        return self._admin

    async def start(self) -> None:
        admin = AdminClient(self.config)
        try:
            await in_thread(lambda: admin.list_topics(timeout=self.settings.publish_timeout_s))
        except Exception as exc:
            await in_thread(lambda: admin.__exit__(None, None, None))  # destroys the handle
            raise TransientError(
                f"cannot connect to Kafka at {self.settings.bootstrap_servers}: {exc}"
            ) from None
        self._admin = admin
        self._producer = AsyncProducer(self.config, self.settings.publish_timeout_s)

    async def close(self) -> None:
        """Release every librdkafka handle the bus made: consumers leave their groups and are
        destroyed (with their threads), the producer is flushed and destroyed, and the admin
        client's last reference goes. A handle left behind keeps its threads and reconnects
        for as long as the process runs, until the garbage collector happens to free it."""
        consumers, self._consumers = self._consumers, []
        for consumer in consumers:
            await consumer.close()
        for group in list(self._followers):
            await self._drop_follower(group)
        if self._producer is not None:
            producer, self._producer = self._producer, None
            await producer.close()
        # Not closed explicitly: an admin call still running in a worker thread (a follower
        # stopping beside close) holds a reference, and the handle goes when it returns.
        self._admin = None
        self._known.clear()

    # -- topics -------------------------------------------------------------------------

    def group(self, queue: str) -> str:
        return f"{self.settings.group_prefix}{queue}"

    def attempts_topic(self, queue: str) -> str:
        return f"{self.settings.attempts_prefix}{queue}"

    async def topics(self) -> dict[str, list[int]]:
        """Every topic of the cluster with its partitions."""
        metadata = await in_thread(lambda: self.admin.list_topics(timeout=10))
        return {
            name: sorted(t.partitions)
            for name, t in metadata.topics.items()
            if t.error is None and not name.startswith("__")
        }

    async def exists(self, topic: str) -> bool:
        if topic in self._known:
            return True
        metadata = await in_thread(lambda: self.admin.list_topics(topic, timeout=10))
        found = metadata.topics.get(topic)
        if found is None or found.error is not None or not found.partitions:
            return False
        self._known.add(topic)
        return True

    async def create(
        self, names: list[str], *, partitions: int | None = None, **config: str
    ) -> None:
        """Create the missing ones of ``names`` (existing topics are left as they are)."""
        missing = [check_topic(n) for n in dict.fromkeys(names) if not await self.exists(n)]
        if not missing:
            return
        count = partitions or self.settings.partitions
        new = [NewTopic(n, count, self.settings.replication_factor, config=config) for n in missing]
        try:
            await admin_call(lambda: self.admin.create_topics(new))
        except Exception as exc:
            code = exc.args[0].code() if exc.args and isinstance(exc.args[0], KafkaError) else None
            if code != KafkaError.TOPIC_ALREADY_EXISTS:
                raise TransientError(f"cannot create Kafka topics {missing}: {exc}") from exc
        self._known.update(missing)

    async def prepare_destinations(self, destinations: Sequence[tuple[str, str]]) -> list[str]:
        """The result topics that do not exist; with ``create_topics``, created instead.
        ``ConfigError`` for a destination that cannot be a topic name."""
        try:
            topics = list(dict.fromkeys(check_topic(topic_for(e, k)) for e, k in destinations))
        except ValueError as exc:
            raise ConfigError(f"pipelines' results: {exc}") from exc
        if self.settings.create_topics:
            await self.create(topics)
            return []
        return [t for t in topics if not await self.exists(t)]

    async def declare(self, subscription: Subscription) -> None:
        """Create the queue's own topic and attempts log; with ``create_topics``, the exact
        topics the bindings name; with ``start_at=declare``, pin a new group to the end of the
        partitions that exist now.

        A temporary subscription (a follower) creates no topic: it is its consumer group
        alone, deleted when the follower stops (``_drop_follower``); a follower killed before
        that leaves only the group's offsets, which the cluster expires."""
        names, regex = subscription_topics(subscription)
        domain = [n for n in names if n != subscription.queue]
        if subscription.temporary:
            self._followers.add(self.group(subscription.queue))
        else:
            await self.create([subscription.queue])
            await self.create([self.attempts_topic(subscription.queue)], partitions=1,
                              **{"cleanup.policy": "compact"})  # fmt: skip
        if self.settings.create_topics and not subscription.temporary:
            await self.create(domain)
        else:
            for name in domain:
                if not await self.exists(name):
                    log.warning(
                        "Kafka topic %s does not exist (yet); it is read once it does", name
                    )
        self._declared[subscription.queue] = subscription
        if self.settings.start_at == "declare":
            await self._pin_new_group(subscription, regex)

    async def _pin_new_group(self, subscription: Subscription, regex: str | None) -> None:
        names, _ = subscription_topics(subscription)
        topics = await self.topics()
        read = [t for t in topics if t in names or (regex and re.match(regex, t))]
        group = self.group(subscription.queue)
        committed = await self._committed(group)
        fresh = [TopicPartition(t, p) for t in read for p in topics[t] if (t, p) not in committed]
        if not fresh:
            return
        ends = await self._offsets(fresh, _LATEST)
        pinned = [
            TopicPartition(tp.topic, tp.partition, ends[(tp.topic, tp.partition)]) for tp in fresh
        ]
        try:
            request = [ConsumerGroupTopicPartitions(group, pinned)]
            await admin_call(lambda: self.admin.alter_consumer_group_offsets(request))
        except Exception as exc:  # the group is active: its members have positions already
            log.debug("not pinning %s (active group?): %r", group, exc)

    async def _committed(self, group: str) -> dict[tuple[str, int], int]:
        request = [ConsumerGroupTopicPartitions(group)]
        try:
            result = await admin_call(lambda: self.admin.list_consumer_group_offsets(request))
        except Exception as exc:
            raise TransientError(f"cannot read the offsets of group {group}: {exc}") from exc
        offsets: dict[tuple[str, int], int] = {}
        for answer in result.values():
            for tp in answer.topic_partitions or []:
                if tp.offset >= 0 and tp.error is None:
                    offsets[(tp.topic, tp.partition)] = tp.offset
        return offsets

    async def _offsets(
        self, tps: list[TopicPartition], spec: OffsetSpec
    ) -> dict[tuple[str, int], int]:
        request = {tp: spec for tp in tps}
        result = await admin_call(lambda: self.admin.list_offsets(request))
        return {(tp.topic, tp.partition): info.offset for tp, info in result.items()}

    # -- publishing ---------------------------------------------------------------------

    async def publish(self, message: BusMessage, *, exchange: str) -> None:
        topic = topic_for(exchange, message.routing_key)
        try:
            routable = await self.exists(topic)
        except TransientError:
            raise
        except Exception as exc:
            raise TransientError(f"cannot read Kafka metadata for {topic}: {exc}") from exc
        if not routable:
            missing = f"topic {topic} does not exist on the Kafka cluster"
            raise Unroutable(exchange, message.routing_key, missing)
        try:
            await self.producer.send(topic, to_record(message))
        except KafkaFailure as exc:
            if exc.code in _ABSENT:
                self._known.discard(topic)
                missing = f"topic {topic} is gone from the cluster"
                raise Unroutable(exchange, message.routing_key, missing) from exc
            raise TransientError(
                f"Kafka did not acknowledge the publish to {topic}: {exc}"
            ) from exc
        except TimeoutError as exc:
            raise TransientError(f"no Kafka acknowledgement for {topic} in time") from exc

    # -- consuming ----------------------------------------------------------------------

    async def consume(
        self, subscription: Subscription, *, prefetch: int
    ) -> AsyncIterator[Delivery]:
        await self.declare(subscription)
        if subscription.temporary:
            attempts: AttemptsLog = NoAttemptsLog()
        else:
            topic = self.attempts_topic(subscription.queue)
            attempts = AttemptsLog(self.producer, self.config, topic)
        group = self.group(subscription.queue)
        consumer = GroupConsumer(self.settings, subscription, group, attempts, prefetch)
        await consumer.start()  # closes what it made when it fails
        self._consumers.append(consumer)
        try:
            async with aclosing(consumer.deliveries()) as deliveries:  # ends with this generator
                async for delivery in deliveries:
                    yield delivery
        finally:
            if subscription.temporary:  # a follower's settlements matter to nobody else
                await consumer.close()
                if consumer in self._consumers:
                    self._consumers.remove(consumer)
                await self._drop_follower(group)

    async def _drop_follower(self, group: str) -> None:
        """Delete a stopped follower's consumer group (its committed offsets with it)."""
        self._followers.discard(group)
        try:
            await admin_call(lambda: self.admin.delete_consumer_groups([group]))
        except Exception as exc:  # the cluster expires an empty group's offsets anyway
            log.warning("could not delete the follower's consumer group %s: %r", group, exc)

    async def committed(self, queue: str) -> dict[tuple[str, int], int]:
        """The offsets the broker holds committed for the queue's group, per (topic,
        partition) (for status and tests)."""
        return await self._committed(self.group(queue))

    def assigned(self) -> list[tuple[str, int]]:
        """The partitions this process's consumers own now (for status and tests)."""
        return sorted(p for consumer in self._consumers for p in consumer.assigned)

    async def depth(self, queue: str) -> int:
        """The group's lag: for each partition it reads, end offset minus committed offset
        (a partition without a commit counts from its first retained record)."""
        group = self.group(queue)
        committed = await self._committed(group)
        partitions = set(committed)
        subscription = self._declared.get(queue)
        if subscription is not None:
            names, regex = subscription_topics(subscription)
            for topic, parts in (await self.topics()).items():
                if topic in names or (regex and re.match(regex, topic)):
                    partitions.update((topic, p) for p in parts)
        if not partitions:
            return 0
        ends = await self._offsets([TopicPartition(*p) for p in partitions], _LATEST)
        unread = [TopicPartition(*p) for p in partitions if p not in committed]
        starts = await self._offsets(unread, _EARLIEST) if unread else {}
        return sum(max(0, end - committed.get(p, starts.get(p, end))) for p, end in ends.items())

    async def read_all(self, topic: str) -> list[Any]:
        return await in_thread(lambda: read_topic(self.config, topic))
