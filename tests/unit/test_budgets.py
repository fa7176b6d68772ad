"""Budgets in money and keys with their own limits, on the in-process limiter: the 429 once a
budget is spent, one alert per threshold crossed, spend seeded from the ledger after a
restart, a key's RPM/TPM/models within the tenant's, and the alert's CloudEvent and
webhook signature."""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

import pytest

from outrigger.config.llm import TenancySettings
from outrigger.llm.types import ChatRequest, Usage
from outrigger.proxy.alerts import ALERT_TYPE, BudgetAlert, MemoryAlerts, signature
from outrigger.proxy.budgets import BudgetExceeded, BudgetStep
from outrigger.proxy.context import CallContext, Completion, RateLimited, Reply
from outrigger.proxy.limits import MemoryLimiter
from outrigger.proxy.quota import LimitStep, ModelNotAllowed
from outrigger.storage.tenants import KeyLimits, Tenant

NOW = 1_780_000_000.0  # 2026-05-28, mid-month


def tenancy(**extra: Any) -> TenancySettings:
    return TenancySettings.model_validate(
        {"tiers": {"paid": {"monthly_budget_usd": 10.0}, "open": {}}, **extra}
    )


def call(
    tenant: Tenant | None = None, feature: str = "chat", model: str = "chat-default"
) -> CallContext:
    request = ChatRequest(model, [{"role": "user", "content": "hello there"}], {})
    return CallContext(tenant or Tenant("acme", "Acme", "paid"), feature, request)


class Spend:
    """The ledger's answer to 'how much was spent', per (tenant, feature, key)."""

    def __init__(self, spent: dict[tuple[str | None, str | None], float] | None = None) -> None:
        self.spent = spent or {}
        self.asked: list[tuple[str, str, str | None, str | None]] = []

    async def __call__(
        self, tenant: str, month: str, feature: str | None, key_id: str | None
    ) -> float:
        self.asked.append((tenant, month, feature, key_id))
        return self.spent.get((feature, key_id), 0.0)


def step(settings: TenancySettings, spend: Spend | None = None) -> tuple[BudgetStep, MemoryAlerts]:
    alerts = MemoryAlerts()
    limiter = MemoryLimiter(lambda: NOW)
    return BudgetStep(limiter, settings, spend or Spend(), alerts, lambda: NOW), alerts


async def spend_once(budgets: BudgetStep, ctx: CallContext, usd: float) -> None:
    """One admitted call that cost ``usd`` (the recorder sets the cost, then finishers run)."""

    async def answer(admitted: CallContext) -> Reply:
        return Completion({})

    await budgets(ctx, answer)
    ctx.cost_usd = usd
    for finisher in ctx.finishers:
        await finisher(ctx)


async def test_a_tenant_is_refused_once_its_budget_is_spent() -> None:
    budgets, _ = step(tenancy())
    for _ in range(5):
        await spend_once(budgets, call(), 1.99)  # 9.95 of 10
    await spend_once(budgets, call(), 0.05)  # exactly 10: admitted, as it was under
    with pytest.raises(BudgetExceeded) as refused:
        await spend_once(budgets, call(), 0.01)
    assert refused.value.status == 429 and refused.value.code == "budget_exceeded"
    assert "10.00 USD for tenant 'acme'" in str(refused.value)
    assert refused.value.retry_after_s is not None and refused.value.retry_after_s > 86_400


async def test_each_threshold_sends_exactly_one_alert() -> None:
    budgets, alerts = step(tenancy())
    for _ in range(12):
        try:
            await spend_once(budgets, call(), 0.95)
        except BudgetExceeded:
            break
    shares = [a.threshold for a in alerts.sent]
    assert shares == [0.8, 1.0]
    first = alerts.sent[0]
    assert (first.tenant, first.scope, first.name, first.budget_usd) == (
        "acme",
        "tenant",
        "acme",
        10,
    )
    assert first.spent_usd == pytest.approx(8.55)  # the 9th call of 0.95 crossed 8.00
    assert first.month == "2026-05"


async def test_spend_is_seeded_from_the_ledger_once_per_counter() -> None:
    spend = Spend({(None, None): 9.5})  # spent before this process started
    budgets, alerts = step(tenancy(), spend)
    await spend_once(budgets, call(), 0.4)
    assert [a.threshold for a in alerts.sent] == []  # 9.9: no line crossed since the seed
    await spend_once(budgets, call(), 0.2)
    assert [a.threshold for a in alerts.sent] == [1.0]
    with pytest.raises(BudgetExceeded):
        await spend_once(budgets, call(), 0.1)
    assert len(spend.asked) == 1  # the ledger is asked once, not on every call


async def test_a_tenant_of_its_own_budget_and_a_tier_without_one() -> None:
    budgets, _ = step(tenancy())
    rich = Tenant("rich", "Rich", "paid", budget_usd=100.0)
    await spend_once(budgets, call(rich), 50.0)  # over the tier's 10, within its own 100
    free = Tenant("free", "Free", "open")
    await spend_once(budgets, call(free), 1e6)
    await spend_once(budgets, call(free), 1e6)  # no budget: never refused
    broke = Tenant("broke", "Broke", "paid", budget_usd=0.0)
    with pytest.raises(BudgetExceeded):
        await spend_once(budgets, call(broke), 0.0)


