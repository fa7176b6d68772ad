"""The gateway's FastAPI application (routers only; dependencies come from the runtime)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from outrigger import __version__
from outrigger.events.pipeline import PipelineSet
from outrigger.gateway import errors, models
from outrigger.registry.serving import ModelWatcher


def create_app(pipelines: PipelineSet, watcher: ModelWatcher | None = None) -> FastAPI:
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

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    return app
