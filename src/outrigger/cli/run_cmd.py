"""``outrigger run``: the worker on the configured bus until SIGTERM/SIGINT, and the gateway
beside it when ``gateway.enabled``."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path

from outrigger.cli.common import PipelinesOption, configure_logging, run, with_pipelines
from outrigger.config.settings import Settings
from outrigger.runtime import serve


async def _until_signalled(settings: Settings) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await serve(settings, stop)


def run_command(pipelines: Path | None = PipelinesOption) -> None:
    """Start the worker on the configured bus (and the gateway with
    OUTRIGGER_GATEWAY__ENABLED=true). SIGTERM drains in-flight work and exits."""
    settings = with_pipelines(pipelines)
    configure_logging(settings.log_level, settings.telemetry.log_format)
    run(_until_signalled(settings))
