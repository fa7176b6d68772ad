"""Loading what every command needs from the settings: the pipelines with their models,
the event sanitiser and vaults, Outrigger's subscription, and a bus for one command."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from outrigger.batching import Occupancy
from outrigger.bus.base import DeadLetterQueue, EventBus, Subscription
from outrigger.bus.registry import open_bus
from outrigger.config.load import default_pipelines_file, load_pipelines
from outrigger.config.settings import Settings
from outrigger.engine.pipeline import OnBatch, PipelineSet, compile_pipelines
from outrigger.engine.steps.base import Batching
from outrigger.engine.steps.embed import VectorTarget
from outrigger.engine.steps.llm import LlmClient
from outrigger.errors import ConfigError
from outrigger.privacy.cipher import VaultCipher
from outrigger.privacy.factory import open_detector
from outrigger.privacy.persist import PersistedVaults
from outrigger.privacy.sanitize import EventSanitizer, SaltedHasher
from outrigger.privacy.stores import SqlVaultStore
from outrigger.proxy.pipeline_client import PipelineEmbeddings
from outrigger.proxy.service import LlmProxy
from outrigger.registry.serving import ModelWatcher, RegistryLoader, open_registry
from outrigger.storage.db import Database
from outrigger.telemetry.metrics import Metrics


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
    occupancy: Occupancy | None = None,
) -> PipelineSet:
    """``occupancy``: the worker's deliveries in flight, which batch windows wait for
    (without it, as for the CLI, nobody is counted and no window waits)."""
    path = pipelines_path(settings)
    wait_s = settings.worker.batch_max_wait_ms / 1000
    batching = Batching(settings.worker.batch_max_size, wait_s, occupancy or Occupancy())
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
    occupancy: Occupancy | None = None,
) -> tuple[PipelineSet, ModelWatcher | None]:
    """The pipelines with their models, and a watcher when any model comes from the
    registry (it follows alias changes); shared by the worker and the gateway. With
    ``metrics``, the loaded model versions, model batch sizes and swaps are counted."""
    loader = RegistryLoader(open_registry(settings), settings)
    pipelines = load_pipeline_set(settings, loader, llm, vectors, vaults, metrics, occupancy)
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
