"""``outrigger run``: the worker on the configured bus until SIGTERM/SIGINT, and the gateway
beside it when ``gateway.enabled``."""

from __future__ import annotations

import asyncio
import logging
import signal
from pathlib import Path

from prometheus_client import start_http_server

from outrigger._optional import require
from outrigger.cli.common import PipelinesOption, configure_logging, run, with_pipelines
from outrigger.config.settings import Settings
from outrigger.runtime import Runtime, build_runtime
from outrigger.telemetry.sampler import sample_forever

log = logging.getLogger("outrigger.run")


async def serve(settings: Settings) -> None:
    runtime = await build_runtime(settings)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    worker = runtime.worker()
    log.info(
        "worker consuming %s (bindings %s) on %s bus; models: %s",
        runtime.subscription.queue,
        ", ".join(runtime.subscription.bindings),
        runtime.bus.kind,
        ", ".join(f"{n}@{v}" for n, v in runtime.pipelines.models().items()) or "none",
    )
    helpers = [
        asyncio.create_task(
            sample_forever(
                runtime.metrics,
                runtime.bus,
                runtime.dlq,
                runtime.subscription.queue,
                settings.telemetry.sample_interval_s,
                stop,
            )
        )
    ]
    if runtime.watcher is not None:
        helpers.append(asyncio.create_task(runtime.watcher.run(stop), name="model-watcher"))
    telemetry = settings.telemetry
    if telemetry.metrics_port:
        start_http_server(telemetry.metrics_port, telemetry.metrics_host, runtime.metrics.registry)
        log.info("metrics on http://%s:%d/metrics", telemetry.metrics_host, telemetry.metrics_port)
    if settings.gateway.enabled:
        helpers.append(asyncio.create_task(_gateway(runtime, stop), name="gateway"))
    try:
        await worker.run(stop)
    finally:
        stop.set()
        await asyncio.gather(*helpers)
        await runtime.close()
        log.info("stopped: %s", worker.stats)


async def _gateway(runtime: Runtime, stop: asyncio.Event) -> None:
    """The HTTP API beside the worker, sharing its proxy, pipelines and metrics."""
    require("uvicorn", "gateway")
    from outrigger.gateway.app import create_app
    from outrigger.gateway.server import serve_until, server_config

    gw = runtime.settings.gateway
    app = create_app(runtime.pipelines, None, runtime.metrics, runtime.proxy, owns_proxy=False)
    log.info("gateway on http://%s:%d", gw.host, gw.port)
    await serve_until(server_config(app, gw), stop)


def run_command(pipelines: Path | None = PipelinesOption) -> None:
    """Start the worker on the configured bus (and the gateway with
    OUTRIGGER_GATEWAY__ENABLED=true). SIGTERM drains in-flight work and exits."""
    settings = with_pipelines(pipelines)
    configure_logging(settings.log_level, settings.telemetry.log_format)
    run(serve(settings))