async def test_key_and_feature_budgets_hold_within_the_tenants() -> None:
    settings = tenancy(features={"drafting": {"monthly_budget_usd": 2.0}})
    budgets, alerts = step(settings)
    key = Tenant("acme", "Acme", "paid", key_id="k1", key_limits=KeyLimits(budget_usd=1.0))
    await spend_once(budgets, call(key), 1.0)
    with pytest.raises(BudgetExceeded, match="key 'ork-k1'"):
        await spend_once(budgets, call(key), 0.1)
    other = Tenant("acme", "Acme", "paid", key_id="k2")
    await spend_once(budgets, call(other), 0.1)  # another key of the tenant still works
    await spend_once(budgets, call(other, feature="drafting"), 2.0)
    with pytest.raises(BudgetExceeded, match="feature 'drafting'"):
        await spend_once(budgets, call(other, feature="drafting"), 0.1)
    await spend_once(budgets, call(other, feature="chat"), 0.1)
    scopes = {(a.scope, a.threshold) for a in alerts.sent}
    assert {("key", 0.8), ("key", 1.0), ("feature", 0.8), ("feature", 1.0)} <= scopes


async def test_free_calls_cost_nothing_and_cross_nothing() -> None:
    budgets, alerts = step(tenancy())
    for _ in range(50):
        await spend_once(budgets, call(), 0.0)  # cache hits, fallbacks
    assert alerts.sent == []


def limit_step(settings: TenancySettings) -> LimitStep:
    async def no_calls(tenant: str, month: str) -> int:
        return 0

    return LimitStep(MemoryLimiter(lambda: NOW), settings, no_calls, lambda: NOW)


async def admitted(limits: LimitStep, ctx: CallContext) -> None:
    async def answer(c: CallContext) -> Reply:
        c.usage = Usage(10, 10)
        return Completion({})

    await limits(ctx, answer)
    for finisher in ctx.finishers:
        await finisher(ctx)


async def test_a_keys_own_rpm_and_tpm_apply_within_the_tenants() -> None:
    limits = limit_step(tenancy())
    slow = Tenant("acme", "Acme", "open", key_id="k1", key_limits=KeyLimits(rpm=3))
    for _ in range(3):
        await admitted(limits, call(slow))
    with pytest.raises(RateLimited, match="key_rpm 3"):
        await admitted(limits, call(slow))
    await admitted(limits, call(Tenant("acme", "Acme", "open", key_id="k2")))  # other key
    thrifty = Tenant("acme", "Acme", "open", key_id="k3", key_limits=KeyLimits(tpm=22))
    await admitted(limits, call(thrifty))  # 20 tokens counted after the call
    with pytest.raises(RateLimited, match="key_tpm 22"):
        await admitted(limits, call(thrifty))  # 20 + the next estimate (3) would pass 22


async def test_a_key_limited_to_some_models_is_refused_the_others() -> None:
    limits = limit_step(tenancy())
    key = Tenant(
        "acme", "Acme", "open", key_id="k1", key_limits=KeyLimits(models=frozenset({"cheap"}))
    )
    await admitted(limits, call(key, model="cheap"))
    with pytest.raises(ModelNotAllowed) as refused:
        await admitted(limits, call(key, model="chat-default"))
    assert refused.value.status == 403 and "may use: cheap" in str(refused.value)


def test_an_alert_is_a_cloudevent_with_a_stable_id_and_a_verifiable_signature() -> None:
    alert = BudgetAlert("acme", "tenant", "acme", "2026-05", 0.8, 8.2, 10.0)
    event = alert.cloudevent()
    assert event["type"] == ALERT_TYPE and event["specversion"] == "1.0"
    assert event["data"]["spent_usd"] == 8.2 and event["subject"] == "tenant/acme"
    again = BudgetAlert("acme", "tenant", "acme", "2026-05", 0.8, 8.9, 10.0)
    assert again.id == alert.id  # the same line crossed: the same id, for de-duplication
    assert BudgetAlert("acme", "tenant", "acme", "2026-05", 1.0, 10, 10).id != alert.id
    body = json.dumps(event).encode()
    expected = hmac.new(b"s3cret", body, hashlib.sha256).hexdigest()
    assert signature("s3cret", body) == f"sha256={expected}"


def test_budget_settings_refuse_shares_outside_zero_to_one_and_unsigned_webhooks() -> None:
    with pytest.raises(ValueError, match="alert_at"):
        TenancySettings.model_validate({"budgets": {"alert_at": [1.5]}})
    with pytest.raises(ValueError, match="webhook_secret_file"):
        TenancySettings.model_validate({"budgets": {"webhook_url": "http://127.0.0.1:9/"}})
