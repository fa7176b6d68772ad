"""One ``consume`` call: a plain channel of its own, consumed again on a new one when lost.

The channel is a plain aio-pika ``Channel`` over the bus's robust connection, never restored
behind our back. When the connection drops, the broker closes the channel, or it cancels the
consumer (its queue deleted), the queue iterator ends; the subscription's queue, exchange
and bindings are declared again on a new channel (the queue may be gone: a temporary one
went with the connection, a deleted one must come back), and consuming goes on. The
deliveries handed out on the lost channel settle as no-ops; the broker gives them back.
aio-pika's own restoration of a consumer on a robust channel was seen, under load, to leave
deliveries held by the restored consumer and never handed out until the process stopped.

Declarations are sent on the consumer's channel itself, not through FastStream's declarer:
that one caches what it declared once and would send nothing for a deleted queue.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncGenerator, AsyncIterator
from typing import TYPE_CHECKING

import aiormq
from aio_pika.abc import AbstractChannel, AbstractIncomingMessage, AbstractQueue
from aio_pika.channel import Channel as PlainChannel

from outrigger.bus.base import Delivery, Subscription
from outrigger.bus.delivery import CallbackDelivery, Settle
from outrigger.bus.rabbitmq.messages import delivery_attempt, to_bus_message
from outrigger.errors import TransientError

if TYPE_CHECKING:
    from outrigger.bus.rabbitmq.bus import RabbitBus

log = logging.getLogger(__name__)
#: Pauses between attempts to consume again after the consumer's channel was lost.
BACKOFF_S = (0.5, 1.0, 2.0, 5.0)
#: Failed attempts in a row after which each further one is logged as an error (something
#: other than a broker restart: permissions, a queue declared with other arguments ...).
LOUD_AFTER = 6


class Consumer:
    """The deliveries of one subscription for as long as the caller iterates."""

    def __init__(self, bus: RabbitBus, subscription: Subscription, prefetch: int) -> None:
        self.bus = bus
        self.subscription = subscription
        self.prefetch = prefetch

    async def deliveries(self) -> AsyncIterator[Delivery]:
        """Deliveries until the caller stops or the bus is closed."""
        await self.bus.declare(self.subscription)
        channel, queue = await self._open()
        failures = 0
        while True:
            async with contextlib.aclosing(self._consume_on(channel, queue)) as one:
                async for delivery in one:
                    failures = 0
                    yield delivery
            if not self.bus.running:
                return
            log.warning("the consumer of %s lost its channel; consuming again", queue.name)
            reopened = await self._reopen(failures)
            if reopened is None:
                return
            (channel, queue), failures = reopened, failures + 1

    async def _reopen(self, failures: int) -> tuple[AbstractChannel, AbstractQueue] | None:
        """A new channel and the subscription declared on it; retried with a growing pause
        while the broker is away. None once the bus is closed."""
        while True:
            await asyncio.sleep(BACKOFF_S[min(failures, len(BACKOFF_S) - 1)])
            if not self.bus.running:
                return None
            try:
                return await self._open()
            except TransientError as exc:
                failures += 1
                level = logging.ERROR if failures >= LOUD_AFTER else logging.WARNING
                log.log(level, "cannot consume %s again yet (attempt %d): %s",
                        self.subscription.queue, failures, exc)  # fmt: skip

    async def _open(self) -> tuple[AbstractChannel, AbstractQueue]:
        """A plain channel with ``basic.qos(prefetch)`` once the connection is up, and the
        subscription's queue declared (with its exchange and bindings) on it."""
        await self.bus.connected()
        channel = PlainChannel(self.bus.connection())
        try:
            await channel.initialize()
            await channel.set_qos(prefetch_count=self.prefetch)
            queue = await self._declare_on(channel)
        except BaseException as exc:
            with contextlib.suppress(Exception):
                await channel.close()
            if isinstance(exc, Exception) and not isinstance(exc, TransientError):
                raise TransientError(
                    f"cannot consume {self.subscription.queue}: {self.bus.describe(exc)}"
                ) from exc
            raise
        return channel, queue

    async def _declare_on(self, channel: AbstractChannel) -> AbstractQueue:
        sub = self.subscription
        spec = self.bus.queue(sub.queue, temporary=sub.temporary)
        queue = await channel.declare_queue(
            spec.name,
            durable=spec.durable,
            exclusive=spec.exclusive,
            auto_delete=spec.auto_delete,
            arguments=spec.arguments,
        )
        if sub.exchange:
            exchange = await channel.declare_exchange(
                sub.exchange,
                self.bus.exchange_type.value,
                durable=True,
                passive=not self.bus.declare_exchanges,  # must exist: 404 otherwise
            )
            for pattern in sub.bindings:
                await queue.bind(exchange, routing_key=pattern)
        return queue

    async def _consume_on(
        self, channel: AbstractChannel, queue: AbstractQueue
    ) -> AsyncGenerator[Delivery, None]:
        """The deliveries of one channel, until it closes or the caller stops."""
        state = ConsumerState(channel, self.bus.publish_timeout_s)
        try:
            underlay = await channel.get_underlay_channel()
            # The broker cancelled the consumer (its queue deleted): closing the channel ends
            # the iteration, and the queue is declared again on a new one.
            underlay.on_consumer_cancel_callbacks.add(lambda _frame: state.close_later())
            async with queue.iterator() as stream:
                async for raw in stream:
                    state.outstanding += 1
                    yield CallbackDelivery(
                        to_bus_message(raw), delivery_attempt(raw), state.settler(raw)
                    )
        except (aiormq.exceptions.AMQPError, ConnectionError, RuntimeError) as exc:
            if not channel.is_closed:
                raise
            log.warning("the consumer of %s stopped: %s", queue.name, self.bus.describe(exc))
        finally:
            state.stopped = True
            await state.close_if_idle()


