"""RabbitMQ through FastStream: publisher confirms, mandatory publishing, manual acks.

FastStream's ``RabbitBroker`` owns the connection (robust, reconnecting), the channels and
the declarations, and publishes (``broker.publish`` with ``persist=True`` and
``mandatory=True`` on a channel with publisher confirms and ``on_return_raises``: a message no
queue accepts is an error, not a silent drop). Consumption reads the queue through aio-pika's
queue iterator on a FastStream-managed channel with its own prefetch: a pull-style stream is
what the worker needs for bounded concurrency, draining and micro-batching, and the iterator
gives buffered-but-not-yet-handed-out messages back (nack with requeue) when it closes.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from typing import Any, cast

from aio_pika.abc import AbstractIncomingMessage, AbstractRobustChannel
from aio_pika.exceptions import AMQPError, DeliveryError
from faststream.rabbit import ExchangeType, QueueType, RabbitBroker, RabbitExchange, RabbitQueue
from faststream.rabbit.schemas import Channel
from yarl import URL

from outrigger.errors import TransientError
from outrigger.events.base import BusMessage, Delivery, Subscription
from outrigger.events.delivery import CallbackDelivery, Settle

_PUBLISH_ERRORS = (AMQPError, DeliveryError, ConnectionError, OSError, TimeoutError)


def safe_url(url: str) -> str:
    """The URL without its password, for messages and logs."""
    parsed = URL(url)
    return str(parsed.with_password("***")) if parsed.password else str(parsed)


def header_text(value: Any) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    return str(value)


def to_bus_message(raw: AbstractIncomingMessage) -> BusMessage:
    headers = {k: header_text(v) for k, v in (raw.headers or {}).items()}
    return BusMessage(
        bytes(raw.body), raw.routing_key or "", headers, raw.message_id, raw.content_type
    )


def delivery_attempt(raw: AbstractIncomingMessage) -> int:
    count = (raw.headers or {}).get("x-delivery-count")
    if isinstance(count, int):
        return count + 1
    return 2 if raw.redelivered else 1


class RabbitBus:
    kind = "rabbitmq"

    def __init__(
        self,
        url: str,
        *,
        exchange_type: str = "topic",
        declare_exchanges: bool = True,
        queue_type: str = "classic",
        dead_letter_queue: str = "outrigger.dlq",
        publish_timeout_s: float = 10.0,
    ) -> None:
        self._url = url
        self.exchange_type = ExchangeType(exchange_type)
        self.declare_exchanges = declare_exchanges
        self.queue_type = queue_type
        self.dead_letter_queue = dead_letter_queue
        self.publish_timeout_s = publish_timeout_s
        self._broker: RabbitBroker | None = None
        # Channel specs we opened channels for. FastStream caches channels by the spec's id(),
        # so the specs are kept alive for the bus's lifetime: an id is never reused.
        self._specs: list[Channel] = []
        self._stats: AbstractRobustChannel | None = None

    @property
    def broker(self) -> RabbitBroker:
        if self._broker is None:
            raise TransientError("the RabbitMQ bus is not started")
        return self._broker

    async def start(self) -> None:
        broker = RabbitBroker(
            self._url,
            default_channel=Channel(publisher_confirms=True, on_return_raises=True),
            logger=None,
        )
        try:
            await broker.connect()
        except Exception as exc:  # any connect failure is transient to us
            raise TransientError(
                f"cannot connect to RabbitMQ at {safe_url(self._url)}: {exc}"
            ) from exc
        self._broker = broker

    async def close(self) -> None:
        if self._broker is not None:
            broker, self._broker = self._broker, None
            await broker.stop()
        self._specs.clear()
        self._stats = None

    async def channel(self, prefetch: int | None = None) -> AbstractRobustChannel:
        """A new channel of our own (for a consumer, or for basic.get)."""
        spec = Channel(prefetch_count=prefetch)
        self._specs.append(spec)
        channel = await self.broker.config.channel_manager.get_channel(spec)
        return cast(AbstractRobustChannel, channel)

    def exchange(self, name: str) -> RabbitExchange:
        return RabbitExchange(
            name, type=self.exchange_type, durable=True, declare=self.declare_exchanges
        )

    def queue(self, name: str, declare: bool = True) -> RabbitQueue:
        if self.queue_type == "quorum":
            return RabbitQueue(name, QueueType.QUORUM, durable=True, declare=declare)
        return RabbitQueue(name, durable=True, declare=declare)

    async def declare(self, subscription: Subscription) -> None:
        try:
            queue = await self.broker.declare_queue(self.queue(subscription.queue))
            if subscription.exchange:
                exchange = await self.broker.declare_exchange(self.exchange(subscription.exchange))
                for pattern in subscription.bindings:
                    await queue.bind(exchange, routing_key=pattern)
        except AMQPError as exc:
            raise TransientError(f"cannot declare {subscription.queue}: {exc}") from exc

    async def publish(self, message: BusMessage, *, exchange: str) -> None:
        await self.publish_raw(message, exchange, dict(message.headers))

    async def publish_raw(
        self, message: BusMessage, exchange: str, headers: Mapping[str, Any]
    ) -> None:
        try:
            await self.broker.publish(
                message.body,
                exchange=exchange or None,
                routing_key=message.routing_key,
                mandatory=True,
                persist=True,
                headers=dict(headers),
                message_id=message.message_id,
                content_type=message.content_type,
                timeout=self.publish_timeout_s,
            )
        except DeliveryError as exc:
            raise TransientError(
                f"RabbitMQ did not accept the message for {exchange or '(default)'}/"
                f"{message.routing_key} (unroutable or nacked): {exc}"
            ) from exc
        except _PUBLISH_ERRORS as exc:
            raise TransientError(
                f"publish to RabbitMQ failed: {type(exc).__name__}: {exc}"
            ) from exc

    async def consume(
        self, subscription: Subscription, *, prefetch: int
    ) -> AsyncIterator[Delivery]:
        await self.declare(subscription)
        channel = await self.channel(prefetch)
        queue = await channel.get_queue(subscription.queue, ensure=True)
        async with queue.iterator() as stream:
            async for raw in stream:
                yield CallbackDelivery(to_bus_message(raw), delivery_attempt(raw), _settler(raw))

    async def depth(self, queue: str) -> int:
        if self._stats is None:
            self._stats = await self.channel()
        # robust=False: a robust channel would hand back its cached (stale) declaration.
        declared = await self._stats.declare_queue(queue, passive=True, robust=False)
        return int(declared.declaration_result.message_count or 0)


def _settler(raw: AbstractIncomingMessage) -> Settle:
    async def settle(ack: bool, requeue: bool) -> None:
        if ack:
            await raw.ack()
        else:
            await raw.nack(requeue=requeue)

    return settle
