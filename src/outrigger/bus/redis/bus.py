"""Redis Streams through redis-py's asyncio client (the ``redis`` extra).

Addressing (docs/brokers.md, "Redis Streams"): an exchange is one stream, named by the
exchange; a queue is a consumer group on it, named by the queue. Each queue's topic
patterns are kept in a bindings hash that ``publish`` reads, so a message no live queue
binds is refused (``Unroutable``) instead of being appended for nobody; each group reads
the whole stream and acknowledges, unseen, the entries its bindings do not match. A core
service publishes with a plain ``XADD`` to the exchange's stream.

``publish`` returns once ``XADD`` has answered: the entry is in Redis' memory, and on disk
as far as Redis' own persistence is configured (``appendonly yes`` with ``appendfsync
always``: before the answer; ``everysec``: within a second; no persistence: lost with a
Redis restart). ``wait_replicas`` adds ``WAIT`` for replicas.

Connections come from redis-py's pool with its retry policy: a killed connection is
replaced on the next command, and a consumer whose read fails backs off and reads again
(``consumer.py``).
"""

from __future__ import annotations

import contextlib
import itertools
import json
import logging
import os
import socket
import time
import uuid
from collections.abc import AsyncIterator, Iterator

from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError, ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

from outrigger.bus.base import BusMessage, Delivery, Subscription
from outrigger.bus.redis.consumer import StreamConsumer
from outrigger.bus.redis.entries import Binding, Keys, to_fields
from outrigger.bus.redis.settings import RedisBusSettings
from outrigger.errors import TransientError, Unroutable

log = logging.getLogger(__name__)


def safe_url(url: str) -> str:
    """The URL without its password, for messages and logs."""
    scheme, sep, rest = url.partition("://")
    if "@" not in rest:
        return url
    return f"{scheme}{sep}***@{rest.rpartition('@')[2]}"


