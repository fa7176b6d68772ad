"""NATS JetStream through nats-py (the ``nats`` extra): durable pull consumers, publishes
confirmed by a PubAck, acks only after that, redelivery counted by the server.

Addressing (``naming.py``): exchange ``E`` + routing key ``K`` is subject ``E.K`` in the
stream capturing ``E.>`` (created when ``create_streams`` is on); a queue is a durable pull
consumer named after it; a temporary subscription is an ephemeral consumer (deliver
policy *new*, removed by the server ``temporary_inactive_s`` after its last pull, and by us
when its consumer stops).

Unroutable: a subject no stream captures gets no PubAck but ``NoRespondersError``; a subject
the stream captures but no consumer's bindings match would be stored for nobody (and, with
interest retention, dropped), so ``publish`` first checks the stream's consumers (their
descriptions carry their bindings; cached for ``ROUTES_TTL_S`` when they match) and raises
``Unroutable`` before sending.

Attempts are the server's ``num_delivered``. Consumers have no ``MaxDeliver`` (unlimited):
the worker sees every delivery and dead-letters at its own ``max_deliveries``, so a message
is never dropped silently by the server when a limit is reached.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import nats
from nats.aio.client import Client
from nats.errors import Error as NatsError
from nats.errors import NoRespondersError
from nats.js.api import (
    AckPolicy,
    ConsumerConfig,
    DeliverPolicy,
    RetentionPolicy,
    StorageType,
)
from nats.js.client import JetStreamContext
from nats.js.errors import NotFoundError
from yarl import URL

from outrigger.bus.base import BusMessage, Delivery, Subscription
from outrigger.bus.nats.consumer import PullLoop
from outrigger.bus.nats.naming import (
    DIRECT_PREFIX,
    NamingError,
    QueueSpec,
    direct_subject,
    entity_name,
    routing_key_of,
    subject_for,
    subject_matches,
)
from outrigger.bus.nats.settings import NatsSettings
from outrigger.bus.nats.wire import from_headers, to_headers
from outrigger.errors import TransientError, Unroutable

log = logging.getLogger(__name__)
ROUTES_TTL_S = 5.0


def safe_url(url: str) -> str:
    parsed = URL(url)
    return str(parsed.with_password("***")) if parsed.password else str(parsed)


@dataclass
class _Routes:
    filters: tuple[str, ...] = ()
    at: float = field(default_factory=time.monotonic)


def _filters(config: ConsumerConfig) -> list[str]:
    """A consumer's filter subjects, whichever field holds them (none: everything)."""
    return list(config.filter_subjects or [config.filter_subject or ">"])


