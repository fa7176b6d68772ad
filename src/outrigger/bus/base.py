"""The event-bus Protocols: what a broker adapter must provide.

Every adapter (in-memory, embedded SQLite queue, RabbitMQ, Kafka, NATS JetStream, Redis
Streams, Amazon SQS; one sub-package each, registered in ``bus/kinds.py``) implements
``EventBus`` and ``DeadLetterQueue``; the shared contract suite in ``tests/contract/bus/``
runs against each of them.

The model is AMQP's, because it is the most general of the brokers we target: messages are
published to an *exchange* with a *routing key*; a *subscription* is a durable queue bound to
the exchange by topic patterns (``loans.*``, ``loans.#``); consumers take deliveries from a
queue, and nothing leaves the queue before the consumer acknowledges it.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Protocol, runtime_checkable

#: Header that keeps the original routing key when a message is sent straight to a queue
#: (dead-letter replay), so that pipeline matching still sees the domain's routing key.
ROUTING_KEY_HEADER = "x-outrigger-routing-key"
#: Header set on a message re-queued from the dead-letter queue: the dead letter's id.
REPLAYED_FROM_HEADER = "x-outrigger-replayed-from"
#: Header that carries the key a consumed message was partitioned by (a Kafka record key),
#: so a replay, a re-publish or the message's result lands in the same partition.
PARTITION_KEY_HEADER = "x-outrigger-partition-key"


@dataclass(frozen=True, slots=True)
class BusMessage:
    """One message as it travels on a bus: opaque bytes plus string headers."""

    body: bytes
    routing_key: str
    headers: Mapping[str, str] = field(default_factory=dict)
    message_id: str | None = None
    content_type: str | None = None

    @property
    def domain_routing_key(self) -> str:
        """The routing key the domain published with, even after a replay."""
        return self.headers.get(ROUTING_KEY_HEADER, self.routing_key)


@dataclass(frozen=True, slots=True)
class Subscription:
    """A durable queue bound to an exchange by topic patterns."""

    queue: str
    exchange: str
    bindings: tuple[str, ...] = ("#",)
    #: A follower's own queue (``outrigger events tail``): it gets a copy of what its
    #: bindings match and never takes a message from another consumer. It is removed when
    #: its consumer stops, and by the broker if the process dies (RabbitMQ: an exclusive,
    #: auto-delete queue; SQLite: once its heartbeat lapses).
    temporary: bool = False


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """A message that could not be handled, with the reason, kept for inspection and replay."""

    message: BusMessage
    reason_code: str
    reason: str
    attempts: int
    source_queue: str
    pipeline: str | None = None
    id: str = field(default_factory=lambda: uuid.uuid4().hex)
    failed_at: datetime = field(default_factory=lambda: datetime.now(UTC))


class Delivery(Protocol):
    """A message handed to a consumer; it stays on the broker until ``ack``."""

    @property
    def message(self) -> BusMessage: ...

    @property
    def attempt(self) -> int:
        """1 on first delivery. Brokers that only flag redelivery report 2 for any redelivery."""
        ...

    async def ack(self) -> None:
        """Remove the message for good. Call only once it has been safely handled."""
        ...

    async def nack(self, *, requeue: bool = True) -> None:
        """Give the message back to the queue (or drop it with ``requeue=False``)."""
        ...

    @property
    def settled(self) -> bool:
        """True once ``ack`` or ``nack`` was called."""
        ...


@runtime_checkable
class EventBus(Protocol):
    """Publish and consume with at-least-once delivery."""

    kind: str

    async def start(self) -> None:
        """Connect. Raises ``TransientError`` when the broker cannot be reached."""
        ...

    async def close(self) -> None:
        """Disconnect; unacknowledged deliveries return to their queues."""
        ...

    async def declare(self, subscription: Subscription) -> None:
        """Create the durable queue and its bindings if they do not exist (idempotent)."""
        ...

    async def publish(self, message: BusMessage, *, exchange: str) -> None:
        """Publish and return only once the broker has the message durably (confirmed).

        Raises ``TransientError`` when it was not confirmed, and when no queue is bound to
        ``exchange`` for the routing key (an unroutable message is an error, never a silent
        drop). ``exchange=""`` sends straight to the queue named by the routing key.
        """
        ...

    def consume(self, subscription: Subscription, *, prefetch: int) -> AsyncIterator[Delivery]:
        """Deliveries from the subscription's queue, at most ``prefetch`` unacknowledged.

        The subscription is declared first. Leaving the iteration stops consuming; deliveries
        already handed out may still be acked or nacked until ``close``.
        """
        ...

    async def depth(self, queue: str) -> int:
        """Messages waiting in ``queue`` (ready, not counting those delivered and unacked)."""
        ...


@runtime_checkable
class PreparesDestinations(Protocol):
    """A bus on which publishing needs its destination to exist beforehand (a Kafka topic),
    whether or not anyone consumes it; the worker asks at start-up about the destinations
    its pipelines publish results to, instead of finding out per result."""

    async def prepare_destinations(self, destinations: Sequence[tuple[str, str]]) -> list[str]:
        """Of ``(exchange, routing_key)`` pairs, the destinations (by the broker's name) that
        do not exist; creates them instead when the bus is configured to."""
        ...


@runtime_checkable
class DeadLetterQueue(Protocol):
    """Where undeliverable messages wait, with their reason, for an operator."""

    async def put(self, letter: DeadLetter) -> None:
        """Store durably; return only once stored (the caller acks the source afterwards)."""
        ...

    async def list(self, limit: int = 100) -> list[DeadLetter]:
        """The oldest ``limit`` dead letters, without removing them."""
        ...

    async def count(self) -> int: ...

    async def replay(self, target: Subscription, ids: Sequence[str] | None = None) -> int:
        """Send dead letters (all, or those with ``ids``) back to ``target``'s queue.

        The original bytes, headers and routing key are kept (the routing key travels in the
        ``x-outrigger-routing-key`` header); a replayed letter leaves the dead-letter queue.
        Returns how many were replayed.
        """
        ...


def replay_message(letter: DeadLetter, queue: str) -> BusMessage:
    """The message a replay sends straight to ``queue``: original bytes and headers, with the
    domain routing key and the dead letter's id in headers."""
    original = letter.message
    headers = dict(original.headers)
    headers[ROUTING_KEY_HEADER] = original.domain_routing_key
    headers[REPLAYED_FROM_HEADER] = letter.id
    return replace(original, routing_key=queue, headers=headers)
