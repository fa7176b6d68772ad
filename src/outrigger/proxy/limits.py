"""Rate limits and quotas: counters in windows, checked and taken all-or-nothing.

A ``Window`` is a list of slot counters (the current slot first) and a limit on their sum.
Per-minute limits slide: twelve 5-second slots, so a burst can never get twice the limit
across a minute boundary. Monthly quotas are one slot per calendar month (UTC). The Redis
implementation runs the check-and-take as one Lua script, so replicas share the counters.

Limits are never skipped: when the counters cannot be reached (Redis down, a connection
killed under a call) the Redis limiter tries once more on a fresh connection, then raises
``LimiterUnavailable``, which the limit step answers with a 503 and ``Retry-After``. Each
call's scripts leave a short-lived receipt, so a retry whose first attempt did run (only its
reply was lost) counts nothing twice.
"""

from __future__ import annotations

import asyncio
import calendar
import logging
import math
import secrets
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any, Protocol, TypeVar

from outrigger.errors import TransientError
from outrigger.optional import require

SLOT_S = 5
SLOTS = 12  # 12 x 5 s = one sliding minute
#: A Redis that does not answer within these is unavailable: a call waits for the
#: limiter at most about twice this long (first attempt and the retry), then gets a 503.
REDIS_CONNECT_TIMEOUT_S = 1.0
REDIS_TIMEOUT_S = 2.0
REDIS_MAX_CONNECTIONS = 64  # per gateway process; more concurrent calls wait
T = TypeVar("T")
log = logging.getLogger(__name__)


class LimiterUnavailable(TransientError):
    """The limit counters cannot be reached: no call may pass unchecked."""


@dataclass(frozen=True)
class Window:
    name: str  # rpm | tpm | feature_rpm | feature_tpm | key_rpm | key_tpm | monthly_calls ...
    limit: int
    amount: int
    slots: tuple[str, ...]  # counter keys, the current slot first
    slot_starts: tuple[float, ...]  # epoch seconds each slot began
    span_s: float  # how long a slot counts
    expires_at: int  # when the current slot's counter may be dropped

    def retry_after(self, counts: Sequence[int], now: float) -> float:
        """Seconds until enough of the oldest slots leave the window for ``amount`` to fit
        (until the newest slot leaves when it can never fit)."""
        total = sum(counts)
        leaves_at = now
        for start, count in sorted(zip(self.slot_starts, counts, strict=True)):
            if total + self.amount <= self.limit:
                break
            total -= count
            leaves_at = start + self.span_s
        return float(max(1, math.ceil(leaves_at - now)))


