"""One assigned partition's uncommitted records: what may be handed out, what may be committed.

Kafka commits one offset per partition, so an offset is committed only once every earlier
record of its partition is settled: ``position`` is the offset of the oldest unsettled record
(or one past the last record when all are settled).

Ordering is per key, as Kafka promises it: a record is handed out only when no earlier record
with the same key is still unsettled, so same-key events are handled (and their results
published) one after the other, while different keys — of the same partition or not — run
concurrently up to the consumer's prefetch. Records without a key are unordered.

Attempts: ``delivered`` counts hand-outs, including those of earlier processes that the
attempts log remembers (``Lease``); ``leased`` is the count the log holds. A record is handed
out only while ``leased`` covers the new attempt, so a crash can never forget one
(``needs_lease``); writing one lease covers every record buffered so far, as RabbitMQ counts a
prefetched message as delivered.
"""

from __future__ import annotations

import heapq
from collections import deque
from dataclasses import dataclass, field

from outrigger.bus.base import BusMessage

READY, OUT, DONE = "ready", "out", "done"


@dataclass(frozen=True, slots=True)
class Lease:
    """What the attempts log keeps per partition: deliveries of unsettled records, and the
    records settled above the committed position (they are not handed out again)."""

    counts: dict[int, int] = field(default_factory=dict)
    done: frozenset[int] = frozenset()


@dataclass(slots=True)
class Entry:
    offset: int
    key: bytes | None
    message: BusMessage
    state: str = READY
    delivered: int = 0
    leased: int = 0


class PartitionWindow:
    def __init__(self, prior: Lease | None = None) -> None:
        self._prior = prior or Lease()
        self._entries: dict[int, Entry] = {}  # offset order: records arrive in order
        self._by_key: dict[bytes, deque[int]] = {}  # unsettled offsets of each key, in order
        self._eligible: list[int] = []  # heap of ready offsets that may be handed out now
        self._next = -1  # one past the last record seen
        self.committed: int | None = None  # the position last committed
        self.leased_done: frozenset[int] = frozenset()  # ``done`` as the log last heard it
        self.revoked = False

    # -- records in -----------------------------------------------------------------------

    def add(self, offset: int, key: bytes | None, message: BusMessage) -> None:
        if offset < self._next or offset in self._entries:
            return  # a re-fetch of a record we hold
        self._next = offset + 1
        count = self._prior.counts.get(offset, 0)
        entry = Entry(offset, key, message, delivered=count, leased=count)
        self._entries[offset] = entry
        if offset in self._prior.done:
            entry.state = DONE  # settled by an earlier process, only its commit was lost
            return
        if key is not None:
            queue = self._by_key.setdefault(key, deque())
            queue.append(offset)
            if len(queue) > 1:
                return  # waits for the earlier record of its key
        heapq.heappush(self._eligible, offset)

    # -- hand-out ---------------------------------------------------------------------------

    def has_eligible(self) -> bool:
        return not self.revoked and bool(self._eligible)

    def needs_lease(self) -> bool:
        """Whether the next hand-out must first be written to the attempts log."""
        if not self.has_eligible():
            return False
        entry = self._entries[self._eligible[0]]
        return entry.delivered + 1 > entry.leased

    def take(self) -> Entry:
        entry = self._entries[heapq.heappop(self._eligible)]
        entry.state = OUT
        entry.delivered += 1
        return entry

    def lease(self) -> Lease:
        """Count one more delivery for every record waiting to be handed out; the returned
        lease must be written before the next ``take``."""
        for entry in self._entries.values():
            if entry.state == READY:
                entry.leased = entry.delivered + 1
        return self.snapshot()

    def snapshot(self) -> Lease:
        counts = {e.offset: e.leased for e in self._entries.values() if e.state != DONE}
        done = frozenset(e.offset for e in self._entries.values() if e.state == DONE)
        return Lease({o: n for o, n in counts.items() if n > 0}, done)

    # -- settling ---------------------------------------------------------------------------

    def settle(self, entry: Entry, *, done: bool) -> None:
        if self._entries.get(entry.offset) is not entry or entry.state != OUT:
            return
        if not done:  # requeue: handed out again, before any later record of its key
            entry.state = READY
            heapq.heappush(self._eligible, entry.offset)
            return
        entry.state = DONE
        if entry.key is not None:
            queue = self._by_key[entry.key]
            queue.popleft()
            if queue:
                heapq.heappush(self._eligible, queue[0])
            else:
                del self._by_key[entry.key]

    def position(self) -> int | None:
        """The offset to commit: the oldest unsettled record's, or one past the last."""
        while self._entries:
            offset, entry = next(iter(self._entries.items()))
            if entry.state != DONE:
                return offset
            del self._entries[offset]
        return self._next if self._next >= 0 else None

    # -- sizes ------------------------------------------------------------------------------

    def outstanding(self) -> int:
        """Records handed out and not settled yet."""
        return sum(1 for e in self._entries.values() if e.state == OUT)

    def waiting(self) -> int:
        """Records fetched and not handed out yet."""
        return sum(1 for e in self._entries.values() if e.state == READY)

    def size(self) -> int:
        return len(self._entries)