class RedisBus:
    kind = "redis"

    def __init__(self, settings: RedisBusSettings | None = None) -> None:
        self.settings = settings or RedisBusSettings()
        self.keys = Keys(self.settings.key_prefix)
        # One consumer name per process (and per consume call): visible in XINFO CONSUMERS
        # and, as the connection name, in CLIENT LIST.
        self.name = f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"
        self._serial = itertools.count(1)
        self._client: Redis | None = None
        self._consumers: set[StreamConsumer] = set()

    # -- connection ---------------------------------------------------------------------

    @property
    def client(self) -> Redis:
        if self._client is None:
            raise TransientError("the Redis bus is not started")
        return self._client

    async def start(self) -> None:
        s = self.settings
        pool = BlockingConnectionPool.from_url(
            s.resolved_url(),
            max_connections=s.max_connections,
            timeout=s.pool_timeout_s,
            socket_timeout=s.socket_timeout_s + s.block_ms / 1000,
            socket_connect_timeout=s.connect_timeout_s,
            retry=Retry(ExponentialBackoff(cap=1.0, base=0.05), 3),
            retry_on_error=[RedisConnectionError, RedisTimeoutError],
            client_name=f"outrigger-bus-{self.name}",
        )
        client = Redis.from_pool(pool)  # the client owns the pool: closed with it
        try:
            await client.ping()
        except RedisError as exc:
            await client.aclose()
            raise TransientError(
                f"cannot connect to Redis at {safe_url(s.resolved_url())}: {type(exc).__name__}"
            ) from None
        self._client = client

    async def close(self) -> None:
        for consumer in list(self._consumers):
            await consumer.shutdown()
        self._consumers.clear()
        if self._client is not None:
            client, self._client = self._client, None
            await client.aclose()

    @contextlib.contextmanager
    def _errors(self, what: str) -> Iterator[None]:
        try:
            yield
        except TransientError:
            raise
        except RedisError as exc:
            raise TransientError(f"{what} failed: {type(exc).__name__}: {exc}") from exc

    # -- declarations -------------------------------------------------------------------

    async def declare(self, subscription: Subscription) -> None:
        """The group (created at ``$``: new entries only, like a new AMQP queue), its
        bindings (added to those already declared) and, for a follower, its expiry."""
        sub, keys = subscription, self.keys
        stream = keys.stream(sub.exchange, sub.queue)
        expires = time.time() + self.settings.temporary_ttl_s if sub.temporary else None
        with self._errors(f"declaring {sub.queue} on {sub.exchange or '(no exchange)'}"):
            try:
                await self.client.xgroup_create(stream, sub.queue, id="$", mkstream=True)
            except ResponseError as exc:
                if "BUSYGROUP" not in str(exc):
                    raise TransientError(f"cannot create group {sub.queue}: {exc}") from exc
            if sub.exchange:
                key = keys.bindings(sub.exchange)
                known = Binding.load(await self.client.hget(key, sub.queue)) or Binding(())
                merged = known.merged(sub.bindings, expires)
                await self.client.hset(key, sub.queue, merged.dump())
            await self.client.hset(keys.queues, sub.queue, sub.exchange)
            if sub.temporary:
                await self.client.zadd(keys.temporary, {_member(sub): expires or 0.0})

    async def heartbeat(self, subscription: Subscription) -> None:
        """Push a follower's expiry forward (its keeper calls this while it lives)."""
        await self.declare(subscription)

    async def remove_temporary(self, exchange: str, queue: str) -> None:
        stream = self.keys.stream(exchange, queue)
        pipe = self.client.pipeline(transaction=True)
        pipe.xgroup_destroy(stream, queue)
        pipe.hdel(self.keys.bindings(exchange), queue)
        pipe.hdel(self.keys.queues, queue)
        pipe.zrem(self.keys.temporary, json.dumps([exchange, queue]))
        with contextlib.suppress(ResponseError):  # the stream is already gone
            await pipe.execute()

    async def reap_temporaries(self) -> None:
        """Remove the followers whose heartbeat lapsed (their process died)."""
        expired = await self.client.zrangebyscore(self.keys.temporary, "-inf", time.time())
        for member in expired:
            # Whoever removes the member reaps it; the others skip it.
            if not isinstance(member, bytes | str):
                continue
            if not await self.client.zrem(self.keys.temporary, member):
                continue
            exchange, queue = json.loads(member)
            log.info("removing the lapsed temporary subscription %s on %s", queue, exchange)
            await self.remove_temporary(exchange, queue)

    # -- publishing ---------------------------------------------------------------------

    async def publish(self, message: BusMessage, *, exchange: str) -> None:
        """XADD to the exchange's stream once a live binding matches the routing key; with
        ``exchange=""`` to the stream of the queue named by the routing key, for it alone."""
        key = message.routing_key
        with self._errors(f"publish to {exchange or '(default exchange)'}/{key}"):
            if exchange:
                if not await self._bound(exchange, key):
                    raise Unroutable(exchange, key)
                stream, fields = exchange, to_fields(message)
            else:
                bound = await self.client.hget(self.keys.queues, key)
                if bound is None:
                    raise Unroutable(exchange, key)
                stream = self.keys.stream(_text(bound) or "", key)
                fields = to_fields(message, key)
            if await self._append(stream, fields) is None:
                raise Unroutable(exchange, key)  # the stream was deleted under its groups

    async def _bound(self, exchange: str, routing_key: str) -> bool:
        now = time.time()
        for raw in (await self.client.hgetall(self.keys.bindings(exchange))).values():
            binding = Binding.load(raw)
            if binding is not None and binding.live(now) and binding.matches(routing_key):
                return True
        return False

    async def _append(self, stream: str, fields: dict[bytes, bytes]) -> bytes | None:
        """XADD (never creating a stream: only ``declare`` does, with its group), trimmed as
        configured, then WAIT for replicas when asked."""
        s = self.settings
        minid = None
        if s.max_age_s is not None:
            minid = f"{int((time.time() - s.max_age_s) * 1000)}-0"
        trim = {"maxlen": s.max_len, "minid": minid, "approximate": True, "nomkstream": True}
        if not s.wait_replicas:
            return _entry(await self.client.xadd(stream, fields, **trim))  # type: ignore[arg-type]
        pipe = self.client.pipeline(transaction=False)
        pipe.xadd(stream, fields, **trim)  # type: ignore[arg-type]
        pipe.wait(s.wait_replicas, s.wait_timeout_ms)
        entry, replicas = await pipe.execute()
        if entry is not None and int(replicas) < s.wait_replicas:
            raise TransientError(
                f"only {replicas} of {s.wait_replicas} replicas have the entry on {stream}"
            )
        return _entry(entry)

    # -- consuming ----------------------------------------------------------------------

    async def consume(
        self, subscription: Subscription, *, prefetch: int
    ) -> AsyncIterator[Delivery]:
        await self.declare(subscription)
        name = f"{self.name}-{next(self._serial)}"
        consumer = StreamConsumer(self, subscription, prefetch, name)
        self._consumers.add(consumer)
        deliveries = consumer.deliveries()
        try:
            async for delivery in deliveries:
                yield delivery
        finally:
            await deliveries.aclose()  # gives back what was read but not handed out
            if await consumer.stop_reading():
                self._consumers.discard(consumer)

    async def depth(self, queue: str) -> int:
        """The group's lag: entries not yet read by it (0 for an unknown queue). Entries its
        bindings do not match are counted until it reads past them."""
        with self._errors(f"reading the depth of {queue}"):
            exchange = await self.client.hget(self.keys.queues, queue)
            if exchange is None:
                return 0
            stream = self.keys.stream(_text(exchange) or "", queue)
            try:
                groups = await self.client.xinfo_groups(stream)
            except ResponseError:  # no such stream
                return 0
            for group in groups:
                if _text(group.get("name")) == queue:
                    return await self._lag(stream, group)
        return 0

    async def _lag(self, stream: str, group: dict[str, object]) -> int:
        lag = group.get("lag")
        if isinstance(lag, int):
            return lag
        # Redis cannot tell the lag after deletions in the unread range: count them.
        last = _text(group.get("last-delivered-id")) or "0-0"
        unread = await self.client.xrange(stream, min=f"({last}", max="+", count=100_000)
        return len(unread or [])


def _member(sub: Subscription) -> str:
    return json.dumps([sub.exchange, sub.queue])


def _entry(value: object) -> bytes | None:
    """XADD's answer: the new entry's id, or None when NOMKSTREAM found no stream."""
    return value if isinstance(value, bytes) else None


def _text(value: object) -> str | None:
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    return None if value is None else str(value)
