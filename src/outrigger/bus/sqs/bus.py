"""Amazon SQS (standard or FIFO queues) through boto3.

Addressing (docs/brokers.md): SQS has queues only. A ``Subscription`` is an SQS queue named
after ``Subscription.queue`` (``codec.queue_name``), and its topic bindings are tags on that
queue (``routes.py``); ``publish(exchange, routing_key)`` sends a copy to every queue whose
bindings match, confirmed by SQS (``SendMessageBatch``: concurrent publishes share calls),
and raises ``Unroutable`` when none matches. ``exchange=""`` sends straight to the queue
named by the routing key, as on AMQP's default exchange.

Consuming: long polls of up to 10 messages (``consumer.py``), attempts from
``ApproximateReceiveCount``, visibility extended while a message is worked on, acks as
batched deletes (``settle.py``). FIFO queues take the message group from the configured
header or the routing key, and deduplicate by message id.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import defaultdict
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any

from outrigger.batching import MicroBatcher
from outrigger.bus.base import REPLAYED_FROM_HEADER, BusMessage, Delivery, Subscription
from outrigger.bus.sqs.client import QueueMissing, SqsClient
from outrigger.bus.sqs.codec import dedup_id, group_id, queue_name, to_sqs
from outrigger.bus.sqs.consumer import Consumer
from outrigger.bus.sqs.routes import EXPIRES, Routes, binding_tags
from outrigger.bus.sqs.settings import SqsSettings
from outrigger.bus.sqs.settle import BATCH, Settler
from outrigger.errors import TransientError, Unroutable

log = logging.getLogger(__name__)

RETENTION_S = 14 * 24 * 3600  # SQS's longest: events wait out a long outage
MAX_BATCH_BYTES = 256 * 1024  # SQS's limit on one SendMessageBatch call
VISIBLE, IN_FLIGHT = "ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"

#: (queue URL, message, FIFO group override)
Send = tuple[str, BusMessage, str | None]


class SqsBus:
    kind = "sqs"

    def __init__(self, settings: SqsSettings, *, clock: Callable[[], float] = time.time) -> None:
        self.settings = settings
        self.clock = clock
        self.client = SqsClient(settings)
        self.settler = Settler(self.client, settings.visibility_timeout_s)
        self.routes = Routes(
            self.client, prefix=settings.queue_prefix, ttl_s=settings.routes_ttl_s, clock=clock
        )
        self._sends: MicroBatcher[Send, Exception | None] = MicroBatcher(
            self._send_batch, max_size=100
        )
        self._temporary: set[str] = set()  # URLs of the follower queues this process keeps
        self._consumers: set[Consumer] = set()
        self._keeper: asyncio.Task[None] | None = None

    def name(self, queue: str) -> str:
        """SQS's name for the Outrigger queue ``queue``."""
        s = self.settings
        return queue_name(queue, prefix=s.queue_prefix, fifo=s.fifo)

    @property
    def _temporary_ttl_s(self) -> int:
        return max(60, 3 * self.settings.visibility_timeout_s)

    # -- life cycle ----------------------------------------------------------------------

    async def start(self) -> None:
        await self.client.start()
        self._keeper = asyncio.create_task(self._keep(), name="sqs-bus-keeper")

    async def close(self) -> None:
        for consumer in self._consumers:
            consumer.stop.set()
        if self._keeper is not None:
            self._keeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._keeper
            self._keeper = None
        with contextlib.suppress(TransientError):  # like a broker: unacked messages go back
            await self.settler.give_back(list(self.settler.held))
        for url in list(self._temporary):
            await self._drop_temporary(url)
        await self.client.close()

    async def _keep(self) -> None:
        """Push the visibility of held messages, and the expiry of our followers' queues,
        forward every third of the visibility timeout."""
        while True:
            await asyncio.sleep(max(1.0, self.settings.visibility_timeout_s / 3))
            try:
                await self.settler.extend_held()
                until = str(int(self.clock() + self._temporary_ttl_s))
                for url in list(self._temporary):
                    await self.client.call("tag_queue", QueueUrl=url, Tags={EXPIRES: until})
            except TransientError as exc:
                log.warning("SQS keeper: %s", exc)

    # -- declarations --------------------------------------------------------------------

    async def declare(self, subscription: Subscription) -> None:
        s = self.settings
        attributes = {
            "VisibilityTimeout": str(s.visibility_timeout_s),
            "MessageRetentionPeriod": str(RETENTION_S),
            "ReceiveMessageWaitTimeSeconds": str(s.wait_time_s),
        }
        if s.fifo:
            attributes["FifoQueue"] = "true"
        tags: dict[str, str] = {}
        if subscription.exchange:
            tags.update(binding_tags(subscription.exchange, subscription.bindings))
        if subscription.temporary:
            tags[EXPIRES] = str(int(self.clock() + self._temporary_ttl_s))
        url = await self.client.create(self.name(subscription.queue), attributes, tags)
        if subscription.temporary:
            self._temporary.add(url)
        if subscription.exchange:
            self.routes.bound(url, subscription.exchange, subscription.bindings)

    async def _drop_temporary(self, url: str) -> None:
        self._temporary.discard(url)
        self.client.forget_url(url)
        self.routes.gone(url)
        self.settler.held = {r for r in self.settler.held if r.url != url}
        try:
            await self.client.call("delete_queue", QueueUrl=url)
        except TransientError as exc:  # it expires, and another process reaps it
            log.warning("could not delete the temporary queue %s: %s", url, exc)

    # -- publishing ----------------------------------------------------------------------

    async def publish(self, message: BusMessage, *, exchange: str) -> None:
        if not exchange:
            await self.send(message.routing_key, message)
            return
        urls = await self.routes.targets(exchange, message.routing_key)
        if not urls:
            raise Unroutable(exchange, message.routing_key)
        errors = await asyncio.gather(*(self._sends.submit((u, message, None)) for u in urls))
        missing = [u for u, e in zip(urls, errors, strict=True) if isinstance(e, QueueMissing)]
        for url in missing:
            self.routes.gone(url)  # deleted since the bindings were read
        if len(missing) == len(urls):
            raise Unroutable(exchange, message.routing_key)
        if failed := [e for e in errors if e is not None and not isinstance(e, QueueMissing)]:
            raise failed[0]

    async def send(self, queue: str, message: BusMessage, *, group: str | None = None) -> None:
        """Straight to the Outrigger queue ``queue``; ``group`` overrides the FIFO group."""
        try:
            url = await self.client.url(self.name(queue))
        except QueueMissing:
            raise Unroutable("", queue) from None
        if (error := await self._sends.submit((url, message, group))) is not None:
            if isinstance(error, QueueMissing):
                self.client.forget(self.name(queue))
                raise Unroutable("", queue)
            raise error

    def _entry(self, index: int, message: BusMessage, group: str | None) -> dict[str, Any]:
        body, attributes = to_sqs(message)
        entry: dict[str, Any] = {"Id": str(index), "MessageBody": body}
        if attributes:
            entry["MessageAttributes"] = attributes
        if self.settings.fifo:
            entry["MessageGroupId"] = group or group_id(message, self.settings.group_header)
            # A replay is a new message: its dedup id must differ from the original's.
            replayed = message.headers.get(REPLAYED_FROM_HEADER, "")
            entry["MessageDeduplicationId"] = dedup_id(message, replayed)
        return entry

    async def _send_batch(self, items: Sequence[Send]) -> list[Exception | None]:
        """One ``SendMessageBatch`` per queue and 10 entries, in parallel; on FIFO queues a
        queue's calls go one after the other, so it gets the messages in submission order."""
        errors: list[Exception | None] = [None] * len(items)
        by_url: dict[str, list[list[tuple[int, dict[str, Any]]]]] = defaultdict(list)
        for url, chunk in _chunks(self, items):
            by_url[url].append(chunk)

        async def send_all(url: str, chunks: list[list[tuple[int, dict[str, Any]]]]) -> None:
            if not self.settings.fifo:
                await asyncio.gather(*(self._send_chunk(url, c, errors) for c in chunks))
                return
            for chunk in chunks:
                await self._send_chunk(url, chunk, errors)

        await asyncio.gather(*(send_all(url, chunks) for url, chunks in by_url.items()))
        return errors

    async def _send_chunk(
        self, url: str, chunk: list[tuple[int, dict[str, Any]]], errors: list[Exception | None]
    ) -> None:
        try:
            result = await self.client.call(
                "send_message_batch", QueueUrl=url, Entries=[e for _, e in chunk]
            )
        except TransientError as exc:
            for i, _ in chunk:
                errors[i] = exc
            return
        confirmed = {str(ok["Id"]) for ok in result.get("Successful", [])}
        reasons = {
            str(f["Id"]): f"{f.get('Code')}: {f.get('Message')}" for f in result.get("Failed", [])
        }
        for i, _ in chunk:
            if str(i) not in confirmed:
                why = reasons.get(str(i), "not confirmed")
                errors[i] = TransientError(f"SQS did not accept the message: {why}")

    # -- consuming -----------------------------------------------------------------------

    async def consume(
        self, subscription: Subscription, *, prefetch: int
    ) -> AsyncIterator[Delivery]:
        await self.declare(subscription)
        url = await self.client.url(self.name(subscription.queue))
        consumer = Consumer(
            self.client, self.settler, url, prefetch=prefetch, wait_s=self.settings.wait_time_s
        )
        self._consumers.add(consumer)
        try:
            async with contextlib.aclosing(consumer.deliveries()) as deliveries:
                async for delivery in deliveries:
                    yield delivery
        finally:
            self._consumers.discard(consumer)
            if subscription.temporary:
                await self._drop_temporary(url)

    async def depth(self, queue: str) -> int:
        """Visible messages (``ApproximateNumberOfMessages``); 0 when the queue is absent."""
        return (await self.counts(queue))[0]

    async def counts(self, queue: str) -> tuple[int, int]:
        """(visible, in flight) messages of ``queue``; (0, 0) when it does not exist."""
        try:
            url = await self.client.url(self.name(queue))
            got = await self.client.call(
                "get_queue_attributes",
                QueueUrl=url,
                AttributeNames=[VISIBLE, IN_FLIGHT],
            )
        except QueueMissing:
            self.client.forget(self.name(queue))
            return 0, 0
        attrs = got.get("Attributes", {})
        return (
            int(attrs.get(VISIBLE, 0)),
            int(attrs.get(IN_FLIGHT, 0)),
        )


def _chunks(
    bus: SqsBus, items: Sequence[Send]
) -> list[tuple[str, list[tuple[int, dict[str, Any]]]]]:
    """Send entries grouped by queue, at most 10 and 256 KiB per call."""
    by_url: dict[str, list[tuple[int, dict[str, Any]]]] = defaultdict(list)
    for i, (url, message, group) in enumerate(items):
        by_url[url].append((i, bus._entry(i, message, group)))
    out: list[tuple[str, list[tuple[int, dict[str, Any]]]]] = []
    for url, entries in by_url.items():
        chunk: list[tuple[int, dict[str, Any]]] = []
        size = 0
        for i, entry in entries:
            n = _size(entry)
            if chunk and (len(chunk) == BATCH or size + n > MAX_BATCH_BYTES):
                out.append((url, chunk))
                chunk, size = [], 0
            chunk.append((i, entry))
            size += n
        out.append((url, chunk))
    return out


def _size(entry: dict[str, Any]) -> int:
    attrs = entry.get("MessageAttributes", {})
    return len(entry["MessageBody"].encode()) + sum(
        len(k) + len(v["DataType"]) + len(v["StringValue"].encode()) for k, v in attrs.items()
    )
