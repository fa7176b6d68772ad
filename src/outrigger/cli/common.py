"""What every command shares: settings loading with readable errors, consoles, asyncio."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, NoReturn, TypeVar

import typer
from pydantic import ValidationError
from rich.console import Console

from outrigger.config.load import format_loc
from outrigger.config.settings import Settings
from outrigger.errors import ConfigError, OutriggerError
from outrigger.telemetry.tracing import TraceIdFilter

T = TypeVar("T")
out = Console()
err = Console(stderr=True)


def fail(message: str, code: int = 1) -> NoReturn:
    err.print(f"[bold red]error:[/] {message}", highlight=False)
    raise typer.Exit(code)


def settings_problems(exc: ValidationError) -> list[str]:
    lines = []
    for error in exc.errors():
        loc = tuple(error["loc"])
        env = "OUTRIGGER_" + "__".join(str(p).upper() for p in loc)
        lines.append(f"{format_loc(loc)} ({env}): {error['msg'].removeprefix('Value error, ')}")
    return lines


def load_settings(**overrides: Any) -> Settings:
    """Settings from the environment; CLI options override them."""
    try:
        base = Settings()
        if not overrides:
            return base
        data = base.model_dump()
        for dotted, value in overrides.items():
            if value is None:
                continue
            node = data
            *parents, leaf = dotted.split(".")
            for part in parents:
                node = node[part]
            node[leaf] = value
        return Settings.model_validate(data)
    except ValidationError as exc:
        fail("invalid settings:\n  " + "\n  ".join(settings_problems(exc)), code=2)
    except ConfigError as exc:
        fail(str(exc), code=2)


def run(coro: Coroutine[Any, Any, T]) -> T:
    try:
        return asyncio.run(coro)
    except OutriggerError as exc:
        fail(str(exc))


def configure_logging(level: str, fmt: str = "text") -> None:
    """Plain lines for a terminal; one JSON object per line (``OUTRIGGER_TELEMETRY__LOG_FORMAT
    =json``) for a log pipeline."""
    handler = logging.StreamHandler()
    if fmt == "json":
        from pythonjsonlogger.json import JsonFormatter

        handler.addFilter(TraceIdFilter())
        handler.setFormatter(
            JsonFormatter(
                "%(asctime)s %(levelname)s %(name)s %(message)s %(trace_id)s %(span_id)s",
                rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
            )
        )
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    logging.basicConfig(level=getattr(logging, level, logging.INFO), handlers=[handler], force=True)


PipelinesOption = typer.Option(
    None,
    "--pipelines",
    "-p",
    help="Pipelines YAML file (default: OUTRIGGER_PIPELINES_FILE or the bundled demo).",
    exists=True,
    dir_okay=False,
)


def with_pipelines(path: Path | None, **overrides: Any) -> Settings:
    return load_settings(pipelines_file=path, **overrides)
