"""A database handle: a SQLAlchemy engine, Alembic migrations, and off-loop execution."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

from alembic import command
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.engine import make_url

from outrigger.errors import ConfigError
from outrigger.optional import require

T = TypeVar("T")
MIGRATIONS = Path(__file__).parent / "migrations"
SQLITE_BUSY_TIMEOUT_MS = 10_000  # every SQLite file we open (sqlite_setup)
# Any constant bigint; PostgreSQL advisory locks are per database, so start-ups serialise
# ("outriger").
_PG_MIGRATION_LOCK = 0x6F75747269676572
# Alembic's ``op`` and ``context`` are process-wide proxies: two upgrades running at once in one
# process (two databases, two threads) would run each other's migrations on the wrong connection.
_ALEMBIC_LOCK = threading.Lock()


def normalise_url(url: str) -> str:
    """Use psycopg 3 for PostgreSQL whatever driver the URL names (or none)."""
    parsed = make_url(url)
    if parsed.get_backend_name() in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed.render_as_string(hide_password=False)


def alembic_config() -> Config:
    """The Alembic configuration, built in code (no alembic.ini: works from a wheel)."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


def head_revision() -> str:
    """The newest migration; fails when the migrations have branched (two heads)."""
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    if head is None:
        raise RuntimeError(f"no migrations in {MIGRATIONS}")
    return head


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    sqlite_setup(cursor)
    cursor.close()


def sqlite_setup(db: Any, synchronous: str = "NORMAL") -> None:
    """What every SQLite file we open gets, on ``db`` (a sqlite3 connection or cursor): the
    busy timeout, WAL (several processes share the file), and ``synchronous``."""
    db.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    wal_mode(db)
    db.execute(f"PRAGMA synchronous={synchronous}")


def wal_mode(cursor: Any) -> None:
    """Switch the database file to WAL. The switch needs the file to itself and SQLite
    answers "database is locked" at once, without waiting, while another connection holds
    it (replicas starting together on one file): retry until the busy timeout."""
    deadline = time.monotonic() + SQLITE_BUSY_TIMEOUT_MS / 1000
    while True:
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.02)


def lock_writes(connection: Connection, key: int) -> None:
    """Serialise this transaction with every other one taking the same ``key``, across
    processes: a PostgreSQL advisory lock, or SQLite's database write lock."""
    if connection.dialect.name == "postgresql":
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})
    elif connection.dialect.name == "sqlite":
        connection.exec_driver_sql("BEGIN IMMEDIATE")  # take the write lock before reading


class Database:
    def __init__(self, url: str, *, threads: int = 4) -> None:
        self.url = normalise_url(url)
        parsed = make_url(self.url)
        backend = parsed.get_backend_name()
        if backend == "postgresql":
            require("psycopg", "postgres")
        is_sqlite = backend == "sqlite"
        if is_sqlite:
            if parsed.database in (None, "", ":memory:"):
                # Each worker thread would get its own empty database.
                raise ConfigError("storage.url: in-memory SQLite is not supported; use memory://")
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        # pre-ping guards against dropped server connections; a file has none to drop.
        self.engine: Engine = create_engine(self.url, pool_pre_ping=not is_sqlite)
        if is_sqlite:
            event.listen(self.engine, "connect", _sqlite_pragmas)
        self._executor = ThreadPoolExecutor(threads, thread_name_prefix="outrigger-db")

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    def upgrade(self) -> None:
        """Run the Alembic migrations to head (idempotent; safe from concurrent processes)."""
        config = alembic_config()
        with _ALEMBIC_LOCK, self.engine.begin() as connection:
            lock_writes(connection, _PG_MIGRATION_LOCK)
            config.attributes["connection"] = connection
            command.upgrade(config, "head")

    def current_revision(self) -> str | None:
        """The migration the database is at (None before the first ``upgrade``)."""
        with self.engine.connect() as connection:
            return MigrationContext.configure(connection).get_current_revision()

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        """Run the blocking ``fn(*args)`` on the database threads, off the event loop."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, fn, *args)

    def dispose(self) -> None:
        """Wait for running calls, then close every connection (blocking)."""
        self._executor.shutdown(wait=True)
        self.engine.dispose()