class NatsBus:
    kind = "nats"

    def __init__(self, url: str, settings: NatsSettings | None = None) -> None:
        self._url = url
        self.settings = settings or NatsSettings()
        self._nc: Client | None = None
        self._streams: dict[str, str] = {}  # exchange -> the stream capturing it
        self._routes: dict[str, _Routes] = {}  # stream -> filters of its consumers
        self._temporary: dict[str, tuple[str, str]] = {}  # queue -> (stream, consumer)
        self._loops: set[PullLoop] = set()

    # -- connection ---------------------------------------------------------------------

    @property
    def nc(self) -> Client:
        if self._nc is None or self._nc.is_closed:
            raise TransientError("the NATS bus is not started")
        return self._nc

    @property
    def js(self) -> JetStreamContext:
        return self.nc.jetstream(timeout=self.settings.publish_timeout_s)

    async def start(self) -> None:
        async def quiet(exc: Exception) -> None:  # the client reconnects by itself
            log.warning("NATS connection: %s", type(exc).__name__)

        try:
            async with asyncio.timeout(self.settings.publish_timeout_s):
                self._nc = await nats.connect(
                    self._url,
                    max_reconnect_attempts=-1,  # keep trying: events wait in the broker
                    reconnect_time_wait=0.5,
                    connect_timeout=2,
                    error_cb=quiet,
                )
        except (TimeoutError, OSError, NatsError) as exc:
            raise TransientError(
                f"cannot connect to NATS at {safe_url(self._url)}: {type(exc).__name__}"
            ) from None

    async def close(self) -> None:
        nc, self._nc = self._nc, None
        if nc is not None and not nc.is_closed:
            for loop in self._loops:
                await loop.stop()
            with contextlib.suppress(NatsError, TimeoutError):
                await nc.flush(timeout=2)  # the server has dropped our pull requests
            for loop in self._loops:
                await loop.give_back()  # unacked deliveries return now, not after ack_wait
            with contextlib.suppress(NatsError, TimeoutError):
                await nc.flush(timeout=2)
            await nc.close()
        self._loops.clear()
        self._streams.clear()
        self._routes.clear()

    # -- streams and consumers ----------------------------------------------------------

    async def stream_for(self, exchange: str, *, create: bool | None = None) -> str:
        """The stream capturing ``<exchange>.>``, created when allowed."""
        if exchange in self._streams:
            return self._streams[exchange]
        jsm = self.js
        try:
            name = await jsm.find_stream_name_by_subject(f"{exchange}.>")
        except NotFoundError:
            if not (self.settings.create_streams if create is None else create):
                raise TransientError(
                    f"no JetStream stream captures {exchange}.> and create_streams is off"
                ) from None
            name = entity_name(exchange)
            await self.ensure_stream(name, f"{exchange}.>", self._retention())
        self._streams[exchange] = name
        return name

    def _retention(self) -> RetentionPolicy:
        return RetentionPolicy(self.settings.retention)

    async def ensure_stream(self, name: str, subject: str, retention: RetentionPolicy) -> None:
        try:
            await self.js.stream_info(name)
        except NotFoundError:
            await self.js.add_stream(
                name=name, subjects=[subject], retention=retention, storage=StorageType.FILE
            )

    async def direct_stream(self) -> str:
        name = self.settings.direct_stream
        if "" not in self._streams:
            await self.ensure_stream(name, f"{DIRECT_PREFIX}.>", RetentionPolicy.INTEREST)
            self._streams[""] = name
        return name

    def _several_filters(self) -> bool:
        """NATS 2.10 gave a consumer several filter subjects."""
        version = self.nc.connected_server_version
        return (version.major, version.minor) >= (2, 10)

    def _config(self, spec: QueueSpec, filters: list[str]) -> ConsumerConfig:
        return ConsumerConfig(
            description=spec.describe(),
            filter_subject=filters[0] if len(filters) == 1 else None,
            filter_subjects=filters if len(filters) > 1 else None,
            deliver_policy=DeliverPolicy.NEW,  # a new queue gets what is published from now
            ack_policy=AckPolicy.EXPLICIT,
            ack_wait=self.settings.ack_wait_s,
            max_deliver=-1,  # the worker dead-letters at max_deliveries (see module doc)
            max_ack_pending=self.settings.max_ack_pending,
        )

    async def _durable(self, stream: str, spec: QueueSpec, filters: list[str]) -> None:
        name = entity_name(spec.queue)
        config = self._config(spec, filters)
        config.durable_name = name
        try:
            info = await self.js.consumer_info(stream, name)
        except NotFoundError:
            # What is published from now on, as a start *sequence*: with deliver policy
            # "new", NATS 2.9 moves a consumer to the stream's end when its filter changes
            # (skipping what waits); with a start sequence it keeps its place.
            last = (await self.js.stream_info(stream)).state.last_seq
            config.deliver_policy = DeliverPolicy.BY_START_SEQUENCE
            config.opt_start_seq = last + 1
            await self.js.add_consumer(stream, config)
            self._routes.pop(stream, None)
            return
        config.deliver_policy = info.config.deliver_policy
        config.opt_start_seq = info.config.opt_start_seq
        existing = QueueSpec.parse(info.config.description)
        if existing is not None and existing.queue != spec.queue:
            raise TransientError(
                f"queues {existing.queue!r} and {spec.queue!r} both map to consumer {name!r}"
                f" on stream {stream}: rename one"
            )
        if existing == spec and _filters(info.config) == filters:
            return
        try:  # bindings changed: update the consumer in place
            await self.js.add_consumer(stream, config)
        except NatsError as exc:
            raise TransientError(
                f"consumer {name!r} on stream {stream} exists with filters "
                f"{_filters(info.config)}, not {filters}; delete it "
                f"(nats consumer rm {stream} {name}) to rebind: {exc!r}"
            ) from exc
        self._routes.pop(stream, None)

    async def declare(self, subscription: Subscription) -> None:
        try:
            spec = QueueSpec.of(subscription)
            direct_subject(subscription.queue)
        except NamingError as exc:
            raise TransientError(str(exc)) from exc
        try:
            stream = await self.stream_for(subscription.exchange)
            if subscription.temporary:
                await self._ephemeral(stream, spec)
                return
            await self._durable(stream, spec, spec.filter_subjects(several=self._several_filters()))
            direct = await self.direct_stream()
            await self._durable(direct, spec, [direct_subject(subscription.queue)])
        except NatsError as exc:
            raise TransientError(
                f"cannot declare {subscription.queue} on {subscription.exchange}: {exc!r}"
            ) from exc

    async def _ephemeral(self, stream: str, spec: QueueSpec) -> None:
        if spec.queue in self._temporary:
            return
        config = self._config(spec, spec.filter_subjects(several=self._several_filters()))
        config.inactive_threshold = self.settings.temporary_inactive_s
        info = await self.js.add_consumer(stream, config)
        self._temporary[spec.queue] = (stream, info.name)
        self._routes.pop(stream, None)

    # -- publishing ---------------------------------------------------------------------

    async def publish(self, message: BusMessage, *, exchange: str) -> None:
        """Publish and wait for the stream's PubAck (the confirm)."""
        direct = not exchange
        try:
            if direct:
                subject = direct_subject(message.routing_key)
                routable = await self._consumer_exists(await self.direct_stream(), message)
            else:
                subject = subject_for(exchange, message.routing_key)
                routable = await self._routable(exchange, subject)
        except NamingError as exc:
            raise TransientError(str(exc)) from exc
        except NatsError as exc:
            raise TransientError(f"cannot route {exchange}/{message.routing_key}: {exc!r}") from exc
        if not routable:
            raise Unroutable(exchange, message.routing_key)
        headers = to_headers(message)
        try:
            await self.js.publish(subject, message.body, headers=headers or None)
        except NoRespondersError as exc:  # no stream captures the subject
            raise Unroutable(exchange, message.routing_key) from exc
        except (NatsError, TimeoutError) as exc:
            raise TransientError(f"publish to {subject} not confirmed: {exc!r}") from exc

    async def _routable(self, exchange: str, subject: str) -> bool:
        try:
            stream = await self.stream_for(exchange, create=False)
        except TransientError:
            return False  # no stream: nobody can be bound
        cached = self._routes.get(stream)
        fresh = cached is not None and time.monotonic() - cached.at < ROUTES_TTL_S
        if fresh and any(subject_matches(f, subject) for f in cached.filters):  # type: ignore[union-attr]
            return True
        filters: list[str] = []
        for info in await self.js.consumers_info(stream):
            spec = QueueSpec.parse(info.config.description)
            filters.extend(spec.filters if spec else _filters(info.config))
        self._routes[stream] = _Routes(tuple(filters))
        return any(subject_matches(f, subject) for f in filters)

    async def _consumer_exists(self, stream: str, message: BusMessage) -> bool:
        try:
            await self.js.consumer_info(stream, entity_name(message.routing_key))
        except NotFoundError:
            return False
        return True

    # -- consuming ----------------------------------------------------------------------

    async def consume(
        self, subscription: Subscription, *, prefetch: int
    ) -> AsyncIterator[Delivery]:
        await self.declare(subscription)
        spec = QueueSpec.of(subscription)
        stream = await self.stream_for(subscription.exchange)
        js = self.js
        if subscription.temporary:
            main = await js.pull_subscribe_bind(self._temporary[spec.queue][1], stream)
            direct = None
        else:
            main = await js.pull_subscribe_bind(entity_name(spec.queue), stream)
            direct = await js.pull_subscribe_bind(
                entity_name(spec.queue), await self.direct_stream()
            )
        loop = PullLoop(
            main, direct, prefetch, nak_delay_s=self.settings.nak_delay_s, closed=self._closed
        )
        self._loops.add(loop)
        keep_alive = asyncio.create_task(loop.keep_alive(self.settings.ack_wait_s / 3))
        try:
            while batch := await loop.fetch():
                for raw in batch:
                    if raw.subject.startswith(f"{DIRECT_PREFIX}."):
                        key = spec.queue  # like a default-exchange delivery on RabbitMQ
                    elif spec.wants(raw.subject):
                        key = routing_key_of(raw.subject, spec.exchange)
                    else:
                        await loop.skip(raw)
                        continue
                    yield loop.delivery(raw, from_headers(raw.data, key, raw.headers))
        finally:
            keep_alive.cancel()
            await loop.stop()
            await self._forget(subscription)
            if not loop.outstanding:
                self._loops.discard(loop)

    def _closed(self) -> bool:
        return self._nc is None or self._nc.is_closed

    async def _forget(self, subscription: Subscription) -> None:
        """A temporary subscription is removed when its consumer stops."""
        if subscription.temporary and subscription.queue in self._temporary:
            stream, name = self._temporary.pop(subscription.queue)
            self._routes.pop(stream, None)
            with contextlib.suppress(NatsError, TransientError, TimeoutError):
                await self.js.delete_consumer(stream, name)

    async def depth(self, queue: str) -> int:
        """Messages not yet delivered to ``queue``'s consumers (``num_pending``)."""
        try:
            if queue in self._temporary:
                stream, name = self._temporary[queue]
                return (await self.js.consumer_info(stream, name)).num_pending or 0
            direct = await self.js.consumer_info(await self.direct_stream(), entity_name(queue))
            spec = QueueSpec.parse(direct.config.description)
            if spec is None:
                return direct.num_pending or 0
            stream = await self.stream_for(spec.exchange, create=False)
            main = await self.js.consumer_info(stream, entity_name(queue))
        except NotFoundError:
            return 0
        except NatsError as exc:
            raise TransientError(f"cannot read the depth of {queue}: {exc!r}") from exc
        return (main.num_pending or 0) + (direct.num_pending or 0)
