"""Past ``gateway.max_unwritten_records`` waiting records (the database out of reach), the
proxy refuses new calls of every kind before any work, and admits them again once the
records are written (the gateway-level test with PostgreSQL cut off:
tests/integration/test_gateway_record_backlog.py)."""

from __future__ import annotations

import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from outrigger.config.settings import Settings
from outrigger.llm.types import ChatRequest, Usage
from outrigger.proxy.context import Backlogged, CallContext
from outrigger.proxy.metered import NOTHING, Done, metered
from outrigger.proxy.service import build_proxy
from outrigger.storage.audit import AuditEntry
from outrigger.storage.tenants import Tenant
from outrigger.storage.writer import BackgroundWriter

TENANT = Tenant("acme", "Acme", "enterprise")


def entry(i: int) -> AuditEntry:
    return AuditEntry(
        time.time(), uuid.uuid4().hex, "acme", "chat", "chat-default", "primary", "m",
        f"{i:064x}", f"{i + 1:064x}", 10, 5, 0.001, "ok", None,
    )  # fmt: skip


def context(model: str = "chat-default") -> CallContext:
    return CallContext(TENANT, "chat", ChatRequest(model, [{"role": "user", "content": "hi"}]))


def test_a_writer_is_full_at_its_capacity_and_never_without_one() -> None:
    async def run(*_: object) -> None:
        return None

    bounded = BackgroundWriter("audit", lambda _: None, run, capacity=2)
    unbounded = BackgroundWriter("audit", lambda _: None, run)
    for i in range(2):
        assert not bounded.full
        bounded.add(entry(i))
        unbounded.add(entry(i))
    assert bounded.full and not unbounded.full


async def test_calls_are_refused_while_records_wait_and_admitted_once_written(
    tmp_path: Path,
) -> None:
    settings = Settings.model_validate(
        {"data_dir": tmp_path, "gateway": {"max_unwritten_records": 3},
         "embeddings": {"serve": False}, "cache": {"enabled": False}}
    )  # fmt: skip
    proxy = build_proxy(settings, embeddings=False)  # not started: nothing is flushed
    proxy.tenants.create_tenant(TENANT)
    ran: list[str] = []

    async def work(ctx: CallContext) -> Done[str]:
        ctx.alias = ctx.deployment = ctx.model = "scorer"
        ran.append(ctx.call_id)
        return Done("scored", Usage(), 0.0, NOTHING)

    try:
        for i in range(3):
            proxy.audit_writer.add(entry(i))
        with pytest.raises(Backlogged, match="audit has 3 records waiting") as chat:
            await proxy.call(context())
        assert (chat.value.status, chat.value.code) == (503, "records_backlogged")
        with pytest.raises(Backlogged):
            await metered(proxy, context("scorer"), work, NOTHING, "predict")
        assert ran == []
        assert await proxy.audit_writer.flush()
        assert await metered(proxy, context("scorer"), work, NOTHING, "predict") == "scored"
        assert len(ran) == 1
    finally:
        await proxy.close()


async def test_a_provider_model_name_longer_than_its_column_is_cut_not_set_aside() -> None:
    """A cache hit reports the model the provider answered with, of any length: the audit
    record keeps the first 200 characters rather than being refused by PostgreSQL."""
    from outrigger.config.llm import LlmSettings
    from outrigger.proxy.recorder import MAX_MODEL, RecordStep
    from outrigger.telemetry.metrics import Metrics

    written: list[AuditEntry] = []

    async def run(sink: Any, batch: Any) -> None:
        sink(batch)

    ledger: BackgroundWriter[Any] = BackgroundWriter("ledger", lambda _: None, run)
    audit = BackgroundWriter("audit", written.extend, run)
    step = RecordStep(LlmSettings(), ledger, audit, Metrics())
    ctx = context()
    ctx.alias, ctx.deployment, ctx.model = "chat-default", "primary", "v" * 300
    await step.record(ctx, Usage(3, 2), 0.0, "a" * 64, "b" * 64)
    assert await audit.flush()
    assert [e.model for e in written] == ["v" * MAX_MODEL]
