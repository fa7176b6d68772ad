"""``outrigger gateway``: the HTTP API — the OpenAI-compatible LLM API and ONNX predictions."""

from __future__ import annotations

from pathlib import Path

import typer

from outrigger._optional import require
from outrigger.cli.common import PipelinesOption, configure_logging, with_pipelines
from outrigger.runtime import load_models


def gateway_command(
    pipelines: Path | None = PipelinesOption,
    host: str | None = typer.Option(None, help="Interface to listen on [OUTRIGGER_GATEWAY__HOST]."),
    port: int | None = typer.Option(None, help="Port to listen on [OUTRIGGER_GATEWAY__PORT]."),
) -> None:
    """Serve POST /v1/chat/completions (plain and SSE), /v1/models, /v1/usage,
    POST /v1/models/{name}/predict, /healthz, /readyz and /metrics. SIGTERM drains requests
    and flushes the ledger and audit trail."""
    uvicorn = require("uvicorn", "gateway")
    from outrigger.gateway.app import create_app
    from outrigger.proxy.service import build_proxy

    settings = with_pipelines(pipelines, **{"gateway.host": host, "gateway.port": port})
    configure_logging(settings.log_level, settings.telemetry.log_format)
    pipeline_set, watcher = load_models(settings)
    proxy = build_proxy(settings)
    app = create_app(pipeline_set, watcher, proxy.metrics, proxy)
    uvicorn.run(
        app,
        host=settings.gateway.host,
        port=settings.gateway.port,
        log_level="warning",
        access_log=False,
    )
