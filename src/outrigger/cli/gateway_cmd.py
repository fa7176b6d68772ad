"""``outrigger gateway``: the HTTP API — the OpenAI-compatible LLM API and ONNX predictions."""

from __future__ import annotations

import contextlib
import gc
from pathlib import Path

import typer

from outrigger.cli.common import PipelinesOption, configure_logging, with_pipelines
from outrigger.optional import require


def gateway_command(
    pipelines: Path | None = PipelinesOption,
    host: str | None = typer.Option(None, help="Interface to listen on [OUTRIGGER_GATEWAY__HOST]."),
    port: int | None = typer.Option(None, help="Port to listen on [OUTRIGGER_GATEWAY__PORT]."),
) -> None:
    """Serve POST /v1/chat/completions (plain and SSE), POST /v1/embeddings, /v1/models,
    /v1/usage, DELETE /v1/cache, POST /v1/models/{name}/predict, /healthz, /readyz and
    /metrics. SIGTERM drains requests and flushes the ledger and audit trail."""
    require("uvicorn", "gateway")
    from outrigger.gateway.server import HttpServer, server_config
    from outrigger.runtime.gateway import build_gateway

    settings = with_pipelines(pipelines, **{"gateway.host": host, "gateway.port": port})
    configure_logging(settings.log_level, settings.telemetry.log_format)
    app = build_gateway(settings)
    # Everything built so far (modules, settings, compiled patterns) lives as long as the
    # process: out of the collector's reach, a full collection takes milliseconds instead of
    # a stall of 100+ ms in the middle of requests.
    gc.freeze()
    server = HttpServer(server_config(app, settings.gateway), settings.gateway)
    with contextlib.suppress(KeyboardInterrupt):  # uvicorn re-raises the SIGINT it drained on
        server.run()
    if not server.started:
        raise typer.Exit(3)  # it could not bind (uvicorn logged why); as uvicorn.run exits
