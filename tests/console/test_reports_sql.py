"""The console's SQL: the ledger per UTC day and per period, and console sessions, on
SQLite and on PostgreSQL."""

from __future__ import annotations

import calendar
from collections.abc import Iterator

import pytest

from outrigger.console.sessions import SessionStore
from outrigger.storage.db import Database
from outrigger.storage.factory import open_database
from outrigger.storage.ledger import LedgerRecord, LedgerReports, LedgerStore
from outrigger.storage.tenants import Tenant, TenantStore

DAY1 = calendar.timegm((2026, 3, 31, 23, 59, 0))  # the last minute of a month, UTC
DAY2 = DAY1 + 120  # two minutes later: the next day and month


@pytest.fixture
def db(db_url: str) -> Iterator[Database]:
    database = open_database(db_url)
    yield database
    database.dispose()


def row(n: int, ts: float, tenant: str, cost: float, cache: str = "miss") -> LedgerRecord:
    return LedgerRecord(f"id{n}", ts, "2026-03", tenant, "chat", "fast", "dep-a", 3, 4, cost,
                        5.0, cache, "ok", None)  # fmt: skip


def test_days_are_utc_days_and_totals_cover_the_period(db: Database) -> None:
    LedgerStore(db).write(
        [row(1, DAY1, "acme", 0.5), row(2, DAY2, "acme", 0.25, "hit"), row(3, DAY2, "bo", 1.0)]
    )
    reports = LedgerReports(db)
    lines = reports.daily(DAY1 - 10, DAY2 + 10)
    assert [(x.day, x.tenant_id, x.calls, x.cost_usd, x.cache_hits) for x in lines] == [
        ("2026-03-31", "acme", 1, 0.5, 0),
        ("2026-04-01", "acme", 1, 0.25, 1),
        ("2026-04-01", "bo", 1, 1.0, 0),
    ]
    assert [x.day for x in reports.daily(DAY1 - 10, DAY2 + 10, "bo")] == ["2026-04-01"]
    total = reports.totals(DAY2 - 60, DAY2 + 1, "acme")
    assert (total.calls, total.cost_usd, total.cache_hits) == (1, 0.25, 1)
    assert reports.totals(0, 1).calls == 0
    assert reports.spend_by_tenant(DAY1 - 10, DAY2 + 10) == {"acme": 0.75, "bo": 1.0}
    assert reports.spend_by_tenant(DAY2 - 1, DAY2 + 10) == {"acme": 0.25, "bo": 1.0}


def test_sessions_on_this_backend(db: Database) -> None:
    tenants = TenantStore(db)
    tenants.create_tenant(Tenant("ops", "Ops", "free"))
    _, info = tenants.create_key("ops", roles=frozenset({"admin"}))
    store = SessionStore(db, ttl_s=60, idle_s=60, operator_tenant="ops")
    token = store.open(info.id)
    session = store.get(token)
    assert session is not None and session.operator and session.can("admin")
    assert store.get(token + "x") is None
    store.close(token)
    assert store.get(token) is None
