"""The composition root: every dependency is built here, once, from the settings."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.trace import NoOpTracer, Tracer

from outrigger.bus.base import DeadLetterQueue, EventBus, Subscription
from outrigger.bus.registry import open_bus
from outrigger.config.load import default_pipelines_file, load_pipelines
from outrigger.config.settings import Settings
from outrigger.engine.pipeline import OnBatch, PipelineSet, compile_pipelines
from outrigger.engine.steps.base import Batching
from outrigger.engine.steps.embed import VectorTarget
from outrigger.engine.steps.llm import LlmClient
from outrigger.engine.worker import Worker
from outrigger.errors import ConfigError
from outrigger.privacy.cipher import VaultCipher
from outrigger.privacy.factory import open_detector
from outrigger.privacy.persist import PersistedVaults
from outrigger.privacy.sanitize import EventSanitizer, SaltedHasher
from outrigger.privacy.stores import SqlVaultStore
from outrigger.proxy.pipeline_client import PipelineEmbeddings, PipelineLlm
from outrigger.proxy.service import LlmProxy, build_proxy, metrics_for, proxy_database
from outrigger.registry.serving import ModelWatcher, RegistryLoader, open_registry
from outrigger.storage.base import IdempotencyStore
from outrigger.storage.db import Database
from outrigger.storage.factory import open_idempotency_store
from outrigger.telemetry.metrics import Metrics
from outrigger.telemetry.tracing import tracer_for


def pipelines_path(settings: Settings) -> Path:
    return settings.pipelines_file or default_pipelines_file()


def step_kinds(settings: Settings) -> set[str]:
    """Which of the step kinds that need the proxy the pipelines use: ``llm`` (the LLM
    proxy) and ``embed`` (its embedder and vector store)."""
    spec = load_pipelines(pipelines_path(settings))
    steps = [step for p in spec.pipelines for step in p.steps]
    kinds = {"llm"} if any(step.llm is not None for step in steps) else set()
    return kinds | ({"embed"} if any(step.embed is not None for step in steps) else set())


def vector_target(proxy: LlmProxy) -> VectorTarget:
    if proxy.embedder is None or proxy.vectors is None:
        raise ConfigError(
            "a pipeline has an embed step but no embedder is loaded: install "
            "outrigger[embeddings] (or configure embeddings.kind) and keep embeddings.serve on"
        )
    return VectorTarget(proxy.embedder, proxy.vectors, PipelineEmbeddings(proxy, proxy.embedder))


def load_pipeline_set(
    settings: Settings,
    loader: RegistryLoader | None = None,
    llm: LlmClient | None = None,
    vectors: VectorTarget | None = None,
    vaults: PersistedVaults | None = None,
    metrics: Metrics | None = None,
) -> PipelineSet:
    path = pipelines_path(settings)
    batching = Batching(settings.worker.batch_max_size, settings.worker.batch_max_wait_ms / 1000)
    spec = load_pipelines(path)
    if loader is None:
        loader = RegistryLoader(open_registry(settings), settings)
    return compile_pipelines(
        spec,
        path.parent,
        loader=loader,
        batching=batching,
        llm=llm,
        llm_aliases=settings.llm.aliases.keys(),
        vectors=vectors,
        sanitizer=event_sanitizer(settings),
        vaults=vaults,
        on_batch=batch_sizes(metrics) if metrics is not None else None,
    )


def event_sanitizer(settings: Settings) -> EventSanitizer | None:
    """The sanitiser of ``privacy.events``, or None when no event type declares anything."""
    config = settings.privacy.events
    if not config.declares_any():
        return None
    hasher = SaltedHasher.from_secret_file(config.salt_file) if config.salt_file else None
    detector = open_detector(settings.privacy, settings.privacy.events_mode)
    return EventSanitizer(config, detector, hasher)


def event_vaults(settings: Settings, db: Database) -> PersistedVaults | None:
    """Sealed vaults of sanitised events (``privacy.vault_key_file``), or None."""
    config = settings.privacy
    if config.vault_key_file is None or not config.events.declares_any():
        return None
    cipher = VaultCipher.from_secret_file(config.vault_key_file)
    return PersistedVaults(SqlVaultStore(db), cipher, config.vault_ttl_s)


def load_models(
    settings: Settings,
    llm: LlmClient | None = None,
    vectors: VectorTarget | None = None,
    vaults: PersistedVaults | None = None,
    metrics: Metrics | None = None,
) -> tuple[PipelineSet, ModelWatcher | None]:
    """The pipelines with their models, and a watcher when any model comes from the
    registry (it follows alias changes); shared by the worker and the gateway. With
    ``metrics``, the loaded model versions, model batch sizes and swaps are counted."""
    loader = RegistryLoader(open_registry(settings), settings)
    pipelines = load_pipeline_set(settings, loader, llm, vectors, vaults, metrics)
    on_swap = metrics.set_model if metrics is not None else None
    watcher = None
    if loader.refs:
        watcher = ModelWatcher(loader, pipelines, settings.registry.poll_s, on_swap)
    if metrics is not None:
        for step in (s for p in pipelines.pipelines for s in p.scores):
            metrics.set_model(step.spec.model, step.model.version)
    return pipelines, watcher


def batch_sizes(metrics: Metrics) -> OnBatch:
    """Counts the rows of every model call under the model's name."""

    def observe(model: str, rows: int) -> None:
        metrics.model_batch_size.labels(model).observe(rows)

    return observe


