"""The gateway's FastAPI application (routers only; dependencies come from the runtime)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import sqlalchemy as sa
from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST

from outrigger import __version__
from outrigger.events.pipeline import PipelineSet
from outrigger.gateway import chat, errors, models
from outrigger.proxy.service import LlmProxy
from outrigger.registry.serving import ModelWatcher
from outrigger.telemetry.metrics import Metrics


def create_app(
    pipelines: PipelineSet,
    watcher: ModelWatcher | None = None,
    metrics: Metrics | None = None,
    proxy: LlmProxy | None = None,
) -> FastAPI:
    """``watcher`` (for registry models) runs for the app's lifetime: predictions follow
    promotions and rollbacks without a restart. ``proxy`` serves the LLM API; its ledger and
    audit writers are flushed when the app shuts down (SIGTERM loses nothing)."""

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        stop = asyncio.Event()
        task = asyncio.create_task(watcher.run(stop)) if watcher else None
        if proxy is not None:
            proxy.start()
        try:
            yield
        finally:
            stop.set()
            if task is not None:
                await task
            if proxy is not None:
                await proxy.close()

    app = FastAPI(title="Outrigger gateway", version=__version__, lifespan=lifespan)
    app.state.pipelines = pipelines
    app.state.proxy = proxy
    errors.install(app)
    app.include_router(models.router)
    registry_metrics = metrics or (proxy.metrics if proxy else Metrics())
    if proxy is not None:
        app.include_router(chat.router)
        _limit_body(app, proxy.settings.llm.max_request_bytes)

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", response_model=None)
    async def readyz() -> dict[str, str] | JSONResponse:
        """Ready when the database answers and at least one deployment's circuit is not open."""
        problems = await _readiness(proxy)
        if problems:
            return JSONResponse({"status": "unready", "problems": problems}, status_code=503)
        return {"status": "ready"}

    @app.get("/metrics", include_in_schema=False)
    async def prometheus() -> Response:
        return Response(registry_metrics.exposition(), media_type=CONTENT_TYPE_LATEST)

    return app


async def _readiness(proxy: LlmProxy | None) -> list[str]:
    if proxy is None:
        return []
    problems = []
    try:
        await asyncio.wait_for(proxy.db.run(_ping, proxy), 2.0)
    except Exception as exc:  # any failure means "not ready", reported, not raised
        problems.append(f"database: {type(exc).__name__}")
    if not proxy.dispatcher.any_available():
        problems.append("llm: every deployment's circuit is open")
    return problems


def _ping(proxy: LlmProxy) -> None:
    with proxy.db.engine.connect() as conn:
        conn.execute(sa.text("SELECT 1"))


def _limit_body(app: FastAPI, max_bytes: int) -> None:
    @app.middleware("http")
    async def limit(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        length = request.headers.get("content-length")
        if length is not None and length.isdigit() and int(length) > max_bytes:
            return JSONResponse(
                errors.error_body(f"request body over {max_bytes} bytes", "invalid_request_error"),
                status_code=413,
            )
        return await call_next(request)