def sliding_minute(key: str, name: str, limit: int, amount: int, now: float) -> Window:
    current = int(now // SLOT_S)
    slots, starts = _minute_slots(key, current)
    return Window(
        name,
        limit,
        amount,
        slots,
        starts,
        float(SLOT_S * SLOTS),
        (current + 1) * SLOT_S + SLOT_S * SLOTS,
    )


@lru_cache(maxsize=4096)
def _minute_slots(key: str, current: int) -> tuple[tuple[str, ...], tuple[float, ...]]:
    """The slot keys and starts of a sliding minute (the same for every call in a slot)."""
    indexes = range(current, current - SLOTS, -1)
    return tuple(f"{key}:{i}" for i in indexes), tuple(float(i * SLOT_S) for i in indexes)


def month_of(now: float) -> str:
    return _month(int(now // 3600))[0]


@lru_cache(maxsize=64)
def _month(hour: int) -> tuple[str, float, float]:
    """``YYYY-MM``, start and length in seconds of the UTC month holding this epoch hour
    (months change on the hour, so every call within one shares the answer)."""
    day = datetime.fromtimestamp(hour * 3600, UTC)
    start = datetime(day.year, day.month, 1, tzinfo=UTC)
    days = calendar.monthrange(day.year, day.month)[1]
    return day.strftime("%Y-%m"), start.timestamp(), days * 86_400.0


def calendar_month(
    key: str, limit: int, amount: int, now: float, name: str = "monthly_calls"
) -> Window:
    month, start, span = _month(int(now // 3600))
    return Window(
        name,
        limit,
        amount,
        (f"{key}:{month}",),
        (start,),
        span,
        int(start + span) + 86_400,
    )


@dataclass(frozen=True)
class Refusal:
    window: Window
    retry_after_s: float


class Limiter(Protocol):
    async def acquire(self, windows: Sequence[Window]) -> Refusal | None:
        """Take ``amount`` from every window, or from none and say which one is full."""
        ...

    async def add(self, window: Window, amount: int) -> int:
        """Count ``amount`` more in the current slot (tokens or cost known only after the
        call); the slot's new value. Atomic: of concurrent adds across replicas, exactly
        one sees the value cross any given line."""
        ...

    async def seed(self, window: Window, value: int) -> None:
        """Set the current slot to ``value`` unless it already exists (quota after restart)."""
        ...

    async def ping(self) -> bool:
        """Whether the counters can be reached now (readiness)."""
        ...

    async def close(self) -> None: ...


class MemoryLimiter:
    """In-process counters: right for one gateway, wrong for several (use Redis there)."""

    def __init__(self, clock: Any = time.time) -> None:
        self._counts: dict[str, tuple[int, float]] = {}
        self._clock = clock

    def _get(self, key: str, now: float) -> int:
        value, expires = self._counts.get(key, (0, 0.0))
        return value if expires > now else 0

    async def acquire(self, windows: Sequence[Window]) -> Refusal | None:
        now = self._clock()
        for window in windows:
            counts = [self._get(k, now) for k in window.slots]
            if sum(counts) + window.amount > window.limit:
                return Refusal(window, window.retry_after(counts, now))
        for window in windows:
            await self.add(window, window.amount)
        if len(self._counts) > 100_000:
            self._counts = {k: v for k, v in self._counts.items() if v[1] > now}
        return None

    async def add(self, window: Window, amount: int) -> int:
        key = window.slots[0]
        value = self._get(key, self._clock()) + amount
        self._counts[key] = (value, float(window.expires_at))
        return value

    async def seed(self, window: Window, value: int) -> None:
        if self._get(window.slots[0], self._clock()) == 0:
            self._counts[window.slots[0]] = (value, float(window.expires_at))

    async def ping(self) -> bool:
        return True

    async def close(self) -> None:
        return None


#: How long Redis keeps a call's receipt: longer than a call waits for its retry.
RECEIPT_S = 30

# KEYS: every window's slot keys, window after window, then the call's receipt. ARGV: the
# window count, then per window: slot count, limit, amount, expires_at; last, the receipt's
# lifetime. Returns {0} or {i, counts...} for the first full window i (1-based). A receipt
# already there means an earlier attempt of this call took its amounts (its reply was lost).
_ACQUIRE = """
local receipt = KEYS[#KEYS]
if redis.call('EXISTS', receipt) == 1 then return {0} end
local n = tonumber(ARGV[1])
local k = 1
local windows = {}
for w = 1, n do
  local base = 1 + (w - 1) * 4
  local slots = tonumber(ARGV[base + 1])
  local limit = tonumber(ARGV[base + 2])
  local amount = tonumber(ARGV[base + 3])
  local counts = redis.call('MGET', unpack(KEYS, k, k + slots - 1))
  local total = 0
  for i = 1, slots do counts[i] = tonumber(counts[i] or '0'); total = total + counts[i] end
  if total + amount > limit then
    local out = {w}
    for i = 1, slots do out[#out + 1] = counts[i] end
    return out
  end
  windows[w] = {KEYS[k], amount, ARGV[base + 4]}
  k = k + slots
end
for w = 1, n do
  local v = redis.call('INCRBY', windows[w][1], windows[w][2])
  if v == tonumber(windows[w][2]) then redis.call('EXPIREAT', windows[w][1], windows[w][3]) end
end
redis.call('SET', receipt, 1, 'EX', ARGV[#ARGV])
return {0}
"""

# KEYS: the slot, the call's receipt. ARGV: amount, expires_at, the receipt's lifetime. The
# receipt keeps the value this add produced, returned again to a retry of the same add.
_ADD = """
local seen = redis.call('GET', KEYS[2])
if seen then return tonumber(seen) end
local v = redis.call('INCRBY', KEYS[1], ARGV[1])
redis.call('EXPIREAT', KEYS[1], ARGV[2])
redis.call('SET', KEYS[2], v, 'EX', ARGV[3])
return v
"""


def receipt_key(slot: str) -> str:
    """A fresh key for one call's receipt, in the slot's Redis Cluster hash slot (the
    ``{...}`` tag of its key, as every key of one call shares)."""
    start, end = slot.find("{"), slot.find("}")
    tag = slot[start : end + 1] if 0 <= start < end else ""
    return f"or:{tag}:receipt:{secrets.token_hex(8)}"


class RedisLimiter:
    """Counters in Redis, shared by every replica; one round trip per call.

    Timeouts (``REDIS_*``) apply unless the URL sets its own (``?socket_timeout=``)."""

    def __init__(self, url: str, clock: Any = time.time) -> None:
        redis = require("redis.asyncio", "redis")
        self._failures: tuple[type[BaseException], ...] = (
            require("redis.exceptions", "redis").RedisError,
            OSError,
            TimeoutError,
        )
        # A blocking pool: a call beyond its connections waits for one (redis-py's default
        # pool refuses the 101st concurrent call with "Too many connections").
        pool = redis.BlockingConnectionPool.from_url(
            url,
            max_connections=REDIS_MAX_CONNECTIONS,
            timeout=REDIS_TIMEOUT_S,
            socket_connect_timeout=REDIS_CONNECT_TIMEOUT_S,
            socket_timeout=REDIS_TIMEOUT_S,
        )
        self._redis = redis.Redis.from_pool(pool)
        self._script = self._redis.register_script(_ACQUIRE)
        self._add_script = self._redis.register_script(_ADD)
        self._clock = clock

    async def _twice(self, what: str, op: Callable[[], Awaitable[T]]) -> T:
        """``op()``; when Redis fails it (a connection killed or dropped, a restart), once
        more on fresh connections; ``LimiterUnavailable`` when that fails too. A retry of
        a script whose first run took effect (its reply was lost) finds that run's receipt
        and counts nothing twice."""
        try:
            return await op()
        except self._failures as exc:
            log.warning("limiter: %s failed (%s: %s); retrying once", what, type(exc).__name__, exc)
        # The idle pooled connections died with the one that failed (a restart, CLIENT KILL):
        # drop them so that the retry connects afresh. Connections in use are left alone.
        await self._redis.connection_pool.disconnect(inuse_connections=False)
        try:
            return await op()
        except self._failures as exc:
            raise LimiterUnavailable(
                f"the rate-limit counters cannot be reached ({type(exc).__name__})"
            ) from exc

    async def acquire(self, windows: Sequence[Window]) -> Refusal | None:
        if not windows:
            return None
        keys = [k for w in windows for k in w.slots]
        keys.append(receipt_key(keys[0]))
        args: list[int] = [len(windows)]
        for w in windows:
            args += [len(w.slots), w.limit, w.amount, w.expires_at]
        args.append(RECEIPT_S)
        result = await self._twice("acquire", lambda: self._script(keys=keys, args=args))
        index = int(result[0])
        if index == 0:
            return None
        window = windows[index - 1]
        counts = [int(c) for c in result[1:]]
        return Refusal(window, window.retry_after(counts, self._clock()))

    async def add(self, window: Window, amount: int) -> int:
        keys = [window.slots[0], receipt_key(window.slots[0])]
        args = [amount, window.expires_at, RECEIPT_S]
        return int(await self._twice("add", lambda: self._add_script(keys=keys, args=args)))

    async def seed(self, window: Window, value: int) -> None:
        key, expires = window.slots[0], window.expires_at
        await self._twice("seed", lambda: self._redis.set(key, value, nx=True, exat=expires))

    async def ping(self) -> bool:
        try:
            return bool(await asyncio.wait_for(self._redis.ping(), REDIS_TIMEOUT_S))
        except self._failures:
            return False

    async def close(self) -> None:
        await self._redis.aclose()
