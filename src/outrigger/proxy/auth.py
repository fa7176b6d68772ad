"""API-key authentication with a short in-process cache (a revoked key stops working within
``auth_cache_s``; an expired one at its expiry, cache or not).

Failed sign-ins are throttled: each failure (an unknown, revoked, expired or malformed key)
is counted per client address and per key prefix in the shared limiter; once either has
its limit of failures in the sliding minute (``per_address``, ``per_key``), further failures
from that address or with that prefix are answered 429 instead of 401, across every
replica. A valid key is never held up: the throttle answers only what would have failed
anyway (prefixes are not secret, and addresses are shared behind proxies, so refusing
before the look-up would let anyone lock a key's owner, or a whole address, out). A
missing or malformed key needs no look-up; one that looks like ours costs one indexed read."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from typing import NoReturn

from outrigger.proxy.context import RateLimited, Unauthorized
from outrigger.proxy.limits import (
    Limiter,
    LimiterUnavailable,
    MemoryLimiter,
    Window,
    sliding_minute,
)
from outrigger.storage.db import Database
from outrigger.storage.tenants import KEY_PREFIX, Tenant, TenantStore, hash_key

_MAX_ENTRIES = 10_000
_KEY_ID = re.compile(r"[0-9a-f]{12}")


class TooManyFailures(RateLimited):
    code = "too_many_auth_failures"


class Authenticator:
    def __init__(
        self,
        store: TenantStore,
        db: Database,
        cache_s: float,
        clock: Callable[[], float] = time.time,
        limiter: Limiter | None = None,
        per_address: int = 60,
        per_key: int = 10,
    ) -> None:
        self.store = store
        self.db = db
        self.cache_s = cache_s
        self._clock = clock
        self.limiter = limiter or MemoryLimiter(clock)
        self.per_address = per_address
        self.per_key = per_key
        # key hash -> (tenant, trusted until)
        self._cache: dict[str, tuple[Tenant, float]] = {}

    async def tenant(self, authorization: str | None, client: str | None = None) -> Tenant:
        """The tenant of the request's key; ``client``: the caller's address, for the
        throttle on failed sign-ins."""
        try:
            key = _bearer(authorization)
        except Unauthorized as exc:
            await self._refuse(self._windows(client, None), exc)
        digest = hash_key(key)
        now = self._clock()
        cached = self._cache.get(digest)
        if cached is not None and cached[1] > now:
            return cached[0]
        found = await self.db.run(self.store.authenticate, key)
        if found is None:
            self._cache.pop(digest, None)
            failure = Unauthorized("invalid, revoked or expired API key")
            await self._refuse(self._windows(client, key), failure)
        tenant, expires_at = found
        if self.cache_s > 0:
            if len(self._cache) >= _MAX_ENTRIES:
                self._cache.clear()
            until = now + self.cache_s
            self._cache[digest] = (tenant, min(until, expires_at) if expires_at else until)
        return tenant

    def _windows(self, client: str | None, key: str | None) -> list[Window]:
        """The failure counters of this address and this key's prefix (``ork-<id>``; the
        first 12 characters of a key of another shape), under one Redis Cluster slot."""
        now = self._clock()
        limits = []
        if client and self.per_address:
            limits.append((f"ip:{client}", self.per_address))
        if key and self.per_key:
            limits.append((f"key:{_prefix(key)}", self.per_key))
        # Checked with amount 0 against limit - 1: refused once the limit is reached.
        return [sliding_minute(f"or:{{auth}}:{n}", n, limit - 1, 0, now) for n, limit in limits]

    async def _refuse(self, windows: list[Window], failure: Unauthorized) -> NoReturn:
        """Count a failed sign-in and raise ``failure`` (401), or 429 once the address or
        the prefix has had its limit of failures this minute."""
        if windows:
            try:
                refusal = await self.limiter.acquire(windows)
                for window in windows:
                    await self.limiter.add(window, 1)
            except LimiterUnavailable:
                raise failure from None  # the 401 stands; only the throttle is missing
            if refusal is not None:
                raise TooManyFailures(
                    "too many failed sign-ins from this address or with this key; try again later",
                    retry_after_s=refusal.retry_after_s,
                )
        raise failure


def _prefix(key: str) -> str:
    """``ork-<id>`` for a key of our shape; one shared bucket for anything else, so that a
    caller choosing the text cannot make a counter (and its cache entries) per attempt."""
    parts = key.split("-", 2)
    if len(parts) == 3 and parts[0] == KEY_PREFIX and _KEY_ID.fullmatch(parts[1]):
        return f"{KEY_PREFIX}-{parts[1]}"
    return "malformed"


def _bearer(authorization: str | None) -> str:
    if not authorization:
        raise Unauthorized("missing API key: send 'Authorization: Bearer <key>'")
    scheme, _, key = authorization.partition(" ")
    if scheme.lower() != "bearer" or not key.strip():
        raise Unauthorized("malformed Authorization header: expected 'Bearer <key>'")
    return key.strip()
