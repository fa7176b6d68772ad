"""The embedded default bus: a durable single-file queue on SQLite.

No broker to run: the worker, ``outrigger events publish`` and the demo share one file.
Deliveries are leased for ``visibility_timeout_s``; a lease is extended while its consumer
is alive and released on ``close``. If the consumer process dies, the lease expires and the
message is delivered again, so nothing is lost; an ack checks the lease, so a message is
never acknowledged by a consumer that no longer holds it.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

from outrigger.batching import MicroBatcher
from outrigger.bus.base import BusMessage, Delivery, Subscription
from outrigger.bus.delivery import CallbackDelivery, Settle
from outrigger.bus.sqlite.store import SqliteQueueStore
from outrigger.errors import TransientError, Unroutable

T = TypeVar("T")


class SqliteBus:
    kind = "sqlite"

    def __init__(
        self,
        path: Path,
        *,
        visibility_timeout_s: float = 60.0,
        poll_interval_s: float = 0.05,
        synchronous: str = "NORMAL",
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.path = path
        self._vt = visibility_timeout_s
        self._poll = poll_interval_s
        self._synchronous = synchronous
        self.clock = clock
        self._executor: ThreadPoolExecutor | None = None
        self._store: SqliteQueueStore | None = None
        self._waiters: set[asyncio.Event] = set()  # one per idle consumer
        self._held: dict[str, set[int]] = {}  # lease -> seqs delivered and not yet settled
        self._temporary: set[str] = set()  # temporary queues this process keeps alive
        self._keeper: asyncio.Task[None] | None = None
        self._closing = False
        # Group commit: concurrent publishes (and settles) share one transaction.
        self._publishes: MicroBatcher[tuple[BusMessage, str], int] = MicroBatcher(
            self._publish_batch, max_size=256
        )
        self._settles: MicroBatcher[tuple[int, str, bool, bool], bool] = MicroBatcher(
            self._settle_batch, max_size=256
        )

    async def _publish_batch(self, items: Sequence[tuple[BusMessage, str]]) -> list[int]:
        return await self.run(self.store().publish_many, items, self.clock())

    async def _settle_batch(self, items: Sequence[tuple[int, str, bool, bool]]) -> list[bool]:
        return await self.run(self.store().settle_many, items, self.clock())

    async def start(self) -> None:
        self._closing = False
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="outrigger-sqlite-bus")
        try:
            self._store = await self.run(SqliteQueueStore, self.path, self._synchronous)
        except Exception as exc:
            raise TransientError(f"cannot open the SQLite bus at {self.path}: {exc}") from exc
        self._keeper = asyncio.create_task(self._keep_leases(), name="sqlite-bus-leases")

    async def close(self) -> None:
        self._closing = True
        self.wake()
        if self._keeper is not None:
            self._keeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._keeper
        if self._store is not None:
            held = {lease: sorted(seqs) for lease, seqs in self._held.items() if seqs}
            now = self.clock()
            for lease, seqs in held.items():  # like a broker: unacked messages go back
                await self.run(self._store.extend, seqs, lease, now)
            self._held.clear()
            await self.run(self._store.close)
            self._store = None
        if self._executor is not None:
            self._executor.shutdown(wait=True)
            self._executor = None

    async def declare(self, subscription: Subscription) -> None:
        store = self.store()
        if subscription.temporary:
            await self.run(store.hold_temporary, subscription.queue, self.clock() + self._vt)
            self._temporary.add(subscription.queue)
        else:
            await self.run(store.reap, self.clock())
        await self.run(store.bind, subscription.exchange, subscription.bindings, subscription.queue)

    async def publish(self, message: BusMessage, *, exchange: str) -> None:
        routed = await self._publishes.submit((message, exchange))
        if routed == 0:
            raise Unroutable(exchange, message.routing_key)
        self.wake()

    async def consume(
        self, subscription: Subscription, *, prefetch: int
    ) -> AsyncIterator[Delivery]:
        await self.declare(subscription)
        try:
            async with contextlib.aclosing(self._deliveries(subscription, prefetch)) as it:
                async for delivery in it:
                    yield delivery
        finally:
            if subscription.temporary and self._store is not None:
                self._temporary.discard(subscription.queue)
                await self.run(self._store.drop_queue, subscription.queue)

    async def _deliveries(
        self, subscription: Subscription, prefetch: int
    ) -> AsyncGenerator[Delivery, None]:
        lease = uuid.uuid4().hex
        held = self._held.setdefault(lease, set())
        released = asyncio.Event()
        pending: list[int] = []
        idle = 0.001
        try:
            while not self._closing:
                free = prefetch - len(held)
                if free <= 0:
                    released.clear()
                    await released.wait()
                    continue
                now = self.clock()
                rows = await self.run(
                    self.store().receive, subscription.queue, free, lease, now, now + self._vt
                )
                if not rows:
                    await self._sleep(idle)
                    idle = min(idle * 2, self._poll)
                    continue
                idle = 0.001
                held.update(seq for seq, _, _ in rows)
                pending = [seq for seq, _, _ in rows]
                for seq, message, deliveries in rows:
                    pending.remove(seq)
                    yield CallbackDelivery(message, deliveries, self._settler(seq, lease, released))
        finally:
            if pending and self._store is not None:  # leased but never handed out: give back
                held.difference_update(pending)
                await self.run(self._store.extend, pending, lease, self.clock())

    def _settler(self, seq: int, lease: str, released: asyncio.Event) -> Settle:
        async def settle(ack: bool, requeue: bool) -> None:
            self._held.get(lease, set()).discard(seq)
            released.set()
            if self._store is None:
                return  # closed: the lease was released, the message will be redelivered
            await self._settles.submit((seq, lease, ack, requeue))
            if not ack and requeue:
                self.wake()

        return settle

    async def depth(self, queue: str) -> int:
        return await self.run(self.store().depth, queue, self.clock())

    def wake(self) -> None:
        for waiter in self._waiters:
            waiter.set()

    async def _sleep(self, seconds: float) -> None:
        """Sleep until ``seconds`` pass or a local publish/requeue wakes us; other processes'
        publishes are seen at the next poll."""
        waiter = asyncio.Event()
        self._waiters.add(waiter)
        try:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(waiter.wait(), seconds)
        finally:
            self._waiters.discard(waiter)

    async def _keep_leases(self) -> None:
        while True:
            await asyncio.sleep(self._vt / 3)
            until = self.clock() + self._vt
            for lease, seqs in list(self._held.items()):
                if seqs and self._store is not None:
                    await self.run(self._store.extend, sorted(seqs), lease, until)
            for queue in list(self._temporary):
                if self._store is not None:
                    await self.run(self._store.hold_temporary, queue, until)
            if self._store is not None:
                await self.run(self._store.reap, self.clock())

    def store(self) -> SqliteQueueStore:
        """The open queue store (for the dead-letter queue beside this bus)."""
        if self._store is None:
            raise TransientError("the SQLite bus is not started")
        return self._store

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        """Run ``fn`` on the bus's one database thread (SQLite connections stay on it)."""
        if self._executor is None:
            raise TransientError("the SQLite bus is not started")
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, fn, *args)
