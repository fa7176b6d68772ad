"""An audit batch whose commit went through but whose reply was lost (the connection killed
at that moment: ``pg_terminate_backend``, a network cut) fails for the writer, which hands
it over again. The records must not be appended twice: the trail holds each call once, and
the chain still verifies. (Found by the chaos benchmark's question "late, not never — and
not twice"; the ledger already skips ids it holds.)"""

from __future__ import annotations

import contextlib
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
