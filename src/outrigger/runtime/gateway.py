"""The gateway's wiring: its own process (``outrigger gateway``) or hosted beside the worker
(``outrigger run`` with ``gateway.enabled``, sharing the worker's proxy and metrics).

The composition root is the one place outside ``cli`` that imports ``gateway``; it does so
lazily, so a worker without the ``gateway`` extra never loads FastAPI."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from outrigger.bus.base import DeadLetterQueue
from outrigger.config.load import load_pipelines
from outrigger.config.settings import Settings
from outrigger.contracts import asyncapi_document
from outrigger.engine.pipeline import PipelineSet
from outrigger.optional import require
from outrigger.proxy.service import LlmProxy
from outrigger.registry.serving import open_registry
from outrigger.runtime.loading import bus_session, load_models, pipelines_path, subscription
from outrigger.telemetry.metrics import Metrics
from outrigger.telemetry.tracing import tracer_for

if TYPE_CHECKING:
    from fastapi import FastAPI

    from outrigger.console.deps import ConsoleDeps, LetterAccess
    from outrigger.runtime.worker import Runtime

log = logging.getLogger("outrigger.gateway")


def build_gateway(settings: Settings) -> FastAPI:
    """The gateway app with its own proxy (database migrated), pipelines and model watcher;
    blocking: call it before the server's loop starts. The app owns the proxy: its writers
    start and are flushed with the app's lifespan."""
    require("uvicorn", "gateway")
    from outrigger.gateway.app import create_app
    from outrigger.proxy.service import build_proxy

    pipelines, watcher = load_models(settings)
    tracer, _ = tracer_for(settings.telemetry.otlp_endpoint, service="outrigger-gateway")
    proxy = build_proxy(settings, tracer=tracer)
    console = console_for(settings, proxy, pipelines, proxy.metrics, _own_bus(settings, pipelines))
    return create_app(pipelines, watcher, proxy.metrics, proxy, console=console)


async def hosted_gateway(runtime: Runtime, stop: asyncio.Event) -> None:
    """The HTTP API beside the worker, sharing its proxy, pipelines and metrics, until
    ``stop`` is set (the worker owns the proxy and the signals)."""
    require("uvicorn", "gateway")
    from outrigger.gateway.app import create_app
    from outrigger.gateway.server import serve_until

    gw = runtime.settings.gateway
    console = None
    if runtime.proxy is not None:
        console = console_for(
            runtime.settings, runtime.proxy, runtime.pipelines, runtime.metrics,
            _workers_bus(runtime), has_worker=True,
        )  # fmt: skip
    app = create_app(
        runtime.pipelines, None, runtime.metrics, runtime.proxy, owns_proxy=False, console=console
    )
    log.info("gateway on http://%s:%d", gw.host, gw.port)
    await serve_until(app, gw, stop)


def console_for(
    settings: Settings,
    proxy: LlmProxy,
    pipelines: PipelineSet,
    metrics: Metrics,
    letters: LetterAccess,
    *,
    has_worker: bool = False,
) -> ConsoleDeps | None:
    """The web console's dependencies (None when ``console.enabled`` is off)."""
    if not settings.console.enabled:
        return None
    from outrigger.console.deps import build_console

    return build_console(
        settings, proxy, pipelines, metrics, registry=open_registry(settings), letters=letters,
        has_worker=has_worker, asyncapi=lambda: _asyncapi(settings),
    )  # fmt: skip


def _asyncapi(settings: Settings) -> dict[str, Any]:
    spec = load_pipelines(pipelines_path(settings))
    return asyncapi_document(spec, settings.bus, data_dir=settings.data_dir)


def _own_bus(settings: Settings, pipelines: PipelineSet) -> LetterAccess:
    """``outrigger gateway`` has no bus of its own: the console opens one per request to
    the dead letters (cheap on SQLite; one connection per page view on a broker)."""
    from outrigger.console.deps import LetterAccess

    @contextlib.asynccontextmanager
    async def dlq() -> AsyncIterator[DeadLetterQueue]:
        async with bus_session(settings) as (_, queue):
            yield queue

    return LetterAccess(dlq, subscription(settings, pipelines))


def _workers_bus(runtime: Runtime) -> LetterAccess:
    """Beside the worker, the console reads and replays through the worker's own bus."""
    from outrigger.console.deps import LetterAccess

    return LetterAccess(lambda: contextlib.nullcontext(runtime.dlq), runtime.subscription)
