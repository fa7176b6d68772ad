"""The gateway's wiring: its own process (``outrigger gateway``) or hosted beside the worker
(``outrigger run`` with ``gateway.enabled``, sharing the worker's proxy and metrics).

The composition root is the one place outside ``cli`` that imports ``gateway``; it does so
lazily, so a worker without the ``gateway`` extra never loads FastAPI."""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from outrigger.config.settings import Settings
from outrigger.optional import require
from outrigger.runtime.loading import load_models
from outrigger.telemetry.tracing import tracer_for

if TYPE_CHECKING:
    from fastapi import FastAPI

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
    return create_app(pipelines, watcher, proxy.metrics, proxy)


async def hosted_gateway(runtime: Runtime, stop: asyncio.Event) -> None:
    """The HTTP API beside the worker, sharing its proxy, pipelines and metrics, until
    ``stop`` is set (the worker owns the proxy and the signals)."""
    require("uvicorn", "gateway")
    from outrigger.gateway.app import create_app
    from outrigger.gateway.server import serve_until, server_config

    gw = runtime.settings.gateway
    app = create_app(runtime.pipelines, None, runtime.metrics, runtime.proxy, owns_proxy=False)
    log.info("gateway on http://%s:%d", gw.host, gw.port)
    await serve_until(server_config(app, gw), stop)
