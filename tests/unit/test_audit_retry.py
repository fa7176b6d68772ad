"""An audit batch whose commit went through but whose reply was lost (the connection killed
at that moment: ``pg_terminate_backend``, a network cut) fails for the writer, which hands
it over again. The records must not be appended twice: the trail holds each call once, and
the chain still verifies. (Found by the chaos benchmark's question "late, not never — and
not twice"; the ledger already skips ids it holds.)"""

from __future__ import annotations

import contextlib
import dataclasses
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa

from outrigger.storage.audit import AuditEntry, AuditStore
from outrigger.storage.db import Database
from outrigger.storage.factory import open_database
from outrigger.storage.writer import BackgroundWriter


@pytest.fixture
def db(db_url: str) -> Iterator[Database]:
    database = open_database(db_url)
    yield database
    database.dispose()


def entry(i: int) -> AuditEntry:
    return AuditEntry(
        time.time(), uuid.uuid4().hex, "acme", "chat", "chat-default", "primary", "m",
        f"{i:064x}", f"{i + 1:064x}", 10, 5, 0.001, "ok", None,
    )  # fmt: skip


def lose_the_next_commit_reply(db: Database) -> None:
    """The next transaction commits, then raises as a lost connection would."""
    real = db.engine.begin

    @contextlib.contextmanager
    def begin() -> Iterator[Any]:
        db.engine.begin = real  # type: ignore[method-assign]
        with real() as conn:
            yield conn
        raise sa.exc.OperationalError("COMMIT", {}, ConnectionError("reply lost"))

    db.engine.begin = begin  # type: ignore[method-assign]


async def test_a_batch_committed_before_its_failure_is_not_appended_again(db: Database) -> None:
    store = AuditStore(db)
    writer = BackgroundWriter("audit", store.append, db.run)
    first = [entry(i) for i in range(3)]
    for record in first:
        writer.add(record)
    lose_the_next_commit_reply(db)
    assert not await writer.flush()  # failed as far as the writer can tell: kept
    assert writer.pending == 3
    later = entry(9)
    writer.add(later)  # the retry carries new records too: those are written
    assert await writer.flush()
    calls = [r["call_id"] for r in store.records()]
    assert calls == [e.call_id for e in [*first, later]]
    assert store.verify() == (4, None)


async def test_a_batch_that_really_failed_is_written_on_the_retry(db: Database) -> None:
    store = AuditStore(db)
    real = db.engine.begin

    @contextlib.contextmanager
    def failing() -> Iterator[Any]:
        db.engine.begin = real  # type: ignore[method-assign]
        raise sa.exc.OperationalError("BEGIN", {}, ConnectionError("refused"))
        yield

    db.engine.begin = failing  # type: ignore[method-assign]
    batch = [entry(i) for i in range(2)]
    with pytest.raises(sa.exc.OperationalError):
        store.append(batch)
    store.append(batch)
    assert [r["call_id"] for r in store.records()] == [e.call_id for e in batch]
    assert store.verify() == (2, None)


@pytest.mark.postgres
async def test_a_record_the_database_refuses_is_set_aside_and_the_rest_written(
    pg_url: str,
) -> None:
    """A value too long for its column (PostgreSQL checks lengths) fails the whole batch;
    retried as it was, it would hold back every later record for ever. It is found, logged
    and set aside; its batch-mates and the records after it are written, the chain whole."""
    db = open_database(pg_url)
    try:
        store = AuditStore(db)
        told: list[str] = []
        writer = BackgroundWriter(
            "audit", store.append, db.run, on_reject=lambda: told.append("set aside")
        )
        records = [entry(i) for i in range(4)]
        poison = dataclasses.replace(records[1], alias="m" * 300)
        for record in (records[0], poison, *records[2:]):
            writer.add(record)
        assert await writer.flush()
        assert (writer.pending, writer.rejected, writer.written) == (0, 1, 3)
        assert told == ["set aside"]
        kept = [records[0], *records[2:]]
        assert [r["call_id"] for r in store.records()] == [e.call_id for e in kept]
        assert store.verify() == (3, None)
    finally:
        db.dispose()


async def test_a_data_error_not_about_one_record_keeps_every_record(db: Database) -> None:
    """Only a value too long for its column is one record's fault. Another data error (the
    chain's sequence out of range, a column narrowed by a migration) would refuse every
    record alike: they are kept for the retry (and the backlog bound stops new calls), never
    dropped one by one."""
    store = AuditStore(db)

    class OutOfRange(Exception):
        sqlstate = "22003"  # numeric_value_out_of_range, as psycopg reports it

    failing = True

    def sink(batch: list[AuditEntry]) -> None:
        if failing:
            raise sa.exc.DataError("INSERT", {}, OutOfRange("integer out of range"))
        store.append(batch)

    writer = BackgroundWriter("audit", sink, db.run)
    for i in range(3):
        writer.add(entry(i))
    assert not await writer.flush()
    assert (writer.pending, writer.rejected) == (3, 0)
    failing = False
    assert await writer.flush() and store.verify() == (3, None)
