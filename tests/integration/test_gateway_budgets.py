"""Budgets in money through the real gateway, the real ``openai`` client and the machine's
RabbitMQ: a tenant crossing 80% of its budget produces exactly one alert event on the bus,
at 100% its calls are refused with 429 and the ledger stops growing; a key's own limits
(allowed models, RPM) hold within the tenant's."""

from __future__ import annotations

import asyncio
import json
import math
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openai
import pytest
import sqlalchemy as sa

from outrigger.bus.base import Subscription
from outrigger.bus.registry import open_bus
from outrigger.config.settings import Settings
from outrigger.storage.schema import llm_calls
from outrigger.storage.tenants import KeyLimits, Tenant
from tests.gateway_server import GatewayServer, llm_settings
from tests.rabbit_cleanup import delete_rabbit_objects
from tests.upstream import UpstreamThread

ALERTS = "outrigger.budget.#"


def priced_settings(data_dir: Path, upstream: UpstreamThread, **extra: Any) -> Settings:
    # 0.1 USD a token: each call of the same question costs the same few dollars.
    llm = {
        "deployments": {
            "up": {"provider": "up", "model": "m", "input_price": 1e5, "output_price": 1e5}
        }
    }
    return llm_settings(data_dir, {"up": upstream.url}, llm=llm, **extra)


def ask(gw: GatewayServer, key: str, model: str = "chat-default") -> Any:
    client = openai.OpenAI(base_url=f"{gw.url}/v1", api_key=key, max_retries=0)
    return client.chat.completions.create(
        model=model, messages=[{"role": "user", "content": "what is my balance?"}]
    )


def ledger_rows(gw: GatewayServer, tenant: str) -> int:
    with gw.proxy.db.engine.connect() as conn:
        query = sa.select(sa.func.count()).where(llm_calls.c.tenant_id == tenant)
        return int(conn.scalar(query) or 0)


async def collect(settings: Settings, subscription: Subscription, quiet_s: float) -> list[Any]:
    """The alert events on the subscription's queue until none came for ``quiet_s``."""
    bus, _ = open_bus(settings.bus, settings.data_dir)
    await bus.start()
    events = []
    try:
        stream = bus.consume(subscription, prefetch=10).__aiter__()
        while True:
            try:
                delivery = await asyncio.wait_for(stream.__anext__(), quiet_s)
            except TimeoutError:
                return events
            events.append(json.loads(delivery.message.body))
            await delivery.ack()
    finally:
        await bus.close()


async def declare(settings: Settings, subscription: Subscription) -> None:
    bus, _ = open_bus(settings.bus, settings.data_dir)
    await bus.start()
    try:
        await bus.declare(subscription)
    finally:
        await bus.close()


@pytest.fixture
def rabbit_bus(rabbitmq_url: str) -> Iterator[dict[str, Any]]:
    base = f"budgets.{uuid.uuid4().hex[:8]}"
    bus = {
        "kind": "rabbitmq",
        "exchange": f"{base}.events",
        "queue": f"{base}.work",
        "dead_letter_queue": f"{base}.dlq",
        "rabbitmq": {"url": rabbitmq_url, "declare_exchanges": True},
    }
    yield bus
    asyncio.run(delete_rabbit_objects(rabbitmq_url, [f"{base}.alerts"], [f"{base}.events"]))


