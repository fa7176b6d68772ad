"""``VaultStore`` backends: in memory, and SQL (SQLite or PostgreSQL via ``Database``)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from sqlalchemy import bindparam, delete, select

from outrigger.storage.expiring import ExpiringMap
from outrigger.storage.schema import privacy_vaults as table
from outrigger.storage.statements import upsert

if TYPE_CHECKING:
    from outrigger.storage.db import Database


class MemoryVaultStore:
    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._entries: ExpiringMap[bytes] = ExpiringMap(clock)

    async def put(self, vault_id: str, sealed: bytes, ttl_s: float) -> None:
        self._entries.put(vault_id, sealed, ttl_s)

    async def get(self, vault_id: str) -> bytes | None:
        return self._entries.get(vault_id)

    async def delete(self, vault_id: str) -> None:
        self._entries.delete(vault_id)

    async def purge_expired(self) -> int:
        return self._entries.purge_expired()

    async def close(self) -> None:
        pass


class SqlVaultStore:
    """The ``privacy_vaults`` table; blocking calls run on the database's threads."""

    def __init__(self, db: Database, clock: Callable[[], float] = time.time) -> None:
        self.db = db
        self._clock = clock
        self._upsert = upsert(db.dialect, table, "vault_id", ["sealed", "created_at", "expires_at"])
        self._get = select(table.c.sealed).where(
            table.c.vault_id == bindparam("vault_id"), table.c.expires_at > bindparam("now")
        )
        self._delete = delete(table).where(table.c.vault_id == bindparam("vault_id"))
        self._purge = delete(table).where(table.c.expires_at <= bindparam("now"))

    async def put(self, vault_id: str, sealed: bytes, ttl_s: float) -> None:
        now = self._clock()
        row = {"vault_id": vault_id, "sealed": sealed, "created_at": now, "expires_at": now + ttl_s}
        await self.db.run(self._write, self._upsert, row)

    async def get(self, vault_id: str) -> bytes | None:
        return await self.db.run(self._read, vault_id, self._clock())

    async def delete(self, vault_id: str) -> None:
        await self.db.run(self._write, self._delete, {"vault_id": vault_id})

    async def purge_expired(self) -> int:
        return await self.db.run(self._write, self._purge, {"now": self._clock()})

    async def close(self) -> None:
        """Nothing to release: the ``Database`` belongs to whoever built it."""

    def _read(self, vault_id: str, now: float) -> bytes | None:
        with self.db.engine.connect() as conn:
            found = conn.execute(self._get, {"vault_id": vault_id, "now": now}).scalar()
        return None if found is None else bytes(found)

    def _write(self, statement: Any, params: dict[str, Any]) -> int:
        with self.db.engine.begin() as conn:
            return int(conn.execute(statement, params).rowcount)
