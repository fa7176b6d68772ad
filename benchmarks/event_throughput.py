"""Event throughput end to end: publish -> score -> result consumed, next to the raw broker.

For each bus (RabbitMQ, the embedded SQLite bus) two child processes are measured in turn,
both consuming the same queue with the same client, prefetch and guarantees (publisher
confirms, manual acks after the confirmed publish, persistent messages):

* ``outrigger``: ``python -m outrigger run`` — envelope parsing, pipeline matching,
  idempotency store, ONNX scoring, schema validation, result event;
* ``raw``: a forwarder that re-publishes each message's bytes to the result routing key and
  acks — the broker round trip with no Outrigger processing.

This process publishes the same realistic LoanApplicationSubmitted CloudEvents (warm-up
first) and consumes the results; events/s = events / (first publish -> last result).

    python benchmarks/event_throughput.py [--events 5000] [--prefetch 64] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from outrigger.bus.base import BusMessage, EventBus, Subscription
from outrigger.bus.registry import open_bus
from outrigger.config.settings import Settings
from outrigger.demo.loans import LoanService, holdout_rows

RESULT_KEY = "ai.assessment.completed"
WORK_KEY = "loans.application.submitted"


def case_env(kind: str, tmp: Path, prefetch: int, url: str) -> dict[str, str]:
    tag = uuid.uuid4().hex[:8]
    return {
        "OUTRIGGER_DATA_DIR": str(tmp),
        "OUTRIGGER_BUS__KIND": kind,
        "OUTRIGGER_BUS__EXCHANGE": f"bench.{tag}.events",
        "OUTRIGGER_BUS__QUEUE": f"bench.{tag}.work",
        "OUTRIGGER_BUS__DEAD_LETTER_QUEUE": f"bench.{tag}.dlq",
        "OUTRIGGER_BUS__RABBITMQ__URL": url,
        "OUTRIGGER_BUS__RABBITMQ__DECLARE_EXCHANGES": "true",
        "OUTRIGGER_WORKER__PREFETCH": str(prefetch),
        "OUTRIGGER_LOG_LEVEL": "WARNING",
        "OUTRIGGER_TELEMETRY__METRICS_PORT": "0",
    }


def settings_from(env: dict[str, str]) -> Settings:
    os.environ.update(env)
    return Settings()


async def forwarder() -> None:
    """The raw round trip: consume, publish the same bytes as the result, then ack."""
    settings = Settings()
    bus, _ = open_bus(settings.bus, settings.data_dir)
    await bus.start()
    work = Subscription(settings.bus.queue, settings.bus.exchange, (WORK_KEY,))
    inflight: set[asyncio.Task[None]] = set()

    async def forward(delivery: Any) -> None:
        m = delivery.message
        out = BusMessage(m.body, RESULT_KEY, dict(m.headers), m.message_id, m.content_type)
        await bus.publish(out, exchange=settings.bus.exchange)
        await delivery.ack()

    async for delivery in bus.consume(work, prefetch=settings.worker.prefetch):
        task = asyncio.create_task(forward(delivery))
        inflight.add(task)
        task.add_done_callback(inflight.discard)


def start_child(role: str, env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    if role == "outrigger":
        cmd = [sys.executable, "-m", "outrigger", "run"]
    else:
        cmd = [sys.executable, __file__, "--role", "forwarder"]
    handle = log.open("ab")
    return subprocess.Popen(cmd, env={**os.environ, **env}, stdout=handle, stderr=subprocess.STDOUT)


async def publish_all(bus: EventBus, exchange: str, messages: list[BusMessage]) -> None:
    queue = iter(messages)

    async def publisher() -> None:
        for message in queue:
            await bus.publish(message, exchange=exchange)

    await asyncio.gather(*(publisher() for _ in range(16)))


async def wait_results(bus: EventBus, sub: Subscription, count: int, limit_s: float) -> float:
    received = 0
    stream = bus.consume(sub, prefetch=1000)

    async def loop() -> None:
        nonlocal received
        async for delivery in stream:
            await delivery.ack()
            received += 1
            if received >= count:
                return

    await asyncio.wait_for(loop(), limit_s)
    await stream.aclose()  # type: ignore[attr-defined]
    return time.perf_counter()


async def measure(role: str, kind: str, events: int, prefetch: int, url: str) -> float:
    with tempfile.TemporaryDirectory(prefix="outrigger-bench-") as tmp:
        env = case_env(kind, Path(tmp), prefetch, url)
        settings = settings_from(env)
        bus, _ = open_bus(settings.bus, settings.data_dir)
        await bus.start()
        exchange = settings.bus.exchange
        results = Subscription(f"{settings.bus.queue}.results", exchange, (RESULT_KEY,))
        await bus.declare(results)
        await bus.declare(Subscription(settings.bus.queue, exchange, (WORK_KEY,)))
        service = LoanService(holdout_rows(), random.Random(1))
        warm = [service.cloudevent()[1] for _ in range(100)]
        batch = [service.cloudevent()[1] for _ in range(events)]
        child = start_child(role, env, Path(tmp) / "child.log")
        try:
            await publish_all(bus, exchange, warm)
            await wait_results(bus, results, len(warm), 120)
            start = time.perf_counter()
            done = asyncio.create_task(wait_results(bus, results, events, 600))
            await publish_all(bus, exchange, batch)
            end = await done
        finally:
            child.terminate()
            child.wait(60)
            await bus.close()
        return events / (end - start)


async def run(args: argparse.Namespace) -> dict[str, Any]:
    figures: dict[str, Any] = {
        "events": args.events,
        "prefetch": args.prefetch,
        "cpus": os.cpu_count(),
    }
    kinds = ["sqlite"] if args.skip_rabbitmq else ["rabbitmq", "sqlite"]
    for kind in kinds:
        ours = await measure("outrigger", kind, args.events, args.prefetch, args.rabbitmq_url)
        raw = await measure("raw", kind, args.events, args.prefetch, args.rabbitmq_url)
        figures[f"{kind}_events_per_s"] = round(ours, 1)
        figures[f"{kind}_raw_per_s"] = round(raw, 1)
        figures[f"{kind}_ratio"] = round(ours / raw, 3)
        print(
            f"{kind:8s} outrigger {ours:8.1f} events/s   raw round trip {raw:8.1f} msg/s   "
            f"ratio {ours / raw:.2f}",
            flush=True,
        )
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=5000)
    parser.add_argument("--prefetch", type=int, default=64)
    parser.add_argument("--rabbitmq-url", default="amqp://guest:guest@127.0.0.1:5672/")
    parser.add_argument("--skip-rabbitmq", action="store_true")
    parser.add_argument("--json", action="store_true", help="print one JSON object last")
    parser.add_argument(
        "--role", choices=["bench", "forwarder"], default="bench", help=argparse.SUPPRESS
    )
    args = parser.parse_args()
    if args.role == "forwarder":
        asyncio.run(forwarder())
        return
    figures = asyncio.run(run(args))
    if args.json:
        print(json.dumps(figures))


if __name__ == "__main__":
    main()