def subscription(settings: Settings, pipelines: PipelineSet) -> Subscription:
    return Subscription(settings.bus.queue, settings.bus.exchange, pipelines.bindings())


@dataclass
class Runtime:
    settings: Settings
    bus: EventBus
    dlq: DeadLetterQueue
    pipelines: PipelineSet
    idempotency: IdempotencyStore
    subscription: Subscription
    watcher: ModelWatcher | None = None
    metrics: Metrics = field(default_factory=Metrics)
    tracer: Tracer = field(default_factory=NoOpTracer)
    tracer_provider: TracerProvider | None = None
    proxy: LlmProxy | None = None  # when a pipeline has an ``llm`` step
    vault_db: Database | None = None  # persisted event vaults, when not the proxy's database

    def worker(self) -> Worker:
        return Worker(
            self.bus,
            self.dlq,
            self.pipelines,
            self.idempotency,
            self.settings.worker,
            self.subscription,
            self.settings.bus.results_to,
            metrics=self.metrics,
            tracer=self.tracer,
        )

    async def close(self) -> None:
        await self.bus.close()
        await self.idempotency.close()
        if self.proxy is not None:
            await self.proxy.close()  # flushes the ledger and the audit trail
        if self.tracer_provider is not None:
            self.tracer_provider.shutdown()  # flushes the spans still buffered
        if self.vault_db is not None:
            await asyncio.to_thread(self.vault_db.dispose)


async def open_bus_only(settings: Settings) -> tuple[EventBus, DeadLetterQueue]:
    bus, dlq = open_bus(settings.bus, settings.data_dir)
    await bus.start()
    return bus, dlq


@asynccontextmanager
async def bus_session(settings: Settings) -> AsyncIterator[tuple[EventBus, DeadLetterQueue]]:
    """A started bus and its dead-letter queue for one command, closed afterwards."""
    bus, dlq = await open_bus_only(settings)
    try:
        yield bus, dlq
    finally:
        await bus.close()


async def build_runtime(settings: Settings) -> Runtime:
    metrics = metrics_for(settings)
    tracer, provider = tracer_for(settings.telemetry.otlp_endpoint)
    proxy: LlmProxy | None = None
    vectors: VectorTarget | None = None
    kinds = step_kinds(settings)
    if kinds or settings.gateway.enabled:
        serves = "embed" in kinds or settings.gateway.enabled  # else no embedder to load
        proxy = await asyncio.to_thread(
            partial(build_proxy, settings, metrics, tracer, embeddings=serves)
        )
        if "embed" in kinds:
            try:
                vectors = vector_target(proxy)
            except ConfigError:
                await proxy.close()
                raise
        proxy.start()
    vault_db = None
    if settings.privacy.vault_key_file is not None and proxy is None:
        vault_db = await asyncio.to_thread(proxy_database, settings)
    db = proxy.db if proxy is not None else vault_db
    vaults = event_vaults(settings, db) if db is not None else None
    pipelines, watcher = load_models(
        settings, PipelineLlm(proxy) if proxy else None, vectors, vaults, metrics
    )
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    bus, dlq = await open_bus_only(settings)
    try:
        store = await asyncio.to_thread(
            open_idempotency_store, settings.storage_url(), settings.worker.idempotency_ttl_s
        )
    except BaseException:
        await bus.close()
        raise
    sub = subscription(settings, pipelines)
    await bus.declare(sub)
    return Runtime(
        settings, bus, dlq, pipelines, store, sub, watcher, metrics, tracer, provider, proxy,
        vault_db,
    )  # fmt: skip
