"""The contract every ``IdempotencyStore`` keeps: memory, SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
import sqlalchemy as sa

from outrigger.storage.base import IdempotencyStore
from outrigger.storage.factory import open_database
from outrigger.storage.memory import MemoryIdempotencyStore
from outrigger.storage.sql import SqlIdempotencyStore


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


@dataclass
class StoreKit:
    name: str
    clock: Clock
    open: Callable[[], IdempotencyStore]
    durable: bool


def _pg_schema_url(base: str) -> tuple[str, str]:
    schema = f"t_{uuid.uuid4().hex[:12]}"
    engine = sa.create_engine(base)
    with engine.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    engine.dispose()
    return f"{base}?options=-csearch_path%3D{schema}", schema


@pytest.fixture(params=["memory", "sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def store_kit(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[StoreKit]:
    clock = Clock()
    cleanup: Callable[[], None] = lambda: None  # noqa: E731
    if request.param == "memory":
        shared = MemoryIdempotencyStore(60, clock)
        yield StoreKit("memory", clock, lambda: shared, durable=False)
        return
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'idem.sqlite3'}"
    else:
        base = request.getfixturevalue("postgres_url")
        url, schema = _pg_schema_url(base)

        def cleanup() -> None:
            engine = sa.create_engine(base)
            with engine.begin() as conn:
                conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
            engine.dispose()

    yield StoreKit(
        request.param, clock, lambda: SqlIdempotencyStore(open_database(url), 60, clock), True
    )
    cleanup()


class TestIdempotencyContract:
    async def test_missing_key(self, store_kit: StoreKit) -> None:
        store = store_kit.open()
        assert await store.get("nope") is None
        assert await store.purge_expired() == 0
        await store.close()

    async def test_put_get_and_last_write_wins(self, store_kit: StoreKit) -> None:
        store = store_kit.open()
        await store.put("k", "v1")
        assert await store.get("k") == "v1"
        await store.put("k", "v2")
        assert await store.get("k") == "v2"
        assert await store.get("K") is None  # keys are exact
        await store.close()

    async def test_entries_expire_and_are_purged(self, store_kit: StoreKit) -> None:
        store = store_kit.open()
        await store.put("old", "x")
        store_kit.clock.now += 30
        await store.put("young", "y")
        store_kit.clock.now += 31
        assert await store.get("old") is None
        assert await store.get("young") == "y"
        assert await store.purge_expired() == 1
        assert await store.get("young") == "y"  # purge keeps live entries
        store_kit.clock.now += 100
        assert await store.purge_expired() == 1
        assert await store.get("young") is None
        assert await store.purge_expired() == 0
        await store.close()

    async def test_an_entry_is_gone_exactly_at_its_ttl(self, store_kit: StoreKit) -> None:
        store = store_kit.open()
        await store.put("k", "v")
        store_kit.clock.now += 59.5
        assert await store.get("k") == "v"
        store_kit.clock.now += 0.5  # now == put time + ttl
        assert await store.get("k") is None
        assert await store.purge_expired() == 1
        await store.close()

    async def test_a_new_put_renews_the_ttl(self, store_kit: StoreKit) -> None:
        store = store_kit.open()
        await store.put("k", "v1")
        store_kit.clock.now += 50
        await store.put("k", "v2")
        store_kit.clock.now += 50
        assert await store.get("k") == "v2"
        assert await store.purge_expired() == 0
        await store.close()

    async def test_many_keys(self, store_kit: StoreKit) -> None:
        store = store_kit.open()
        for i in range(50):
            await store.put(f"seq{i}", f"v{i}")
        # more concurrent look-ups than one batched SELECT ... IN takes, with misses among them
        await asyncio.gather(*(store.put(f"k{i}", f"v{i}") for i in range(600)))
        keys = [f"k{i}" if i % 7 else f"missing{i}" for i in range(600)]
        values = await asyncio.gather(*(store.get(k) for k in keys))
        assert values == [f"v{i}" if i % 7 else None for i in range(600)]
        assert [await store.get(f"seq{i}") for i in range(50)] == [f"v{i}" for i in range(50)]
        await store.close()

    async def test_concurrent_puts_to_one_key(self, store_kit: StoreKit) -> None:
        store = store_kit.open()
        await asyncio.gather(*(store.put("same", f"v{i}") for i in range(20)))
        assert await store.get("same") in {f"v{i}" for i in range(20)}
        await store.close()

    async def test_a_cancelled_put_leaves_the_others_alone(self, store_kit: StoreKit) -> None:
        store = store_kit.open()
        puts = [asyncio.create_task(store.put(f"k{i}", f"v{i}")) for i in range(20)]
        await asyncio.sleep(0)  # every put has queued its key (SQL: one write is in flight)
        puts[5].cancel()
        results = await asyncio.gather(*puts, return_exceptions=True)
        assert [r for i, r in enumerate(results) if i != 5] == [None] * 19
        others = await asyncio.gather(*(store.get(f"k{i}") for i in range(20) if i != 5))
        assert others == [f"v{i}" for i in range(20) if i != 5]
        await store.close()

    async def test_survives_reopen(self, store_kit: StoreKit) -> None:
        if not store_kit.durable:
            pytest.skip("the memory store keeps nothing across processes by design")
        store = store_kit.open()
        await store.put("kept", "yes")
        await store.close()
        again = store_kit.open()
        assert await again.get("kept") == "yes"
        await again.close()
