"""The worker process: everything ``outrigger run`` (and the demo) needs, opened in order on
one ``AsyncExitStack`` so that a failure half-way through start-up closes what was already
open, and ``close`` shuts it all down in reverse order (the bus first, so no new work
arrives; the proxy's writers last but one, so the ledger and audit trail are flushed)."""

from __future__ import annotations

import asyncio
import gc
import logging
from collections.abc import Sequence
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from functools import partial

from opentelemetry.trace import NoOpTracer, Tracer

from outrigger.batching import Occupancy
from outrigger.bus.base import DeadLetterQueue, EventBus, PreparesDestinations, Subscription
from outrigger.config.settings import Settings
from outrigger.engine.pipeline import PipelineSet
from outrigger.engine.steps.embed import VectorTarget
from outrigger.engine.worker import Worker
from outrigger.privacy.persist import PersistedVaults
from outrigger.proxy.pipeline_client import PipelineLlm
from outrigger.proxy.service import LlmProxy, build_proxy, metrics_for, proxy_database
from outrigger.registry.serving import ModelWatcher
from outrigger.runtime.loading import (
    event_vaults,
    load_models,
    open_bus_only,
    step_kinds,
    subscription,
    vector_target,
)
from outrigger.storage.base import IdempotencyStore
from outrigger.storage.factory import open_idempotency_store
from outrigger.telemetry.metrics import Metrics
from outrigger.telemetry.tracing import tracer_for

log = logging.getLogger("outrigger.run")


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
    proxy: LlmProxy | None = None  # when a pipeline has an ``llm`` or ``embed`` step
    occupancy: Occupancy = field(default_factory=Occupancy)
    #: Closes everything this runtime opened, in reverse order.
    resources: AsyncExitStack = field(default_factory=AsyncExitStack)

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
            occupancy=self.occupancy,
        )

    async def close(self) -> None:
        await self.resources.aclose()


async def build_runtime(settings: Settings) -> Runtime:
    """Open the worker's dependencies; on any failure, close those already open."""
    async with AsyncExitStack() as stack:
        runtime = await _open(settings, stack)
        runtime.resources = stack.pop_all()
        return runtime
    raise AssertionError("unreachable")  # pragma: no cover (mypy: the with may swallow)


async def _open(settings: Settings, stack: AsyncExitStack) -> Runtime:
    metrics = metrics_for(settings)
    tracer, provider = tracer_for(settings.telemetry.otlp_endpoint)
    if provider is not None:
        stack.callback(provider.shutdown)  # flushes the spans still buffered
    proxy, vectors = await _open_proxy(settings, metrics, tracer, stack)
    vaults = await _open_vaults(settings, proxy, stack)
    occupancy = Occupancy()  # the worker's deliveries in flight, which batches wait for
    pipelines, watcher = load_models(
        settings, PipelineLlm(proxy) if proxy else None, vectors, vaults, metrics, occupancy
    )
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    store = await asyncio.to_thread(
        open_idempotency_store, settings.storage_url(), settings.worker.idempotency_ttl_s
    )
    stack.push_async_callback(store.close)
    bus, dlq = await open_bus_only(settings)
    stack.push_async_callback(bus.close)  # closed first: unacked deliveries go back
    sub = subscription(settings, pipelines)
    await bus.declare(sub)
    await prepare_results(bus, pipelines.result_destinations(settings.bus.results_to))
    return Runtime(
        settings, bus, dlq, pipelines, store, sub, watcher, metrics, tracer, proxy, occupancy
    )


async def prepare_results(bus: EventBus, destinations: Sequence[tuple[str, str]]) -> list[str]:
    """On a bus whose destinations must exist before a publish (Kafka topics), create them
    when configured to, else name at start-up those missing: until they exist, every result
    bound for them is retried and dead-lettered as ``result_unroutable``."""
    if not isinstance(bus, PreparesDestinations):
        return []
    missing = await bus.prepare_destinations(destinations)
    for name in missing:
        log.warning(
            "results go to %s on %s, which does not exist: they will be dead-lettered as "
            "result_unroutable until it is created (or let Outrigger create it: "
            "OUTRIGGER_BUS__%s__CREATE_TOPICS=true)",
            name,
            bus.kind,
            bus.kind.upper(),
        )
    return missing


