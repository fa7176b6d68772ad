"""The database handle: URLs, SQLite set-up, Alembic migrations, and the SQL store's writes."""

from __future__ import annotations

import asyncio
import multiprocessing
import sqlite3
import threading
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from outrigger.errors import ConfigError
from outrigger.storage.db import (
    SQLITE_BUSY_TIMEOUT_MS,
    Database,
    head_revision,
    normalise_url,
    wal_mode,
)
from outrigger.storage.inline import InlineSqlite
from outrigger.storage.schema import metadata
from outrigger.storage.sql import SqlIdempotencyStore

REPLICAS = 6


def test_postgres_urls_use_psycopg3() -> None:
    assert normalise_url("postgresql://u:p@h/db") == "postgresql+psycopg://u:p@h/db"
    assert normalise_url("postgresql+psycopg2://u@h/db") == "postgresql+psycopg://u@h/db"
    assert normalise_url("postgres://u@h:5433/db") == "postgresql+psycopg://u@h:5433/db"
    assert normalise_url("sqlite:///x.db") == "sqlite:///x.db"


def test_a_bare_postgresql_url_gets_a_psycopg_engine(postgres_url: str) -> None:
    db = Database(postgres_url.replace("postgresql+psycopg://", "postgresql://"))
    assert db.engine.dialect.driver == "psycopg"
    with db.engine.connect() as conn:
        assert conn.execute(sa.text("select 1")).scalar_one() == 1
    db.dispose()


@pytest.mark.parametrize("url", ["sqlite://", "sqlite:///:memory:"])
def test_in_memory_sqlite_is_refused(url: str) -> None:
    with pytest.raises(ConfigError, match="memory://"):
        Database(url)


