"""The LLM proxy as one object: built at start-up from the settings, shared by the gateway
and the pipelines' ``llm`` steps."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial

from opentelemetry.trace import NoOpTracer, Tracer

from outrigger.cache.semantic import SemanticCache
from outrigger.config.settings import Settings
from outrigger.embeddings.base import Embedder
from outrigger.errors import ConfigError, MissingExtraError
from outrigger.guard.screen import open_screen
from outrigger.llm.base import Provider
from outrigger.llm.factory import build_providers
from outrigger.privacy.base import Detector
from outrigger.privacy.factory import open_detector
from outrigger.proxy.alerts import AlertSink, BusAlerts, FanOut, WebhookAlerts
from outrigger.proxy.auth import Authenticator
from outrigger.proxy.budgets import BudgetStep
from outrigger.proxy.cache_step import CacheStep
from outrigger.proxy.chain import Next, Step, build_chain
from outrigger.proxy.checks import RequestCheck
from outrigger.proxy.circuit import STATE_VALUE, State
from outrigger.proxy.context import CallContext, Reply
from outrigger.proxy.dispatch import Dispatcher
from outrigger.proxy.guard_step import GuardStep
from outrigger.proxy.limits import Limiter, MemoryLimiter, RedisLimiter
from outrigger.proxy.privacy_step import PrivacyStep
from outrigger.proxy.quota import LimitStep
from outrigger.proxy.recorder import RecordStep
from outrigger.secrets import file_or_env
from outrigger.storage.audit import AuditEntry, AuditStore
from outrigger.storage.db import Database
from outrigger.storage.factory import open_database
from outrigger.storage.ledger import LedgerRecord, LedgerStore
from outrigger.storage.tenants import TenantStore
from outrigger.storage.writer import BackgroundWriter
from outrigger.telemetry.metrics import FeatureLabels, Metrics
from outrigger.vector.base import VectorStore
from outrigger.vector.settings import open_vector_store

log = logging.getLogger("outrigger.proxy")


@dataclass
class LlmProxy:
    settings: Settings
    db: Database
    limiter: Limiter
    providers: Mapping[str, Provider]
    metrics: Metrics = field(default_factory=Metrics)
    steps: Sequence[Step] = ()  # guard, privacy and cache steps, between limits and dispatch
    #: Served by ``/v1/embeddings`` and the ``embed`` pipeline step (None: not served, or
    #: the ``embeddings`` extra is missing); the cache holds its own (``open_embedders``).
    embedder: Embedder | None = None
    vectors: VectorStore | None = None
    cache: SemanticCache | None = None
    tracer: Tracer = field(default_factory=NoOpTracer)
    #: Where budget alerts go (the bus, a webhook); by default only the log.
    alerts: AlertSink = field(default_factory=lambda: FanOut([]))

    def __post_init__(self) -> None:
        gw = self.settings.gateway
        self.tenants = TenantStore(self.db)
        self.ledger = LedgerStore(self.db)
        self.audit = AuditStore(self.db)
        self.ledger_writer: BackgroundWriter[LedgerRecord] = BackgroundWriter(
            "ledger", self.ledger.write, self.db.run,
            interval_s=gw.flush_interval_s, max_batch=gw.flush_batch,
            capacity=gw.max_unwritten_records,
            on_reject=self.metrics.records_set_aside.labels("ledger").inc,
        )  # fmt: skip
        self.audit_writer: BackgroundWriter[AuditEntry] = BackgroundWriter(
            "audit", self.audit.append, self.db.run,
            interval_s=gw.flush_interval_s, max_batch=gw.flush_batch,
            capacity=gw.max_unwritten_records,
            on_reject=self.metrics.records_set_aside.labels("audit").inc,
        )  # fmt: skip
        self.auth = Authenticator(
            self.tenants,
            self.db,
            self.settings.tenancy.auth_cache_s,
            limiter=self.limiter,
            per_address=self.settings.gateway.auth_failures_per_address,
            per_key=self.settings.gateway.auth_failures_per_key,
        )
        self.dispatcher = Dispatcher(
            self.settings.llm, self.providers, self._circuit_changed, limiter=self.limiter
        )
        for name in self.settings.llm.deployments:
            self.metrics.llm_circuit_state.labels(name).set(0)
        self.recorder = RecordStep(
            self.settings.llm, self.ledger_writer, self.audit_writer, self.metrics, self.tracer
        )
        #: RPM, TPM and the monthly quota: chat calls' chain step, and embedding calls'.
        self.limits = LimitStep(self.limiter, self.settings.tenancy, self._count_calls)
        self.budgets = BudgetStep(self.limiter, self.settings.tenancy, self._spent, self.alerts)
        chain: list[Step] = [
            self.recorder,
            RequestCheck(self.settings.llm),
            # Budgets first: a call refused for its budget takes nothing from the RPM and
            # monthly counters the tenant's other keys share.
            self.budgets,
            self.limits,
            *self.steps,
        ]
        self._call: Next = build_chain(chain, self.dispatcher)

    def _circuit_changed(self, deployment: str, state: State) -> None:
        self.metrics.llm_circuit_state.labels(deployment).set(STATE_VALUE[state])

    async def _count_calls(self, tenant_id: str, month: str) -> int:
        return await self.db.run(self.ledger.count_calls, tenant_id, month)

    async def _spent(
        self, tenant_id: str, month: str, feature: str | None, key_id: str | None
    ) -> float:
        return await self.db.run(
            partial(self.ledger.spend, feature=feature, key_id=key_id), tenant_id, month
        )

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
        await self.alerts.close()
        for provider in self.providers.values():
            await provider.close()
        await self.limiter.close()
        if self.vectors is not None:
            await asyncio.to_thread(self.vectors.close)
        await asyncio.to_thread(self.db.dispose)


def metrics_for(settings: Settings) -> Metrics:
    """A process's metrics, their ``feature`` label bounded: the features the settings name
    keep their own, and ``telemetry.max_feature_labels`` others (pipelines' features among
    them, first come); any later one is counted as ``_other``."""
    named = {
        *settings.tenancy.features,
        *settings.cache.features,
        *settings.privacy.features,
        *settings.guard.features,
        *(rule.feature for rule in settings.llm.routes if rule.feature is not None),
    }
    return Metrics(FeatureLabels(named, settings.telemetry.max_feature_labels))


def open_limiter(settings: Settings) -> Limiter:
    url = settings.tenancy.resolved_redis_url()
    return RedisLimiter(url) if url else MemoryLimiter()


def proxy_database(settings: Settings) -> Database:
    url = settings.storage_url()
    if url == "memory://":
        # The ledger and audit trail want SQL even on a laptop: a file beside the bus.
        url = f"sqlite:///{settings.data_dir / 'outrigger.sqlite3'}"
    return open_database(url)


def build_proxy(
    settings: Settings,
    metrics: Metrics | None = None,
    tracer: Tracer | None = None,
    *,
    embeddings: bool = True,
) -> LlmProxy:
    """The proxy with its database migrated (blocking; call before the event loop or in a
    thread). Its writers start with ``start()`` inside the loop. ``embeddings=False``: the
    caller serves no embeddings (a worker without ``embed`` steps), so the embedder is only
    loaded when the cache needs it."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    metrics = metrics or metrics_for(settings)
    db = proxy_database(settings)
    embedder, cache_embedder = open_embedders(settings, embeddings)
    vectors = cache = None
    dim_source = embedder or cache_embedder
    if dim_source is not None:
        vectors = open_vector_store(
            settings.vectors, dim_source.dim, settings.data_dir, indexed_fields=("fp", "sem")
        )
        if cache_embedder is not None:
            cache = SemanticCache(vectors, cache_embedder, settings.cache)
    steps = call_steps(settings, metrics, cache)
    return LlmProxy(
        settings, db, open_limiter(settings), build_providers(settings.llm), metrics,
        steps, embedder, vectors, cache, tracer or NoOpTracer(), open_alerts(settings),
    )  # fmt: skip