async def _open_proxy(
    settings: Settings, metrics: Metrics, tracer: Tracer, stack: AsyncExitStack
) -> tuple[LlmProxy | None, VectorTarget | None]:
    """The LLM proxy when a pipeline step or the hosted gateway needs it."""
    kinds = step_kinds(settings)
    if not kinds and not settings.gateway.enabled:
        return None, None
    serves = "embed" in kinds or settings.gateway.enabled  # else no embedder to load
    proxy = await asyncio.to_thread(
        partial(build_proxy, settings, metrics, tracer, embeddings=serves)
    )
    stack.push_async_callback(proxy.close)  # flushes the ledger and the audit trail
    vectors = vector_target(proxy) if "embed" in kinds else None
    proxy.start()
    return proxy, vectors


async def _open_vaults(
    settings: Settings, proxy: LlmProxy | None, stack: AsyncExitStack
) -> PersistedVaults | None:
    """Sealed vaults of sanitised events, in the proxy's database or a database of their
    own (opened only when the vault key is configured)."""
    if proxy is not None:
        return event_vaults(settings, proxy.db)
    if settings.privacy.vault_key_file is None:
        return None
    db = await asyncio.to_thread(proxy_database, settings)
    stack.push_async_callback(asyncio.to_thread, db.dispose)
    return event_vaults(settings, db)


async def serve(settings: Settings, stop: asyncio.Event) -> None:
    """``outrigger run``: the worker until ``stop`` is set, with its helpers (backlog
    sampler, model watcher, /metrics, and the gateway when ``gateway.enabled``); then drain
    and close everything."""
    runtime = await build_runtime(settings)
    try:
        worker = runtime.worker()
        _announce(runtime)
        # What start-up built lives as long as the process: out of the collector's reach,
        # a full collection walks only what events allocate (as in the gateway).
        gc.freeze()
        helpers = _start_helpers(runtime, stop)
        try:
            await worker.run(stop)
        finally:
            stop.set()
            await asyncio.gather(*helpers)
            log.info("stopped: %s", worker.stats)
    finally:
        await runtime.close()


def _announce(runtime: Runtime) -> None:
    log.info(
        "worker consuming %s (bindings %s) on %s bus; models: %s",
        runtime.subscription.queue,
        ", ".join(runtime.subscription.bindings),
        runtime.bus.kind,
        ", ".join(f"{n}@{v}" for n, v in runtime.pipelines.models().items()) or "none",
    )


def _start_helpers(runtime: Runtime, stop: asyncio.Event) -> list[asyncio.Task[None]]:
    from prometheus_client import start_http_server

    from outrigger.telemetry.sampler import sample_forever

    settings = runtime.settings
    telemetry = settings.telemetry
    sampler = sample_forever(
        runtime.metrics, runtime.bus, runtime.dlq, runtime.subscription.queue,
        telemetry.sample_interval_s, stop,
    )  # fmt: skip
    helpers = [asyncio.create_task(sampler, name="backlog-sampler")]
    if runtime.watcher is not None:
        helpers.append(asyncio.create_task(runtime.watcher.run(stop), name="model-watcher"))
    if telemetry.metrics_port:
        start_http_server(telemetry.metrics_port, telemetry.metrics_host, runtime.metrics.registry)
        log.info("metrics on http://%s:%d/metrics", telemetry.metrics_host, telemetry.metrics_port)
    if settings.gateway.enabled:
        from outrigger.runtime.gateway import hosted_gateway

        helpers.append(asyncio.create_task(hosted_gateway(runtime, stop), name="gateway"))
    return helpers