@pytest.mark.rabbitmq
def test_crossing_80_percent_alerts_once_on_rabbitmq_and_100_percent_refuses(
    data_dir: Path, upstream: UpstreamThread, rabbit_bus: dict[str, Any]
) -> None:
    tenancy = {"tiers": {"paid": {"monthly_budget_usd": 20.0}}}
    settings = priced_settings(data_dir, upstream, tenancy=tenancy, bus=rabbit_bus)
    alerts = Subscription(
        rabbit_bus["queue"].replace(".work", ".alerts"), rabbit_bus["exchange"], (ALERTS,)
    )
    asyncio.run(declare(settings, alerts))
    gw = GatewayServer(settings).start()
    try:
        tenants = gw.proxy.tenants
        tenants.create_tenant(Tenant("acme", "Acme", "paid"))
        key, _ = tenants.create_key("acme", "test")
        first = ask(gw, key)
        cost = (first.usage.prompt_tokens + first.usage.completion_tokens) * 0.1
        assert 0.5 < cost < 10, cost  # a handful of calls reach the budget
        answered, refused = 1, None
        while refused is None and answered < 100:
            try:
                ask(gw, key)
                answered += 1
            except openai.RateLimitError as exc:
                refused = exc
        assert refused is not None
        assert refused.response.json()["error"]["code"] == "budget_exceeded"
        assert int(refused.response.headers["retry-after"]) > 0
        # The calls answered are all in the ledger, the refused ones are not.
        deadline = time.monotonic() + 10
        while ledger_rows(gw, "acme") < answered and time.monotonic() < deadline:
            time.sleep(0.05)
        assert ledger_rows(gw, "acme") == answered
        for _ in range(3):
            with pytest.raises(openai.RateLimitError):
                ask(gw, key)
        time.sleep(0.5)  # the writer's flush interval is 0.05 s
        assert ledger_rows(gw, "acme") == answered  # the ledger stopped growing
        assert answered == math.ceil(round(20 / cost, 6))  # admitted while under 20 USD
    finally:
        gw.stop()  # waits for the alerts still on their way
    events = asyncio.run(collect(settings, alerts, quiet_s=2.0))
    shares = sorted(e["data"]["threshold"] for e in events)
    assert shares == [0.8, 1.0], events
    warning = next(e for e in events if e["data"]["threshold"] == 0.8)
    assert warning["type"] == "com.outrigger.budget.ThresholdReached"
    assert warning["data"]["tenant"] == "acme" and warning["data"]["budget_usd"] == 20.0
    assert 16.0 <= warning["data"]["spent_usd"] < 16.0 + cost


def test_a_key_with_its_own_models_and_rpm_through_the_openai_client(
    data_dir: Path, upstream: UpstreamThread
) -> None:
    llm = {"aliases": {"chat-default": ["up"], "cheap": ["up"]}}
    settings = llm_settings(data_dir, {"up": upstream.url}, llm=llm)
    gw = GatewayServer(settings).start()
    try:
        tenants = gw.proxy.tenants
        tenants.create_tenant(Tenant("acme", "Acme", "enterprise"))
        limits = KeyLimits(rpm=2, models=frozenset({"cheap"}))
        key, _ = tenants.create_key("acme", "intern", limits=limits)
        with pytest.raises(openai.PermissionDeniedError) as denied:
            ask(gw, key, "chat-default")
        assert denied.value.response.json()["error"]["code"] == "model_not_allowed"
        ask(gw, key, "cheap")
        ask(gw, key, "cheap")
        with pytest.raises(openai.RateLimitError):
            ask(gw, key, "cheap")
        other, _ = tenants.create_key("acme", "service")
        assert ask(gw, other, "chat-default").choices[0].message.content  # not limited
    finally:
        gw.stop()


def test_a_call_refused_for_its_budget_takes_nothing_from_the_tenants_limits(
    data_dir: Path, upstream: UpstreamThread
) -> None:
    tenancy = {"tiers": {"small": {"rpm": 3, "monthly_calls": 3}}}
    settings = llm_settings(data_dir, {"up": upstream.url}, tenancy=tenancy)
    gw = GatewayServer(settings).start()
    try:
        tenants = gw.proxy.tenants
        tenants.create_tenant(Tenant("acme", "Acme", "small"))
        broke, _ = tenants.create_key("acme", "broke", limits=KeyLimits(budget_usd=0.0))
        for _ in range(10):  # a key with no budget left, retrying
            with pytest.raises(openai.RateLimitError) as refused:
                ask(gw, broke)
            assert refused.value.response.json()["error"]["code"] == "budget_exceeded"
        other, _ = tenants.create_key("acme", "other")
        for _ in range(3):  # the tenant's 3 calls a minute and a month are all still there
            assert ask(gw, other).choices[0].message.content
    finally:
        gw.stop()
