"""The idempotency store on SQLite or PostgreSQL (SQLAlchemy Core).

Statements are built once with bind parameters (building a SQLAlchemy expression costs more
than running it on SQLite). Concurrent ``get`` calls share one ``SELECT … IN``; concurrent
``put`` calls are group-committed: one flush task at a time writes every pending key in one
transaction, and each caller returns once the transaction holding its key has committed (or
gets that transaction's error). The flush is its own task, so cancelling one caller never
cancels a write other callers are waiting for.

On a server database both run on the database threads. On SQLite the look-up runs on the
event loop (an indexed read of a local WAL file never waits for a writer, and costs less than
the hop to a database thread and back), and so does the write while the file's write lock is
free (``storage/inline.py``); when another connection holds it, the write waits on a thread.
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import Connection, bindparam, delete, select

from outrigger.batching import MicroBatcher
from outrigger.storage.db import Database
from outrigger.storage.inline import Compiled, InlineSqlite
from outrigger.storage.schema import idempotency_keys as table
from outrigger.storage.statements import upsert


class SqlIdempotencyStore:
    def __init__(
        self,
        db: Database,
        ttl_s: float,
        clock: Callable[[], float] = time.time,
        *,
        inline: bool | None = None,
    ) -> None:
        """``inline``: read and write on the event loop (default: on SQLite only)."""
        self.db = db
        self._ttl = ttl_s
        self._clock = clock
        self._upsert = upsert(db.dialect, table, "key", ["value", "created_at", "expires_at"])
        self._get_stmt = select(table.c.key, table.c.value).where(
            table.c.key.in_(bindparam("keys", expanding=True)),
            table.c.expires_at > bindparam("now"),
        )
        # Concurrent look-ups share one SELECT ... IN (...).
        self._gets: MicroBatcher[str, str | None] = MicroBatcher(self._get_batch, max_size=256)
        if inline is None:
            inline = db.dialect == "sqlite"
        self.inline = InlineSqlite(db) if inline else None
        self._inline_upsert = Compiled.of(self._upsert, db) if inline else None
        self._checkpoints: set[asyncio.Task[None]] = set()
        self._purge_stmt = delete(table).where(table.c.expires_at <= bindparam("now"))
        self._pending: dict[str, str] = {}
        self._flushed: asyncio.Future[None] | None = None  # settles when _pending is written
        self._flusher: asyncio.Task[None] | None = None

    async def get(self, key: str) -> str | None:
        return await self._gets.submit(key)

    async def _get_batch(self, keys: Sequence[str]) -> list[str | None]:
        unique, now = list(set(keys)), self._clock()
        if self.inline is not None:
            found = dict(self.inline.read(_select_live(len(unique)), [*unique, now]))
        else:
            found = await self.db.run(self._get_many, unique, now)
        return [found.get(k) for k in keys]

    def _get_many(self, keys: list[str], now: float) -> dict[str, str]:
        with self.db.engine.connect() as conn:
            rows = conn.execute(self._get_stmt, {"keys": keys, "now": now})
            return {row.key: row.value for row in rows}

    async def put(self, key: str, value: str) -> None:
        self._pending[key] = value
        if self._flushed is None:
            self._flushed = asyncio.get_running_loop().create_future()
        waiting = self._flushed
        if self._flusher is None:
            self._flusher = asyncio.create_task(self._flush())
        await asyncio.shield(waiting)

    async def _flush(self) -> None:
        done: asyncio.Future[None] | None = None
        try:
            while self._pending:
                batch, self._pending = self._pending, {}
                done, self._flushed = self._flushed, None
                try:
                    await self._write_batch(batch)
                except Exception as exc:  # this batch's callers get it; the next batch still runs
                    _settle(done, exc)
                else:
                    _settle(done, None)
        except asyncio.CancelledError:  # nobody is left to write what is pending
            for future in (done, self._flushed):
                if future is not None and not future.done():
                    future.cancel()
            self._pending, self._flushed = {}, None
            raise
        finally:
            self._flusher = None

    async def _write_batch(self, batch: dict[str, str]) -> None:
        """On the loop when the SQLite file's lock is free, else on a database thread."""
        now, inline, upsert = self._clock(), self.inline, self._inline_upsert
        if (
            inline is None
            or upsert is None
            or not inline.write(upsert.sql, [upsert.row(r) for r in self._rows(batch, now)])
        ):
            await self.db.run(self._write, batch, now)
            return
        if inline.checkpoint_due:
            task = asyncio.create_task(self.db.run(inline.checkpoint))
            self._checkpoints.add(task)
            task.add_done_callback(self._checkpoints.discard)

    def _write(self, batch: dict[str, str], now: float) -> None:
        with self.db.engine.begin() as conn:
            self._write_on(conn, batch, now)

    def _write_on(self, conn: Connection, batch: dict[str, str], now: float) -> None:
        conn.execute(self._upsert, self._rows(batch, now))

    def _rows(self, batch: dict[str, str], now: float) -> list[dict[str, Any]]:
        expires = now + self._ttl
        return [
            {"key": k, "value": v, "created_at": now, "expires_at": expires}
            for k, v in batch.items()
        ]

    async def purge_expired(self) -> int:
        return await self.db.run(self._purge, self._clock())

    def _purge(self, now: float) -> int:
        with self.db.engine.begin() as conn:
            return int(conn.execute(self._purge_stmt, {"now": now}).rowcount)

    async def close(self) -> None:
        """Let a running flush finish, then release the database (off the event loop)."""
        running = [t for t in (self._flusher, *self._checkpoints) if t is not None]
        if running:
            await asyncio.wait(running)
        if self.inline is not None:
            self.inline.close()
        await asyncio.to_thread(self.db.dispose)


@functools.lru_cache(maxsize=256)
def _select_live(count: int) -> str:
    """SQLite: the live values of ``count`` keys (parameters: the keys, then now)."""
    marks = ", ".join("?" * count)
    return f'SELECT "key", value FROM {table.name} WHERE "key" IN ({marks}) AND expires_at > ?'


def _settle(future: asyncio.Future[None] | None, error: Exception | None) -> None:
    if future is None or future.done():
        return
    if error is None:
        future.set_result(None)
    else:
        future.set_exception(error)