def open_alerts(settings: Settings) -> AlertSink:
    """Budget alerts to the bus (opened at the first alert) and the webhook configured."""
    config = settings.tenancy.budgets
    sinks: list[AlertSink] = []
    if config.routing_key:
        from outrigger.bus.registry import open_bus

        sinks.append(
            BusAlerts(
                lambda: open_bus(settings.bus, settings.data_dir)[0],
                settings.bus.results_to,
                config.routing_key,
            )
        )
    if config.webhook_url:
        secret = file_or_env(
            config.webhook_secret_file, config.webhook_secret_env, "tenancy.budgets.webhook_secret"
        )
        assert secret is not None  # the settings require one with a URL
        sinks.append(WebhookAlerts(config.webhook_url, secret))
    return FanOut(sinks)


def open_embedders(
    settings: Settings, serves: bool = True
) -> tuple[Embedder | None, Embedder | None]:
    """(the served embedder, the cache's embedder), each None when not wanted.

    The served one (``/v1/embeddings``, the ``embed`` step) is loaded when it is served and
    can be had: a missing extra only matters when the cache is on. The cache embeds one
    text per look-up with its own ``cache.embedding_compute`` (integer products by
    default, for latency); it shares the served embedder when that computes the same way.
    """
    from outrigger.embeddings.settings import open_embedder

    served = None
    if serves and settings.embeddings.serve:
        try:
            served = open_embedder(settings.embeddings)
        except (ImportError, MissingExtraError, ConfigError) as exc:
            if settings.cache.enabled:
                raise
            log.info("embeddings unavailable (%s): /v1/embeddings is off", exc)
    if not settings.cache.enabled:
        return served, None
    for_cache = settings.embeddings
    if for_cache.kind == "local":
        for_cache = for_cache.model_copy(update={"compute": settings.cache.embedding_compute})
    if served is not None and for_cache == settings.embeddings:
        return served, served
    return served, open_embedder(for_cache)


def call_steps(settings: Settings, metrics: Metrics, cache: SemanticCache | None) -> list[Step]:
    """Guard (sees the caller's text), privacy (replaces PII), cache (stores placeholders)."""
    steps: list[Step] = [
        GuardStep(
            settings.guard,
            open_screen(settings.guard.injection_classifier),
            metrics,
            settings.llm.fallback_answer,
        )
    ]
    detectors = privacy_detectors(settings)
    if detectors:
        steps.append(PrivacyStep(settings.privacy, detectors, metrics))
    if cache is not None:
        steps.append(CacheStep(cache))
    return steps


def privacy_detectors(settings: Settings) -> dict[str, Detector]:
    """One detector per mode some policy uses (the full one loads spaCy: seconds)."""
    config = settings.privacy
    policies = [config.default, *config.features.values()]
    modes = {p.mode for p in policies if p.enabled}
    return {mode: open_detector(config, mode) for mode in sorted(modes)}
