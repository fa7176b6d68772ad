"""Short reads and writes of a local SQLite file on the event loop, while nobody holds its lock.

A statement through the database threads costs a hop there and back (about a tenth of a
millisecond of loop time each way) for work that, on a WAL file with ``synchronous=NORMAL``,
takes a few tens of microseconds: an indexed read, or a commit that appends to the log with
no ``fsync``. ``InlineSqlite`` keeps one connection of its own, used only on the loop, and
runs plain SQL on the driver's connection (SQLAlchemy's execution layer costs more than the
statement itself here; the statements are compiled once by the caller, see ``Compiled``).

It never waits: its busy timeout is 0, so when another connection (a database thread,
another process sharing the file) holds the write lock a write is refused at once and the
caller takes the threaded path. Its own commits never checkpoint (the step that ``fsync``s):
every ``checkpoint_every`` writes it asks for a passive checkpoint, which the caller runs on a
database thread.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy import text

from outrigger.storage.db import Database

#: SQLite's answers when another connection holds the lock it needs.
_BUSY = ("database is locked", "database table is locked", "database is busy")


@dataclass(frozen=True)
class Compiled:
    """A SQLAlchemy statement compiled once for SQLite: its SQL with ``?`` placeholders and
    the names of its parameters in their order."""

    sql: str
    names: tuple[str, ...]

    @classmethod
    def of(cls, statement: sa.Executable, db: Database) -> Compiled:
        compiled = statement.compile(dialect=db.engine.dialect)  # type: ignore[attr-defined]
        return cls(compiled.string, tuple(compiled.positiontup or ()))

    def row(self, values: Mapping[str, Any]) -> tuple[Any, ...]:
        return tuple(values[name] for name in self.names)


class InlineSqlite:
    def __init__(self, db: Database, checkpoint_every: int = 1000) -> None:
        self.db = db
        self.checkpoint_every = checkpoint_every
        self._conn: sqlite3.Connection | None = None
        self._pooled: Any = None  # the pool's wrapper, detached, closed with us
        self.writes = 0
        self.refused = 0  # writes handed to the threaded path because the lock was taken

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            pooled = self.db.engine.raw_connection()  # with the engine's pragmas (WAL, …)
            conn = pooled.dbapi_connection
            assert isinstance(conn, sqlite3.Connection)
            pooled.detach()  # settings changed below must not reach the pool
            conn.isolation_level = None  # transactions are ours: BEGIN … COMMIT below
            conn.execute("PRAGMA busy_timeout=0")
            conn.execute("PRAGMA wal_autocheckpoint=0")
            self._pooled, self._conn = pooled, conn
        return self._conn

    def read(self, sql: str, params: Sequence[Any]) -> list[Any]:
        """The rows of one query (a read never waits for a writer on a WAL file)."""
        return self._connection().execute(sql, params).fetchall()

    def write(self, sql: str, rows: Sequence[Sequence[Any]]) -> bool:
        """Run ``sql`` for each of ``rows`` in one transaction and commit; False (nothing
        written) when another connection holds the lock. Other errors are raised."""
        conn = self._connection()
        try:
            if len(rows) == 1:  # one statement is its own transaction: no BEGIN, no COMMIT
                conn.execute(sql, rows[0])
                self.writes += 1
                return True
            conn.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            if not any(busy in str(exc) for busy in _BUSY):
                raise
            self.refused += 1
            return False
        try:
            conn.executemany(sql, rows)
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
        self.writes += 1
        return True

    @property
    def checkpoint_due(self) -> bool:
        return self.writes > 0 and self.writes % self.checkpoint_every == 0

    def checkpoint(self) -> None:
        """A passive checkpoint (blocking: for a database thread); it waits for nobody."""
        with self.db.engine.connect() as conn:
            conn.execute(text("PRAGMA wal_checkpoint(PASSIVE)"))

    def close(self) -> None:
        if self._pooled is not None:
            pooled, self._pooled, self._conn = self._pooled, None, None
            pooled.close()
