"""`outrigger run` exposes Prometheus metrics that reflect the events it handled."""

from __future__ import annotations

import asyncio
import random
import socket
import time
import urllib.request
from pathlib import Path

import pytest

from outrigger.bus.base import BusMessage, Subscription
from outrigger.bus.registry import open_bus
from outrigger.config.settings import Settings
from outrigger.demo.loans import LoanService, holdout_rows
from tests.integration.worker_process import WorkerProcess

pytestmark = pytest.mark.timeout(120)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def scrape(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        return str(response.read().decode())


async def test_worker_metrics_endpoint(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    port = free_port()
    env = {
        "OUTRIGGER_DATA_DIR": str(tmp_path),
        "OUTRIGGER_TELEMETRY__METRICS_PORT": str(port),
        "OUTRIGGER_TELEMETRY__METRICS_HOST": "127.0.0.1",
        "OUTRIGGER_TELEMETRY__SAMPLE_INTERVAL_S": "0.2",
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    settings = Settings()
    bus, _ = open_bus(settings.bus, settings.data_dir)
    await bus.start()
    await bus.declare(Subscription("results", settings.bus.exchange, ("ai.#",)))
    await bus.declare(Subscription(settings.bus.queue, settings.bus.exchange, ("loans.#",)))
    service = LoanService(holdout_rows(), random.Random(4))
    for _ in range(5):
        await bus.publish(service.cloudevent()[1], exchange=settings.bus.exchange)
    await bus.publish(
        BusMessage(b"{oops", "loans.application.submitted"), exchange=settings.bus.exchange
    )
    worker = WorkerProcess(env, tmp_path / "worker.log")
    worker.start()
    try:
        deadline = time.monotonic() + 60
        text = ""
        while time.monotonic() < deadline:
            try:
                text = scrape(port)
            except OSError:
                text = ""
            if 'outcome="result"' in text and "outrigger_dead_letter_queue_size 1.0" in text:
                break
            await asyncio.sleep(0.2)
        assert (
            'outrigger_events_processed_total{outcome="result",pipeline="credit-risk-assessment@1"} 5.0'
            in text
        ), worker.output()
        assert 'outrigger_dead_letters_total{reason="not_json"} 1.0' in text
        assert 'outrigger_model_info{model="credit-risk",version="1.0.0"} 1.0' in text
        assert "outrigger_dead_letter_queue_size 1.0" in text
        assert "outrigger_model_batch_size_count" in text
        assert worker.terminate() == 0
    finally:
        worker.cleanup()
        await bus.close()
