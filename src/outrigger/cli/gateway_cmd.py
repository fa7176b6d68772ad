"""``outrigger gateway``: the HTTP API (today: ONNX predictions; the LLM API comes next)."""

from __future__ import annotations

from pathlib import Path

import typer

from outrigger._optional import require
from outrigger.cli.common import PipelinesOption, configure_logging, with_pipelines
from outrigger.runtime import load_models


def gateway_command(
    pipelines: Path | None = PipelinesOption,
    host: str = typer.Option("127.0.0.1", help="Interface to listen on."),
    port: int = typer.Option(8080, help="Port to listen on."),
) -> None:
    """Serve POST /v1/models/{name}/predict for the pipelines' models, and /healthz."""
    uvicorn = require("uvicorn", "gateway")
    from outrigger.gateway.app import create_app

    settings = with_pipelines(pipelines)
    configure_logging(settings.log_level, settings.telemetry.log_format)
    pipeline_set, watcher = load_models(settings)
    uvicorn.run(create_app(pipeline_set, watcher), host=host, port=port, log_level="warning")
