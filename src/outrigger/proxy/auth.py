"""API-key authentication with a short in-process cache (a revoked key stops working within
``auth_cache_s``; an expired one at its expiry, cache or not)."""

from __future__ import annotations

import time
from collections.abc import Callable

from outrigger.proxy.context import Unauthorized
from outrigger.storage.db import Database
from outrigger.storage.tenants import Tenant, TenantStore, hash_key

_MAX_ENTRIES = 10_000


class Authenticator:
    def __init__(
        self,
        store: TenantStore,
        db: Database,
        cache_s: float,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.db = db
        self.cache_s = cache_s
        self._clock = clock
        # key hash -> (tenant, trusted until)
        self._cache: dict[str, tuple[Tenant, float]] = {}

    async def tenant(self, authorization: str | None) -> Tenant:
        key = _bearer(authorization)
        digest = hash_key(key)
        now = self._clock()
        cached = self._cache.get(digest)
        if cached is not None and cached[1] > now:
            return cached[0]
        found = await self.db.run(self.store.authenticate, key)
        if found is None:
            self._cache.pop(digest, None)
            raise Unauthorized("invalid, revoked or expired API key")
        tenant, expires_at = found
        if self.cache_s > 0:
            if len(self._cache) >= _MAX_ENTRIES:
                self._cache.clear()
            until = now + self.cache_s
            self._cache[digest] = (tenant, min(until, expires_at) if expires_at else until)
        return tenant


def _bearer(authorization: str | None) -> str:
    if not authorization:
        raise Unauthorized("missing API key: send 'Authorization: Bearer <key>'")
    scheme, _, key = authorization.partition(" ")
    if scheme.lower() != "bearer" or not key.strip():
        raise Unauthorized("malformed Authorization header: expected 'Bearer <key>'")
    return key.strip()
