"""The idempotency store on SQLite or PostgreSQL (SQLAlchemy Core)."""

from __future__ import annotations

import time
from collections.abc import Callable

from sqlalchemy import delete, select
from sqlalchemy.dialects import postgresql, sqlite

from outrigger.storage.db import Database
from outrigger.storage.schema import idempotency_keys as table


class SqlIdempotencyStore:
    def __init__(self, db: Database, ttl_s: float, clock: Callable[[], float] = time.time) -> None:
        self.db = db
        self._ttl = ttl_s
        self._clock = clock
        self._insert = postgresql.insert if db.dialect == "postgresql" else sqlite.insert

    async def get(self, key: str) -> str | None:
        return await self.db.run(self._get, key, self._clock())

    def _get(self, key: str, now: float) -> str | None:
        query = select(table.c.value).where(table.c.key == key, table.c.expires_at > now)
        with self.db.engine.connect() as conn:
            return conn.execute(query).scalar_one_or_none()

    async def put(self, key: str, value: str) -> None:
        await self.db.run(self._put, key, value, self._clock())

    def _put(self, key: str, value: str, now: float) -> None:
        row = {"key": key, "value": value, "created_at": now, "expires_at": now + self._ttl}
        stmt = self._insert(table).values(**row)
        stmt = stmt.on_conflict_do_update(
            index_elements=[table.c.key],
            set_={"value": value, "created_at": now, "expires_at": now + self._ttl},
        )
        with self.db.engine.begin() as conn:
            conn.execute(stmt)

    async def purge_expired(self) -> int:
        return await self.db.run(self._purge, self._clock())

    def _purge(self, now: float) -> int:
        with self.db.engine.begin() as conn:
            return conn.execute(delete(table).where(table.c.expires_at <= now)).rowcount

    async def close(self) -> None:
        self.db.dispose()
