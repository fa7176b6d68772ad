"""The LLM proxy as one object: built at start-up from the settings, shared by the gateway
and the pipelines' ``llm`` steps."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from outrigger.config.settings import Settings
from outrigger.llm.base import Provider
from outrigger.llm.factory import build_providers
from outrigger.proxy.auth import Authenticator
from outrigger.proxy.chain import Next, Step, build_chain
from outrigger.proxy.circuit import STATE_VALUE, State
from outrigger.proxy.context import CallContext, Reply
from outrigger.proxy.dispatch import Dispatcher
from outrigger.proxy.limits import Limiter, MemoryLimiter, RedisLimiter
from outrigger.proxy.quota import LimitStep
from outrigger.proxy.recorder import RecordStep
from outrigger.storage.audit import AuditEntry, AuditStore
from outrigger.storage.db import Database
from outrigger.storage.factory import open_database
from outrigger.storage.ledger import LedgerRecord, LedgerStore
from outrigger.storage.tenants import TenantStore
from outrigger.storage.writer import BackgroundWriter
from outrigger.telemetry.metrics import Metrics


@dataclass
class LlmProxy:
    settings: Settings
    db: Database
    limiter: Limiter
    providers: Mapping[str, Provider]
    metrics: Metrics = field(default_factory=Metrics)
    steps: Sequence[Step] = ()  # privacy, guard and cache steps, between limits and dispatch

    def __post_init__(self) -> None:
        gw = self.settings.gateway
        self.tenants = TenantStore(self.db)
        self.ledger = LedgerStore(self.db)
        self.audit = AuditStore(self.db)
        self.ledger_writer: BackgroundWriter[LedgerRecord] = BackgroundWriter(
            "ledger", self.ledger.write, self.db.run,
            interval_s=gw.flush_interval_s, max_batch=gw.flush_batch,
        )  # fmt: skip
        self.audit_writer: BackgroundWriter[AuditEntry] = BackgroundWriter(
            "audit", self.audit.append, self.db.run,
            interval_s=gw.flush_interval_s, max_batch=gw.flush_batch,
        )  # fmt: skip
        self.auth = Authenticator(self.tenants, self.db, self.settings.tenancy.auth_cache_s)
        self.dispatcher = Dispatcher(self.settings.llm, self.providers, self._circuit_changed)
        for name in self.settings.llm.deployments:
            self.metrics.llm_circuit_state.labels(name).set(0)
        self._call: Next = build_chain(
            [
                RecordStep(self.settings.llm, self.ledger_writer, self.audit_writer, self.metrics),
                LimitStep(self.limiter, self.settings.tenancy, self._count_calls),
                *self.steps,
            ],
            self.dispatcher,
        )

    def _circuit_changed(self, deployment: str, state: State) -> None:
        self.metrics.llm_circuit_state.labels(deployment).set(STATE_VALUE[state])

    async def _count_calls(self, tenant_id: str, month: str) -> int:
        return await self.db.run(self.ledger.count_calls, tenant_id, month)

    def start(self) -> None:
        self.ledger_writer.start()
        self.audit_writer.start()

    async def call(self, ctx: CallContext) -> Reply:
        return await self._call(ctx)

    async def flush(self) -> None:
        await self.ledger_writer.flush()
        await self.audit_writer.flush()

    async def close(self) -> None:
        await self.ledger_writer.close()
        await self.audit_writer.close()
        for provider in self.providers.values():
            await provider.close()
        await self.limiter.close()
        await asyncio.to_thread(self.db.dispose)


def open_limiter(settings: Settings) -> Limiter:
    url = settings.tenancy.resolved_redis_url()
    return RedisLimiter(url) if url else MemoryLimiter()


def proxy_database(settings: Settings) -> Database:
    url = settings.storage_url()
    if url == "memory://":
        # The ledger and audit trail want SQL even on a laptop: a file beside the bus.
        url = f"sqlite:///{settings.data_dir / 'outrigger.sqlite3'}"
    return open_database(url)


def build_proxy(settings: Settings, metrics: Metrics | None = None) -> LlmProxy:
    """The proxy with its database migrated (blocking; call before the event loop or in a
    thread). Its writers start with ``start()`` inside the loop."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    db = proxy_database(settings)
    return LlmProxy(
        settings, db, open_limiter(settings), build_providers(settings.llm), metrics or Metrics()
    )
