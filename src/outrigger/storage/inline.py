"""Short writes to a local SQLite file on the event loop, while nobody else holds its lock.

A write through the database threads costs a hop there and back (about a tenth of a
millisecond of loop time each way) for a commit that, on a WAL file with
``synchronous=NORMAL``, takes a few tens of microseconds: it appends to the log, with no
``fsync``. ``InlineSqlite`` keeps one connection of its own, used only on the loop, that
never waits: its busy timeout is 0, so when another connection (a database thread, another
process sharing the file) holds the write lock the write is refused at once and the caller
takes the threaded path. Its own commits never checkpoint (the step that ``fsync``s): every
``checkpoint_every`` writes it asks for a passive checkpoint, which the caller runs on a
database thread.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import Connection, text
from sqlalchemy.exc import OperationalError

from outrigger.storage.db import Database

#: SQLite's answers when another connection holds the lock it needs.
_BUSY = ("database is locked", "database table is locked", "database is busy")


class InlineSqlite:
    def __init__(self, db: Database, checkpoint_every: int = 1000) -> None:
        self.db = db
        self.checkpoint_every = checkpoint_every
        self._conn: Connection | None = None
        self.writes = 0
        self.refused = 0  # writes handed to the threaded path because the lock was taken

    def _connection(self) -> Connection:
        if self._conn is None:
            conn = self.db.engine.connect()
            conn.exec_driver_sql("PRAGMA busy_timeout=0")
            conn.exec_driver_sql("PRAGMA wal_autocheckpoint=0")
            conn.commit()
            self._conn = conn
        return self._conn

    def write(self, fn: Callable[[Connection], None]) -> bool:
        """Run ``fn`` in a transaction and commit; False (nothing written) when the lock is
        taken. Other errors are raised."""
        conn = self._connection()
        try:
            with conn.begin():
                fn(conn)
        except OperationalError as exc:
            if not any(busy in str(exc.orig) for busy in _BUSY):
                raise
            self.refused += 1
            return False
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
        if self._conn is not None:
            conn, self._conn = self._conn, None
            conn.close()
