"""The cost ledger: one row per LLM call, and the usage reports built from it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import sqlalchemy as sa

from outrigger.storage.bulk import insert_rows
from outrigger.storage.db import Database
from outrigger.storage.schema import llm_calls
from outrigger.storage.statements import insert_skipping_duplicates


@dataclass(frozen=True)
class LedgerRecord:
    id: str
    ts: float
    month: str
    tenant_id: str
    feature: str
    alias: str
    deployment: str | None
    tokens_in: int
    tokens_out: int
    cost_usd: float
    latency_ms: float
    cache: str
    status: str
    trace_id: str | None
    #: Guard marks of the call, comma-separated (``injection``, ``injection_blocked``, ...).
    flags: str | None = None
    #: The API key the call came with (None: pipelines).
    key_id: str | None = None


@dataclass(frozen=True)
class UsageLine:
    feature: str
    alias: str
    calls: int
    tokens_in: int
    tokens_out: int
    cost_usd: float

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class LedgerStore:
    def __init__(self, db: Database) -> None:
        self.db = db
        self._skip_duplicates = insert_skipping_duplicates(db.dialect, llm_calls, "id")

    def write(self, records: Sequence[LedgerRecord]) -> None:
        """Insert a batch; a record already written (a retried flush) is skipped."""
        if not records:
            return
        rows = [vars(r) for r in records]  # flat records: no asdict deep copy
        with self.db.engine.begin() as conn:
            if self._skip_duplicates is not None:  # no look-up first
                insert_rows(
                    conn, llm_calls, rows, skip_duplicates_of="id", fallback=self._skip_duplicates
                )
                return
            ids = [r.id for r in records]
            seen = set(conn.scalars(sa.select(llm_calls.c.id).where(llm_calls.c.id.in_(ids))))
            fresh = [row for row in rows if row["id"] not in seen]
            if fresh:
                conn.execute(llm_calls.insert(), fresh)

    def usage(self, tenant_id: str, month: str) -> list[UsageLine]:
        """Calls, tokens and cost of one tenant in one month (YYYY-MM), per feature and alias."""
        c = llm_calls.c
        query = (
            sa.select(
                c.feature,
                c.alias,
                sa.func.count(),
                sa.func.sum(c.tokens_in),
                sa.func.sum(c.tokens_out),
                sa.func.sum(c.cost_usd),
            )
            .where(c.tenant_id == tenant_id, c.month == month)
            .group_by(c.feature, c.alias)
            .order_by(c.feature, c.alias)
        )
        with self.db.engine.connect() as conn:
            return [
                UsageLine(f, a, int(n), int(ti or 0), int(to or 0), float(cost or 0.0))
                for f, a, n, ti, to, cost in conn.execute(query)
            ]

    def count_calls(self, tenant_id: str, month: str) -> int:
        query = sa.select(sa.func.count()).where(
            llm_calls.c.tenant_id == tenant_id, llm_calls.c.month == month
        )
        with self.db.engine.connect() as conn:
            return int(conn.scalar(query) or 0)

    def spend(
        self,
        tenant_id: str,
        month: str,
        *,
        feature: str | None = None,
        key_id: str | None = None,
    ) -> float:
        """USD one tenant spent in one month, optionally only through one feature or key."""
        c = llm_calls.c
        query = sa.select(sa.func.sum(c.cost_usd)).where(c.tenant_id == tenant_id, c.month == month)
        if feature is not None:
            query = query.where(c.feature == feature)
        if key_id is not None:
            query = query.where(c.key_id == key_id)
        with self.db.engine.connect() as conn:
            return float(conn.scalar(query) or 0.0)


@dataclass(frozen=True)
class DayLine:
    """One UTC day of one tenant's calls through one feature and alias (and deployment)."""

    day: str  # YYYY-MM-DD, UTC
    tenant_id: str
    feature: str
    alias: str
    deployment: str | None
    calls: int
    tokens_in: int
    tokens_out: int
    cost_usd: float
    cache_hits: int


@dataclass(frozen=True)
class Totals:
    calls: int
    cost_usd: float
    cache_hits: int


def _day(dialect: str, ts: Any) -> Any:
    """The UTC day (YYYY-MM-DD) of a Unix time column, in SQL."""
    if dialect == "postgresql":
        return sa.func.to_char(sa.func.timezone("UTC", sa.func.to_timestamp(ts)), "YYYY-MM-DD")
    return sa.func.date(ts, "unixepoch")


class LedgerReports:
    """Reports over time for the console: per day, and totals of a period; ``tenant_id``
    None covers every tenant."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def daily(self, since: float, until: float, tenant_id: str | None = None) -> list[DayLine]:
        c = llm_calls.c
        day = _day(self.db.dialect, c.ts).label("day")
        hits = sa.func.sum(sa.case((c.cache == "hit", 1), else_=0))
        keys = (day, c.tenant_id, c.feature, c.alias, c.deployment)
        query = sa.select(
            *keys, sa.func.count(), sa.func.sum(c.tokens_in), sa.func.sum(c.tokens_out),
            sa.func.sum(c.cost_usd), hits,
        ).where(c.ts >= since, c.ts < until)  # fmt: skip
        if tenant_id is not None:
            query = query.where(c.tenant_id == tenant_id)
        query = query.group_by(*keys).order_by(*keys)
        with self.db.engine.connect() as conn:
            return [
                DayLine(
                    d,
                    t,
                    f,
                    a,
                    dep,
                    int(n),
                    int(ti or 0),
                    int(to or 0),
                    float(cost or 0.0),
                    int(h or 0),
                )
                for d, t, f, a, dep, n, ti, to, cost, h in conn.execute(query)
            ]

    def totals(self, since: float, until: float, tenant_id: str | None = None) -> Totals:
        c = llm_calls.c
        hits = sa.func.sum(sa.case((c.cache == "hit", 1), else_=0))
        query = sa.select(sa.func.count(), sa.func.sum(c.cost_usd), hits).where(
            c.ts >= since, c.ts < until
        )
        if tenant_id is not None:
            query = query.where(c.tenant_id == tenant_id)
        with self.db.engine.connect() as conn:
            n, cost, h = conn.execute(query).one()
        return Totals(int(n or 0), float(cost or 0.0), int(h or 0))

    def spend_by_tenant(self, since: float, until: float) -> dict[str, float]:
        """USD per tenant in the period, in one query."""
        c = llm_calls.c
        query = (
            sa.select(c.tenant_id, sa.func.sum(c.cost_usd))
            .where(c.ts >= since, c.ts < until)
            .group_by(c.tenant_id)
        )
        with self.db.engine.connect() as conn:
            return {t: float(cost or 0.0) for t, cost in conn.execute(query)}