def test_sqlite_file_gets_its_directory_and_pragmas(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "dir" / "db.sqlite3"
    db = Database(f"sqlite:///{path}")
    with db.engine.connect() as conn:
        pragma = lambda name: conn.exec_driver_sql(f"PRAGMA {name}").scalar_one()  # noqa: E731
        assert pragma("journal_mode") == "wal"
        assert pragma("synchronous") == 1  # NORMAL
        assert pragma("busy_timeout") == SQLITE_BUSY_TIMEOUT_MS
    assert path.exists()
    db.dispose()


def test_migrations_are_idempotent_and_reach_head(db_url: str) -> None:
    db = Database(db_url)
    assert db.current_revision() is None
    db.upgrade()
    db.upgrade()
    assert db.current_revision() == head_revision()
    with db.engine.connect() as conn:
        versions = conn.execute(sa.text("select version_num from alembic_version")).all()
        tables = set(sa.inspect(conn).get_table_names())
    assert [v for (v,) in versions] == [head_revision()]
    assert {"idempotency_keys", "alembic_version"} <= tables
    db.dispose()


def test_migrations_match_the_tables_in_schema_py(db_url: str) -> None:
    db = Database(db_url)
    db.upgrade()
    with db.engine.connect() as conn:
        drift = compare_metadata(MigrationContext.configure(conn), metadata)
    db.dispose()
    assert drift == []


def _start_replica(url: str, barrier: Any) -> None:
    db = Database(url)
    barrier.wait(60)
    try:
        db.upgrade()
    finally:
        db.dispose()


def test_replicas_starting_together_all_migrate(db_url: str) -> None:
    # Separate processes, like real replicas (Alembic cannot run two upgrades in one process).
    spawn = multiprocessing.get_context("spawn")
    barrier = spawn.Barrier(REPLICAS)
    replicas = [
        spawn.Process(target=_start_replica, args=(db_url, barrier)) for _ in range(REPLICAS)
    ]
    for replica in replicas:
        replica.start()
    for replica in replicas:
        replica.join(90)
    assert [r.exitcode for r in replicas] == [0] * REPLICAS
    db = Database(db_url)
    assert db.current_revision() == head_revision()
    db.dispose()


async def test_a_failed_write_fails_its_callers_and_does_not_stall_later_puts(
    tmp_path: Path,
) -> None:
    db = Database(f"sqlite:///{tmp_path / 'db.sqlite3'}")
    db.upgrade()
    store = SqlIdempotencyStore(db, 60, inline=False)  # the group-committed path
    in_flight, release = threading.Event(), threading.Event()
    failures = [RuntimeError("disk full")]

    def fail_first_insert(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if statement.startswith("INSERT") and failures:
            in_flight.set()
            release.wait(10)
            raise failures.pop()

    sa.event.listen(db.engine, "before_cursor_execute", fail_first_insert)
    first = asyncio.create_task(store.put("a", "1"))
    assert await asyncio.to_thread(in_flight.wait, 10)
    second = asyncio.create_task(store.put("b", "2"))  # queued behind the failing write
    await asyncio.sleep(0)
    release.set()
    with pytest.raises(RuntimeError, match="disk full"):
        await first
    await asyncio.wait_for(second, 10)  # before the fix this hung until some later put
    assert await store.get("b") == "2"
    assert await store.get("a") is None
    await store.close()


class BusyCursor:
    """Answers "database is locked" to the WAL switch ``busy`` times, then accepts it."""

    def __init__(self, busy: int, message: str = "database is locked") -> None:
        self.busy, self.message, self.calls = busy, message, 0

    def execute(self, sql: str) -> None:
        self.calls += 1
        if self.calls <= self.busy:
            raise sqlite3.OperationalError(self.message)


def test_the_wal_switch_is_retried_while_another_process_holds_the_file() -> None:
    cursor = BusyCursor(busy=3)
    wal_mode(cursor)
    assert cursor.calls == 4
    with pytest.raises(sqlite3.OperationalError, match="disk I/O"):
        wal_mode(BusyCursor(busy=1, message="disk I/O error"))  # not a lock: at once


def inline_store(tmp_path: Path) -> tuple[SqlIdempotencyStore, InlineSqlite]:
    """A store on a SQLite file, which writes on the loop while the lock is free."""
    db = Database(f"sqlite:///{tmp_path / 'db.sqlite3'}")
    db.upgrade()
    store = SqlIdempotencyStore(db, 60)
    assert store.inline is not None
    return store, store.inline


async def test_a_put_on_sqlite_is_written_on_the_loop_and_checkpointed_off_it(
    tmp_path: Path,
) -> None:
    store, inline = inline_store(tmp_path)
    inline.checkpoint_every = 4
    checkpoints: list[str] = []
    original = inline.checkpoint
    inline.checkpoint = lambda: (checkpoints.append(threading.current_thread().name),
                                       original())[1]  # fmt: skip
    loop_thread = threading.current_thread().name
    for n in range(9):
        await store.put(f"k{n}", str(n))
    await asyncio.sleep(0.1)
    assert (inline.writes, inline.refused) == (9, 0)
    assert len(checkpoints) == 2 and loop_thread not in checkpoints
    other = sqlite3.connect(tmp_path / "db.sqlite3")  # committed: another connection sees it
    assert other.execute("SELECT count(*) FROM idempotency_keys").fetchone() == (9,)
    other.close()
    await store.close()


async def test_a_put_waits_off_the_loop_while_another_connection_holds_the_lock(
    tmp_path: Path,
) -> None:
    store, inline = inline_store(tmp_path)
    holder = sqlite3.connect(tmp_path / "db.sqlite3", isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # another process writing: the write lock is taken
    put = asyncio.create_task(store.put("k", "v"))
    ticks = 0
    for _ in range(20):  # the loop keeps running while the put waits for the lock
        await asyncio.sleep(0.01)
        ticks += 1
    assert ticks == 20 and not put.done()
    assert inline.refused == 1
    holder.execute("COMMIT")
    await asyncio.wait_for(put, 10)
    assert await store.get("k") == "v"
    holder.close()
    await store.close()
