"""Monthly budgets in USD, per tenant, per API key and per tenant and feature.

Spend is counted in micro-USD in the limiter's monthly counters (Redis when replicas share
one), from the cost each call is recorded with; a process seeds a counter from the ledger the
first time it sees it in a month, so a restart forgets nothing. Before a call, a budget that
is all spent refuses it (429 ``budget_exceeded``, ``Retry-After`` until the month ends);
after it, the spend is added, and the one call whose cost crosses a share in
``tenancy.budgets.alert_at`` sends the alert for it (the counter's increment is atomic, so
exactly one call crosses each line, whichever replica it ran on).

A call admitted while a little of the budget was left may overshoot it by its own cost:
the price of a call is known only once it is answered.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from outrigger.config.llm import TenancySettings
from outrigger.proxy.alerts import AlertSink, BudgetAlert
from outrigger.proxy.chain import Next
from outrigger.proxy.context import CallContext, QuotaExceeded, Reply
from outrigger.proxy.limits import (
    SLOT_S,
    Limiter,
    LimiterUnavailable,
    Window,
    calendar_month,
    month_of,
)
from outrigger.proxy.quota import LimiterDown
from outrigger.storage.ledger import LedgerStore
from outrigger.storage.tenants import KeyInfo, Tenant

MICROS = 1_000_000
log = logging.getLogger(__name__)
#: (tenant, month, feature or None, key id or None) -> USD spent, from the ledger.
Spend = Callable[[str, str, str | None, str | None], Awaitable[float]]


class BudgetExceeded(QuotaExceeded):
    code = "budget_exceeded"


@dataclass(frozen=True)
class Budget:
    scope: str  # tenant | key | feature
    name: str
    usd: float
    window: Window
    feature: str | None = None
    key_id: str | None = None


def _window(key: str, usd: float, now: float) -> Window:
    """A monthly counter in micro-USD that refuses once it reaches the budget: checked
    with amount 0, so the limit is one micro-USD under it."""
    return calendar_month(key, round(usd * MICROS) - 1, 0, now, name="budget")


def tenant_budget(tenant: Tenant, settings: TenancySettings) -> float | None:
    """The tenant's own monthly budget, else its tier's (None: no budget)."""
    if tenant.budget_usd is not None:
        return tenant.budget_usd
    tier = settings.tiers.get(tenant.tier)
    return tier.monthly_budget_usd if tier is not None else None


def budgets_of(ctx: CallContext, settings: TenancySettings, now: float) -> list[Budget]:
    tenant = ctx.tenant
    base = f"or:{{{tenant.id}}}:usd"  # hash tag: one Redis Cluster slot per tenant
    found: list[Budget] = []
    usd = tenant_budget(tenant, settings)
    if usd is not None:
        found.append(Budget("tenant", tenant.id, usd, _window(base, usd, now)))
    limits = tenant.key_limits
    if limits is not None and limits.budget_usd is not None and tenant.key_id is not None:
        usd = limits.budget_usd
        window = _window(f"{base}:k:{tenant.key_id}", usd, now)
        found.append(Budget("key", f"ork-{tenant.key_id}", usd, window, key_id=tenant.key_id))
    feature = settings.features.get(ctx.feature)
    if feature is not None and feature.monthly_budget_usd is not None:
        usd = feature.monthly_budget_usd
        window = _window(f"{base}:f:{ctx.feature}", usd, now)
        found.append(Budget("feature", ctx.feature, usd, window, feature=ctx.feature))
    return found


class BudgetStep:
    def __init__(
        self,
        limiter: Limiter,
        settings: TenancySettings,
        spend: Spend,
        alerts: AlertSink,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.limiter = limiter
        self.settings = settings
        self._spend = spend
        self.alerts = alerts
        self._clock = clock
        self._seeded: set[str] = set()

    async def _seed(self, ctx: CallContext, budget: Budget, month: str) -> None:
        marker = f"{budget.window.slots[0]}"  # the key names the month
        if marker in self._seeded:
            return
        usd = await self._spend(ctx.tenant.id, month, budget.feature, budget.key_id)
        await self.limiter.seed(budget.window, round(usd * MICROS))
        self._seeded.add(marker)

    async def __call__(self, ctx: CallContext, call_next: Next) -> Reply:
        now = self._clock()
        budgets = budgets_of(ctx, self.settings, now)
        if not budgets:
            return await call_next(ctx)
        month = month_of(now)
        try:
            for budget in budgets:
                await self._seed(ctx, budget, month)
            refusal = await self.limiter.acquire([b.window for b in budgets])
        except LimiterUnavailable as exc:
            raise LimiterDown(f"{exc}; try again shortly", retry_after_s=SLOT_S) from exc
        if refusal is not None:
            spent = next(b for b in budgets if b.window == refusal.window)
            raise BudgetExceeded(
                f"the monthly budget of {spent.usd:.2f} USD for {spent.scope} "
                f"{spent.name!r} is spent",
                retry_after_s=refusal.retry_after_s,
            )
        ctx.finishers.append(lambda done: self._count(done, budgets, month))
        return await call_next(ctx)

    async def _count(self, ctx: CallContext, budgets: list[Budget], month: str) -> None:
        # Rounded up: a call too cheap for one micro-USD still counts (the ledger counts it).
        micros = math.ceil(ctx.cost_usd * MICROS)
        if micros <= 0:
            return
        for budget in budgets:
            try:
                total = await self.limiter.add(budget.window, micros)
            except LimiterUnavailable as exc:  # the others are still counted
                log.warning("%s %s: spend not counted: %s", budget.scope, budget.name, exc)
                continue
            before = total - micros
            for share in self.settings.budgets.alert_at:
                line = share * budget.usd * MICROS
                if before < line <= total:
                    self.alerts.send(
                        BudgetAlert(
                            ctx.tenant.id, budget.scope, budget.name, month, share,
                            round(total / MICROS, 6), budget.usd,
                        )
                    )  # fmt: skip


@dataclass(frozen=True)
class BudgetLine:
    """One budget and what was spent against it in a month (from the ledger)."""

    scope: str
    name: str
    budget_usd: float
    spent_usd: float

    def as_dict(self) -> dict[str, Any]:
        used = self.spent_usd / self.budget_usd if self.budget_usd else 1.0
        return {
            "scope": self.scope,
            "name": self.name,
            "budget_usd": self.budget_usd,
            "spent_usd": round(self.spent_usd, 6),
            "remaining_usd": round(max(0.0, self.budget_usd - self.spent_usd), 6),
            "used": round(used, 4),
        }


def budget_lines(
    tenant: Tenant,
    settings: TenancySettings,
    ledger: LedgerStore,
    month: str,
    keys: Sequence[KeyInfo] = (),
) -> list[BudgetLine]:
    """The tenant's budgets (its own, the calling key's or ``keys``', its features') with
    their spend in ``month``. Blocking: reads the ledger."""
    lines = []
    usd = tenant_budget(tenant, settings)
    if usd is not None:
        lines.append(BudgetLine("tenant", tenant.id, usd, ledger.spend(tenant.id, month)))
    owned = [(tenant.key_id, tenant.key_limits)] if tenant.key_id else []
    owned += [(k.id, k.limits) for k in keys]
    for key_id, limits in owned:
        if limits is not None and limits.budget_usd is not None:
            spent = ledger.spend(tenant.id, month, key_id=key_id)
            lines.append(BudgetLine("key", f"ork-{key_id}", limits.budget_usd, spent))
    for feature, config in sorted(settings.features.items()):
        if config.monthly_budget_usd is not None:
            spent = ledger.spend(tenant.id, month, feature=feature)
            lines.append(BudgetLine("feature", feature, config.monthly_budget_usd, spent))
    return lines