class ConsumerState:
    """A consumer's channel stays open while handed-out deliveries are unsettled.

    Settling and closing are bounded by ``timeout_s``: aiormq waits without a limit to queue
    a frame on a connection that died under it (seen after broker restarts: handlers stuck
    in an ack for good). A settle that times out takes the channel as lost and closes it, so
    the broker gives its unacknowledged messages back instead of holding them."""

    def __init__(self, channel: AbstractChannel, timeout_s: float) -> None:
        self.channel = channel
        self.timeout_s = timeout_s
        self.outstanding = 0
        self.stopped = False
        self._closing: set[asyncio.Future[None]] = set()

    async def close_if_idle(self) -> None:
        if self.stopped and self.outstanding == 0 and not self.channel.is_closed:
            await self.close()

    async def close(self) -> None:
        with contextlib.suppress(Exception):  # a timeout included: the channel is gone
            async with asyncio.timeout(self.timeout_s):
                await self.channel.close()

    def close_later(self) -> None:
        """Close from a task: callers run in the channel's reader (which must read the
        close-ok) or must not wait (a handler settling its delivery)."""
        closing = asyncio.ensure_future(self.close())
        self._closing.add(closing)
        closing.add_done_callback(self._closing.discard)

    def settler(self, raw: AbstractIncomingMessage) -> Settle:
        async def settle(ack: bool, requeue: bool) -> None:
            try:
                if self.channel.is_closed:
                    return  # closed: the broker gives the message back, it is redelivered
                async with asyncio.timeout(self.timeout_s):
                    if ack:
                        await raw.ack()
                    else:
                        await raw.nack(requeue=requeue)
            except TimeoutError:
                log.warning(
                    "a settle took over %.0f s; its channel is taken as lost and closed "
                    "(the broker gives the message back)",
                    self.timeout_s,
                )
                self.close_later()
            except (RuntimeError, aiormq.exceptions.AMQPError, ConnectionError) as exc:
                # The channel went away (close, reconnect): its deliveries are requeued by
                # the broker, so a late settle is a no-op, as on the other buses.
                log.debug("settle after the channel closed ignored: %r", exc)
            finally:
                self.outstanding -= 1
                await self.close_if_idle()

        return settle
