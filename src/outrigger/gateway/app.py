"""The gateway's FastAPI application (routers only; dependencies come from the runtime)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import sqlalchemy as sa
from fastapi import FastAPI, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST

from outrigger import __version__
from outrigger.config.llm import MAX_REQUEST_BYTES
from outrigger.console.deps import ConsoleDeps
from outrigger.console.routes import mount as mount_console
from outrigger.engine.pipeline import PipelineSet
from outrigger.gateway import audit, cache, chat, embeddings, errors, models, openapi
from outrigger.gateway.limits import BodyLimit
from outrigger.proxy.ids import CallIds
from outrigger.proxy.service import LlmProxy
from outrigger.registry.serving import ModelWatcher
from outrigger.telemetry.metrics import Metrics


def create_app(
    pipelines: PipelineSet,
    watcher: ModelWatcher | None = None,
    metrics: Metrics | None = None,
    proxy: LlmProxy | None = None,
    *,
    owns_proxy: bool = True,
    console: ConsoleDeps | None = None,
) -> FastAPI:
    """``watcher`` (for registry models) runs for the app's lifetime: predictions follow
    promotions and rollbacks without a restart. ``proxy`` serves the LLM API; its ledger and
    audit writers are flushed when the app shuts down (SIGTERM loses nothing), unless
    ``owns_proxy`` is false (the worker of ``outrigger run`` owns it). ``console``: the
    operator's web console under ``/console`` (docs/console.md)."""

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        stop = asyncio.Event()
        task = asyncio.create_task(watcher.run(stop)) if watcher else None
        if proxy is not None and owns_proxy:
            proxy.start()
        try:
            yield
        finally:
            stop.set()
            if task is not None:
                await task
            if proxy is not None and owns_proxy:
                await proxy.close()

    app = FastAPI(title="Outrigger gateway", version=__version__, lifespan=lifespan)
    app.state.pipelines = pipelines
    app.state.proxy = proxy
    app.state.call_ids = CallIds()
    errors.install(app)
    openapi.install(app)
    app.include_router(models.router)
    registry_metrics = metrics or (proxy.metrics if proxy else Metrics())
    if proxy is not None:
        app.include_router(chat.router)
        app.include_router(cache.router)
        app.include_router(audit.router)
        app.include_router(embeddings.router_for(proxy))
    if console is not None:
        mount_console(app, console)
    max_body = proxy.settings.llm.max_request_bytes if proxy is not None else MAX_REQUEST_BYTES
    body_timeout = proxy.settings.gateway.body_timeout_s if proxy is not None else 30.0
    app.add_middleware(BodyLimit, max_bytes=max_body, body_timeout_s=body_timeout)

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", response_model=None, responses={503: {"description": "Not ready"}})
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
    if not await proxy.limiter.ping():  # every LLM call would be refused (503) without it
        problems.append("limiter: the rate-limit counters (Redis) cannot be reached")
    return problems


def _ping(proxy: LlmProxy) -> None:
    with proxy.db.engine.connect() as conn:
        conn.execute(sa.text("SELECT 1"))
