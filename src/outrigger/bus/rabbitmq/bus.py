"""RabbitMQ through FastStream: publisher confirms, mandatory publishing, manual acks.

FastStream's ``RabbitBroker`` owns the connection (robust, reconnecting) and the declarations,
and publishes: ``broker.publish`` with ``mandatory=True`` on a default channel with publisher
confirms and ``on_return_raises``. A ``basic.return`` (no queue accepted the message) fails
the pending confirm with aiormq's ``PublishError``, a ``basic.nack`` with ``DeliveryError``,
no confirm within ``publish_timeout_s`` (or no end to the whole publish, a wait for a
reconnecting connection included, within a second more) with ``TimeoutError``; each becomes
a ``TransientError``. The message is handed to FastStream as a ready aio-pika ``Message``
(persistent), so its properties are exactly ours (no generated ``message_id``).

Consumption (``consumer.py``) uses aio-pika's queue iterator (not a FastStream subscriber)
on a plain channel of its own with ``basic.qos(prefetch)``: the worker needs a pull-style
stream for bounded concurrency, draining and micro-batching. A lost channel (connection
dropped, closed by the broker, consumer cancelled) is replaced by a new one, never restored
behind our back.

Passive checks (``depth``, exchanges when ``declare_exchanges`` is off) run on a throwaway
raw channel: a ``404`` closes only that channel, never the shared publishing channel.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
from collections.abc import AsyncIterator
from typing import cast

import aiormq
from aio_pika import DeliveryMode, Message
from aio_pika.abc import AbstractRobustChannel, AbstractRobustConnection
from aiormq.exceptions import ChannelNotFoundEntity, DeliveryError, PublishError
from faststream.rabbit import ExchangeType, QueueType, RabbitBroker, RabbitExchange, RabbitQueue
from faststream.rabbit.schemas import Channel
from yarl import URL

from outrigger.bus.base import BusMessage, Delivery, Subscription
from outrigger.bus.rabbitmq.consumer import Consumer
from outrigger.errors import TransientError, Unroutable

log = logging.getLogger(__name__)


def safe_url(url: str) -> str:
    """The URL without its password, for messages and logs."""
    parsed = URL(url)
    return str(parsed.with_password("***")) if parsed.password else str(parsed)


class RabbitBus:
    kind = "rabbitmq"

    def __init__(
        self,
        url: str,
        *,
        exchange_type: str = "topic",
        declare_exchanges: bool = True,
        queue_type: str = "classic",
        publish_timeout_s: float = 10.0,
    ) -> None:
        self._url = url
        self.exchange_type = ExchangeType(exchange_type)
        self.declare_exchanges = declare_exchanges
        self.queue_type = queue_type
        self.publish_timeout_s = publish_timeout_s
        self._broker: RabbitBroker | None = None
        self._in_flight: dict[str, asyncio.Future[None]] = {}  # message_id -> its publish
        self._checked_exchanges: set[str] = set()
        self._closed = asyncio.Event()  # set by close: consumers stop waiting to reconnect

    # -- connection ---------------------------------------------------------------------

    @property
    def broker(self) -> RabbitBroker:
        if self._broker is None:
            raise TransientError("the RabbitMQ bus is not started")
        return self._broker

    def _scrub(self, text: str) -> str:
        password = URL(self._url).password
        return text.replace(password, "***") if password else text

    def connection_name(self) -> str:
        """The name the broker shows for our connection (``rabbitmqctl list_connections
        client_properties``, the management UI): the URL's ``name`` when it sets one, else
        ``outrigger <host> pid <pid>``, so an operator can tell (and close) this process's
        connection among the others."""
        return URL(self._url).query.get("name") or (
            f"outrigger {socket.gethostname()} pid {os.getpid()}"
        )

    async def start(self) -> None:
        # aiormq sends the URL's ``name`` as the ``connection_name`` client property.
        named = URL(self._url).update_query(name=self.connection_name())
        broker = RabbitBroker(
            str(named),
            default_channel=Channel(publisher_confirms=True, on_return_raises=True),
            logger=None,
        )
        try:
            await broker.connect()
        except Exception as exc:  # any connect failure is transient to us
            with contextlib.suppress(Exception):
                await broker.stop()
            raise TransientError(
                f"cannot connect to RabbitMQ at {safe_url(self._url)}: "
                f"{self._scrub(f'{type(exc).__name__}: {exc}')}"
            ) from None
        self._broker = broker
        self._closed = asyncio.Event()  # of this start's event loop

    async def close(self) -> None:
        if self._broker is not None:
            broker, self._broker = self._broker, None
            self._closed.set()
            await broker.stop()  # closes the connection: unacked deliveries return
        self._checked_exchanges.clear()

    def connection(self) -> AbstractRobustConnection:
        connection = self.broker._connection
        if connection is None:
            raise TransientError("the RabbitMQ bus is not connected")
        return cast(AbstractRobustConnection, connection)

    async def channel(self, prefetch: int | None = None) -> AbstractRobustChannel:
        """A new robust channel of our own (for basic.get); the caller closes it."""
        try:
            channel = self.connection().channel()
            await channel.initialize()
            if prefetch:
                await channel.set_qos(prefetch_count=prefetch)
        except TransientError:
            raise
        except Exception as exc:
            raise TransientError(f"cannot open a RabbitMQ channel: {self.describe(exc)}") from exc
        return channel

    @property
    def running(self) -> bool:
        """Started and not closed."""
        return self._broker is not None

    async def connected(self) -> None:
        """Wait until the connection is up (it may be reconnecting); a ``TransientError``
        once the bus is closed, instead of waiting for ever on a closed connection."""
        connection = self.connection()
        ready = asyncio.ensure_future(connection.ready())
        closed = asyncio.ensure_future(self._closed.wait())
        try:
            await asyncio.wait({ready, closed}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            ready.cancel()
            closed.cancel()
        if self.running and ready.done() and not ready.cancelled() and not ready.exception():
            return
        raise TransientError("the RabbitMQ bus is closed")

    @contextlib.asynccontextmanager
    async def _probe(self) -> AsyncIterator[aiormq.abc.AbstractChannel]:
        """A throwaway raw channel for passive declares (a 404 closes the channel)."""
        transport = getattr(self.connection(), "transport", None)
        if transport is None:
            raise TransientError("the RabbitMQ bus is not connected (reconnecting)")
        channel = await transport.connection.channel()
        try:
            yield channel
        finally:
            if not channel.is_closed:
                with contextlib.suppress(Exception):
                    await channel.close()

    def describe(self, exc: BaseException) -> str:
        """An error for messages and logs, without the URL's password."""
        return self._scrub(f"{type(exc).__name__}: {exc}")

    # -- declarations -------------------------------------------------------------------

    def exchange(self, name: str) -> RabbitExchange:
        return RabbitExchange(
            name, type=self.exchange_type, durable=True, declare=self.declare_exchanges
        )

    def queue(self, name: str, *, temporary: bool = False) -> RabbitQueue:
        if temporary:  # a follower's: gone with its consumer, or with the connection
            return RabbitQueue(name, durable=False, exclusive=True, auto_delete=True)
        if self.queue_type == "quorum":
            return RabbitQueue(name, QueueType.QUORUM, durable=True)
        return RabbitQueue(name, durable=True)

    async def _check_exchange(self, name: str) -> None:
        """With ``declare_exchanges`` off, the exchange must exist (passive declare)."""
        if self.declare_exchanges or name in self._checked_exchanges:
            return
        try:
            async with self._probe() as probe:
                await probe.exchange_declare(name, passive=True)
        except ChannelNotFoundEntity as exc:
            raise TransientError(
                f"exchange {name!r} does not exist and declare_exchanges is off"
            ) from exc
        self._checked_exchanges.add(name)

    async def declare(self, subscription: Subscription) -> None:
        try:
            if subscription.exchange:
                await self._check_exchange(subscription.exchange)
            queue = await self.broker.declare_queue(
                self.queue(subscription.queue, temporary=subscription.temporary)
            )
            if subscription.exchange:
                exchange = await self.broker.declare_exchange(self.exchange(subscription.exchange))
                for pattern in subscription.bindings:
                    await queue.bind(exchange, routing_key=pattern)
        except TransientError:
            raise
        except Exception as exc:
            raise TransientError(
                f"cannot declare {subscription.queue} on {subscription.exchange or '(default)'}:"
                f" {self.describe(exc)}"
            ) from exc

    # -- publishing ---------------------------------------------------------------------

    async def publish(self, message: BusMessage, *, exchange: str) -> None:
        """Publish persistent + mandatory and wait for the broker's confirm."""
        amqp = Message(
            message.body,
            headers=dict(message.headers),
            content_type=message.content_type,
            message_id=message.message_id,
            delivery_mode=DeliveryMode.PERSISTENT,
        )
        where = f"{exchange or '(default exchange)'}/{message.routing_key}"
        try:
            await self._publishing_channel_ready()
            async with self._take_turns(message.message_id), self._bounded():
                confirm = await self.broker.publish(
                    amqp,
                    exchange=exchange or None,
                    routing_key=message.routing_key,
                    mandatory=True,  # unroutable is an error (EventBus contract)
                    persist=True,
                    timeout=self.publish_timeout_s,
                )
        except PublishError as exc:
            raise Unroutable(exchange, message.routing_key) from exc
        except DeliveryError as exc:
            raise TransientError(f"RabbitMQ nacked the message for {where}") from exc
        except TimeoutError as exc:
            raise TransientError(
                f"no publisher confirm for {where} within {self.publish_timeout_s}s"
            ) from exc
        except TransientError:
            raise
        except Exception as exc:  # channel closed or reconnecting, connection lost, ...
            raise TransientError(f"publish to {where} failed: {self.describe(exc)}") from exc
        if not isinstance(confirm, aiormq.spec.Basic.Ack):
            raise TransientError(f"publish to {where} was not confirmed ({confirm!r})")

    def _bounded(self) -> asyncio.Timeout:
        """One publish from its send to its confirm: aio-pika's own timeout counts only the
        confirm, after waiting without a limit for a reconnecting connection."""
        return asyncio.timeout(self.publish_timeout_s + 1.0)

    @contextlib.asynccontextmanager
    async def _take_turns(self, message_id: str | None) -> AsyncIterator[None]:
        """aiormq matches a basic.return to its publish by message_id: with two publishes of
        one id in flight it fails the routed one and confirms the returned one (a silent
        loss), so publishes sharing a message_id take turns."""
        if message_id is None:  # aiormq gives it a fresh random id
            yield
            return
        while (busy := self._in_flight.get(message_id)) is not None:
            await asyncio.shield(busy)
        done = asyncio.get_running_loop().create_future()
        self._in_flight[message_id] = done
        try:
            yield
        finally:
            del self._in_flight[message_id]
            done.set_result(None)

    async def _publishing_channel_ready(self) -> None:
        """Wait (bounded) while the robust publishing channel is being reopened, e.g. after
        the broker closed it for a publish to a missing exchange or during a reconnect."""
        channel = cast(AbstractRobustChannel | None, getattr(self.broker, "_channel", None))
        if channel is None or not channel.is_closed:
            return
        try:
            async with asyncio.timeout(self.publish_timeout_s):
                while channel.is_closed:  # noqa: ASYNC110 (aio-pika has no event for it)
                    await asyncio.sleep(0.01)
                await channel.ready()
        except TimeoutError:
            raise TransientError(
                f"the RabbitMQ publishing channel did not reopen within {self.publish_timeout_s}s"
            ) from None

    # -- consuming ----------------------------------------------------------------------

    def consume(self, subscription: Subscription, *, prefetch: int) -> AsyncIterator[Delivery]:
        """Deliveries on a plain channel of their own, consumed again on a new one when the
        channel is lost (``consumer.py``)."""
        return Consumer(self, subscription, prefetch).deliveries()

    async def depth(self, queue: str) -> int:
        """Ready messages; 0 when the queue does not exist (like the other buses)."""
        try:
            async with self._probe() as probe:
                declared = await probe.queue_declare(queue, passive=True)
        except ChannelNotFoundEntity:
            return 0
        except TransientError:
            raise
        except Exception as exc:
            raise TransientError(f"cannot read the depth of {queue}: {self.describe(exc)}") from exc
        return int(declared.message_count or 0)
