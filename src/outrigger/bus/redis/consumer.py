"""One ``consume`` call on the Redis bus: a consumer in the queue's group.

Where deliveries come from, in order: entries this consumer gave back with
``nack(requeue=True)`` (XCLAIM to itself: the delivery count goes up), then, every
``claim_idle_s / 3``, pending entries idle for ``claim_idle_s`` (XAUTOCLAIM: a crashed
consumer's, or our own whose read reply a dropped connection lost), then new entries
(XREADGROUP ``>``). ``Delivery.attempt`` is the entry's delivery count: 1 for a new entry,
and XPENDING's ``times_delivered`` for a claimed one. At most ``prefetch`` deliveries are
unsettled; entries the queue's bindings do not match (or addressed to another queue) are
acknowledged unseen.

A keeper task touches the entries handed out (XCLAIM JUSTID to itself resets their idle
time), so a slow handler is never taken over; for a follower it also pushes the expiry
forward, and it reaps lapsed followers' groups. An ack is XACK; ``nack(requeue=False)``
too (dropped). When the bus closes, unsettled entries are given back: their idle time is
set far past ``claim_idle_s`` so the next live consumer claims them at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import AsyncGenerator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from redis.exceptions import RedisError, ResponseError

from outrigger.bus.base import BusMessage, Delivery, Subscription
from outrigger.bus.delivery import CallbackDelivery, Settle
from outrigger.bus.redis.entries import Binding, Fields, addressed_to, to_message

if TYPE_CHECKING:
    from outrigger.bus.redis.bus import RedisBus

log = logging.getLogger(__name__)

#: The idle time given to entries handed back: far beyond any ``claim_idle_s``, below the
#: epoch (Redis clamps an idle time that would date the delivery before it to zero).
RELEASED_IDLE_MS = 10 * 365 * 24 * 3600 * 1000
CHUNK = 500  # ids per XCLAIM / XACK


def _raise_swallowed_cancel() -> None:
    """Raise the cancellation of the reading task that a Redis command swallowed.

    redis-py sends every command under ``asyncio.wait_for`` (the socket timeout), and on
    Python 3.11 ``wait_for`` drops a cancellation that arrives just as the send completes
    (CPython gh-86296, fixed in 3.12): the command goes on as if the task had not been
    cancelled. Cancelling the task that iterates ``deliveries`` is how a worker stops
    reading (on SIGTERM); without this check the loop would read on for ever. The request
    is still counted by ``Task.cancelling``, which ``asyncio.timeout`` relies on as well."""
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError


@dataclass(frozen=True, slots=True)
class Entry:
    id: bytes
    message: BusMessage
    attempt: int


class StreamConsumer:
    def __init__(self, bus: RedisBus, sub: Subscription, prefetch: int, name: str) -> None:
        self.bus, self.sub, self.name = bus, sub, name
        self.client = bus.client  # kept: a read racing the bus's close can still give back
        self.stream = bus.keys.stream(sub.exchange, sub.queue)
        self.group = sub.queue
        self.prefetch = max(1, prefetch)
        self.credit = asyncio.Semaphore(self.prefetch)
        self.held: dict[bytes, int] = {}  # handed out, unsettled: id -> attempt
        self.requeued: deque[tuple[bytes, int]] = deque()
        self.binding = Binding(sub.bindings)
        self.reading = True
        self.closed = False
        s = bus.settings
        self.claim_idle_ms = int(s.claim_idle_s * 1000)
        self.interval = s.claim_idle_s / 3
        self._cursor = b"0-0"
        self._next_claim = 0.0  # claim at once: a crashed predecessor's entries wait
        self._keeper: asyncio.Task[None] | None = None

    # -- the delivery loop --------------------------------------------------------------

    async def deliveries(self) -> AsyncGenerator[Delivery, None]:
        self._keeper = asyncio.create_task(self._keep(), name=f"redis-keeper-{self.name}")
        waiting: deque[Entry] = deque()
        try:
            failures = 0
            while not self.closed:
                _raise_swallowed_cancel()
                if not waiting:
                    try:
                        waiting.extend(await self._fill())
                        failures = 0
                    except RedisError as exc:
                        failures += 1
                        await self._pause(exc, failures)
                    continue
                entry = waiting.popleft()
                self.held[entry.id] = entry.attempt
                yield CallbackDelivery(
                    entry.message, entry.attempt, self._settler(entry.id), self.credit
                )
        finally:
            if waiting:  # read with credit but never handed out: give them back
                with contextlib.suppress(RedisError):
                    await self._release([e.id for e in waiting])

    async def _pause(self, exc: RedisError, failures: int) -> None:
        """Back off after a failed read (Redis down, connection killed); the pool opens a
        fresh connection for the next one. Nothing read is lost: an entry whose reply did
        not arrive stays pending to us and is claimed again once idle."""
        if isinstance(exc, ResponseError) and "NOGROUP" in str(exc):
            log.warning("group %s vanished from %s; declaring it again", self.group, self.stream)
            with contextlib.suppress(Exception):
                await self.bus.declare(self.sub)
        else:
            log.warning("reading %s failed (%s); retrying", self.stream, exc)
        await asyncio.sleep(min(2.0, 0.05 * 2**failures))

    async def _fill(self) -> list[Entry]:
        """Up to the free credit's worth of entries; credit not used is given back."""
        await self.credit.acquire()
        wanted = 1
        while wanted < self.prefetch and not self.credit.locked():
            await self.credit.acquire()
            wanted += 1
        entries: list[Entry] = []
        try:
            entries = await self._read(wanted)
            if self.closed and entries:  # read as the bus closed: give them back
                await self._release([e.id for e in entries])
                entries = []
        finally:
            for _ in range(wanted - len(entries)):
                self.credit.release()
        return entries

    async def _read(self, count: int) -> list[Entry]:
        if self.requeued:
            return await self._redeliver(count)
        if time.monotonic() >= self._next_claim:
            claimed = await self._claim(count)
            if claimed:
                return claimed
        reply: Any = await self.client.xreadgroup(
            self.group,
            self.name,
            {self.stream: ">"},
            count=count,
            block=self.bus.settings.block_ms,
        )
        raw = [(i, f) for _, entries in reply or [] for i, f in entries]
        return await self._keep_wanted(raw, dict.fromkeys((i for i, _ in raw), 1))

    async def _redeliver(self, count: int) -> list[Entry]:
        batch = [self.requeued.popleft() for _ in range(min(count, len(self.requeued)))]
        previous = dict(batch)
        ids: list[Any] = list(previous)
        raw: Any = await self.client.xclaim(self.stream, self.group, self.name, 0, ids)
        return await self._keep_wanted(raw, {i: n + 1 for i, n in previous.items()})

    async def _claim(self, count: int) -> list[Entry]:
        """XAUTOCLAIM one page of entries idle for ``claim_idle_s``; a full pass over the
        pending list every ``claim_idle_s / 3``."""
        reply: Any = await self.client.xautoclaim(
            self.stream, self.group, self.name, self.claim_idle_ms, self._cursor, count=count
        )
        self._cursor, raw = reply[0], reply[1]
        if len(reply) > 2 and reply[2]:
            log.warning(
                "%d pending entries of %s were trimmed before being handled (lost): %s",
                len(reply[2]),
                self.group,
                reply[2][:10],
            )
        if self._cursor in (b"0-0", "0-0"):
            self._next_claim = time.monotonic() + self.interval
        raw = [(i, f) for i, f in raw if i not in self.held and f is not None]
        if not raw:
            return []
        return await self._keep_wanted(raw, await self._counts([i for i, _ in raw]))

    async def _counts(self, ids: Sequence[bytes]) -> dict[bytes, int]:
        rows = await self.client.xpending_range(
            self.stream, self.group, ids[0], ids[-1], len(ids) + len(self.held), self.name
        )
        counts = {row["message_id"]: int(row["times_delivered"]) for row in rows}
        return {i: counts.get(i, 2) for i in ids}

    async def _keep_wanted(self, raw: Sequence[Any], attempts: dict[bytes, int]) -> list[Entry]:
        kept: list[Entry] = []
        skipped: list[bytes] = []
        for entry_id, fields in raw:
            if fields is not None and self._wants(fields):
                kept.append(Entry(entry_id, to_message(fields), attempts.get(entry_id, 1)))
            else:
                skipped.append(entry_id)
        for start in range(0, len(skipped), CHUNK):
            await self.client.xack(self.stream, self.group, *skipped[start : start + CHUNK])
        return kept

    def _wants(self, fields: Fields) -> bool:
        target = addressed_to(fields)
        if target is not None:
            return target == self.group
        if not self.sub.exchange:
            return True
        return self.binding.matches(to_message(fields).routing_key)

    # -- settling -----------------------------------------------------------------------

    def _settler(self, entry_id: bytes) -> Settle:
        async def settle(ack: bool, requeue: bool) -> None:
            attempt = self.held.pop(entry_id, 1)
            if self.closed:
                return  # given back when the bus closed: it will be delivered again
            try:
                if ack or not requeue:
                    await self.client.xack(self.stream, self.group, entry_id)
                elif self.reading:
                    self.requeued.append((entry_id, attempt))
                else:
                    await self._release([entry_id])
            except RedisError as exc:
                # Still pending to us and no longer touched: claimed again once idle.
                log.warning("settling %r on %s failed: %s", entry_id, self.group, exc)

        return settle

    async def _release(self, ids: Sequence[bytes]) -> None:
        """Give entries back to the group: idle far past ``claim_idle_s``, so the next
        XAUTOCLAIM of any live consumer takes them (and counts the delivery)."""
        for start in range(0, len(ids), CHUNK):
            await self.client.xclaim(
                self.stream,
                self.group,
                self.name,
                0,
                list[Any](ids[start : start + CHUNK]),
                idle=RELEASED_IDLE_MS,
                justid=True,
            )

    # -- keeping and stopping -----------------------------------------------------------

    async def _keep(self) -> None:
        while not self.closed:
            await asyncio.sleep(self.interval)
            try:
                await self._touch()
                if self.sub.temporary and self.reading:
                    await self.bus.heartbeat(self.sub)
                if self.sub.exchange:
                    raw = await self.client.hget(
                        self.bus.keys.bindings(self.sub.exchange), self.group
                    )
                    self.binding = Binding.load(raw) or self.binding
                await self.bus.reap_temporaries()
            except Exception as exc:  # the keeper must outlive a Redis outage
                log.warning("keeping %s's consumer %s failed: %s", self.group, self.name, exc)
            if not self.reading and not self.held:
                return

    async def _touch(self) -> None:
        ids: list[Any] = [*self.held, *(i for i, _ in self.requeued)]
        for start in range(0, len(ids), CHUNK):
            await self.client.xclaim(
                self.stream, self.group, self.name, 0, ids[start : start + CHUNK], justid=True
            )

    async def stop_reading(self) -> bool:
        """The iteration ended; True once this consumer is finished with. A follower's group
        goes at once; a queue's consumer lives on while its deliveries are unsettled."""
        self.reading = False
        if self.requeued:
            with contextlib.suppress(RedisError):
                await self._release([i for i, _ in self.requeued])
            self.requeued.clear()
        if self.sub.temporary:
            await self.shutdown()
            return True
        if self.held:
            return False
        await self.shutdown()
        return True

    async def shutdown(self) -> None:
        """Stop the keeper and give back what is unsettled (or remove a follower's group)."""
        if self.closed:
            return
        self.closed = True
        if self._keeper is not None:
            self._keeper.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._keeper
        with contextlib.suppress(RedisError, Exception):
            if self.sub.temporary:
                await self.bus.remove_temporary(self.sub.exchange, self.sub.queue)
            elif self.held or self.requeued:
                await self._release([*self.held, *(i for i, _ in self.requeued)])
            else:
                await self._forget_me()
        self.held.clear()
        self.requeued.clear()

    async def _forget_me(self) -> None:
        """Delete this consumer from the group once nothing is pending to it (a pending
        entry of a deleted consumer could never be claimed)."""
        mine = await self.client.xpending_range(self.stream, self.group, "-", "+", 1, self.name)
        if not mine:
            await self.client.xgroup_delconsumer(self.stream, self.group, self.name)
