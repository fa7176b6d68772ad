"""The gateway's FastAPI application (routers only; dependencies come from the runtime)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Response
from prometheus_client import CONTENT_TYPE_LATEST

from outrigger import __version__
from outrigger.events.pipeline import PipelineSet
from outrigger.gateway import errors, models
from outrigger.registry.serving import ModelWatcher
from outrigger.telemetry.metrics import Metrics


def create_app(
    pipelines: PipelineSet, watcher: ModelWatcher | None = None, metrics: Metrics | None = None
) -> FastAPI:
    """``watcher`` (for registry models) runs for the app's lifetime: predictions follow
    promotions and rollbacks without a restart."""

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        stop = asyncio.Event()
        task = asyncio.create_task(watcher.run(stop)) if watcher else None
        yield
        stop.set()
        if task is not None:
            await task

    app = FastAPI(title="Outrigger gateway", version=__version__, lifespan=lifespan)
    app.state.pipelines = pipelines
    errors.install(app)
    app.include_router(models.router)

    registry_metrics = metrics or Metrics()

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/metrics", include_in_schema=False)
    async def prometheus() -> Response:
        return Response(registry_metrics.exposition(), media_type=CONTENT_TYPE_LATEST)

    return app
