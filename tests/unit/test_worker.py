"""The delivery policy, on the in-memory bus with a controllable model."""

from __future__ import annotations

import asyncio
import json
import logging
import random
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest

from outrigger.bus.base import BusMessage, Subscription
from outrigger.bus.memory.bus import MemoryBus
from outrigger.bus.memory.dlq import MemoryDeadLetterQueue
from outrigger.config.settings import WorkerSettings
from outrigger.demo.loans import LoanService, holdout_rows
from outrigger.demo.malformed import CORPUS
from outrigger.engine.pipeline import PipelineSet
from outrigger.engine.results import result_id
from outrigger.engine.worker import Worker
from outrigger.errors import TransientError
from outrigger.storage.memory import MemoryIdempotencyStore
from tests.helpers import demo_pipelines, wait_until

EXCHANGE = "domain.events"
RESULTS = Subscription("results", EXCHANGE, ("ai.#",))


async def no_sleep(_: float) -> None:
    await asyncio.sleep(0)


@dataclass
class Rig:
    bus: MemoryBus
    dlq: MemoryDeadLetterQueue
    worker: Worker
    service: LoanService
    stop: asyncio.Event
    task: asyncio.Task[None]

    async def publish(self, message: BusMessage) -> None:
        await self.bus.publish(message, exchange=EXCHANGE)

    async def results(self) -> list[dict[str, Any]]:
        out = []
        stream = self.bus.consume(RESULTS, prefetch=10_000)
        while await self.bus.depth(RESULTS.queue):
            delivery = await anext(stream)
            out.append(json.loads(delivery.message.body))
            await delivery.ack()
        return out

    async def settle(self, expected: int) -> None:
        stats = self.worker.stats
        await wait_until(
            lambda: (
                stats.results
                + stats.dead_lettered
                + stats.duplicates_skipped
                + stats.ignored
                + stats.requeued
                >= expected
            )
        )


@pytest.fixture
async def rig_factory() -> AsyncIterator[Any]:
    rigs: list[Rig] = []

    async def make(pipelines: PipelineSet | None = None, bus: Any = None, **settings: Any) -> Rig:
        bus = bus or MemoryBus()
        await bus.start()
        dlq = MemoryDeadLetterQueue(bus)
        pipes = pipelines or demo_pipelines()
        sub = Subscription("outrigger.pipelines", EXCHANGE, pipes.bindings())
        await bus.declare(sub)
        await bus.declare(RESULTS)
        worker = Worker(
            bus,
            dlq,
            pipes,
            MemoryIdempotencyStore(ttl_s=3600),
            WorkerSettings(**settings),
            sub,
            EXCHANGE,
            sleep=no_sleep,
        )
        stop = asyncio.Event()
        rig = Rig(
            bus,
            dlq,
            worker,
            LoanService(holdout_rows(), random.Random(1)),
            stop,
            asyncio.create_task(worker.run(stop)),
        )
        rigs.append(rig)
        return rig

    yield make
    for rig in rigs:
        rig.stop.set()
        await asyncio.wait_for(rig.task, 10)


async def test_valid_events_become_results_with_deterministic_ids(rig_factory: Any) -> None:
    rig = await rig_factory()
    ids = []
    for binary in (False, True, False):
        event_id, message = rig.service.cloudevent(binary=binary)
        ids.append(event_id)
        await rig.publish(message)
    await rig.settle(3)
    results = await rig.results()
    assert sorted(r["data"]["source_event_id"] for r in results) == sorted(ids)
    for r in results:
        assert r["type"] == "com.acme.ai.AiAssessmentCompleted"
        assert r["correlationid"] == r["data"]["source_event_id"]
        assert r["data"]["models"] == [{"name": "credit-risk", "version": "9.9.9-test"}]
        assert 0 <= r["data"]["risk_score"] <= 1
        assert r["data"]["risk_band"] in ("low", "medium", "high")
        assert r["data"]["latency_ms"] >= 0
    pipeline = rig.worker.pipelines.pipelines[0]
    assert {r["id"] for r in results} == {result_id(i, pipeline.name, 1) for i in ids}
    assert await rig.bus.depth("outrigger.pipelines") == 0


async def test_every_malformed_kind_is_dead_lettered_and_neighbours_processed(
    rig_factory: Any,
) -> None:
    rig = await rig_factory(max_event_bytes=1_048_576)
    valid = 0
    for n, (_kind, (_code, _, make)) in enumerate(sorted(CORPUS.items())):
        _, good = rig.service.cloudevent()
        await rig.publish(good)
        valid += 1
        await rig.publish(make(rig.service, n))
    await rig.settle(valid + len(CORPUS))
    letters = await rig.dlq.list(limit=100)
    assert len(CORPUS) >= 12
    assert sorted(x.reason_code for x in letters) == sorted(code for code, _, _ in CORPUS.values())
    assert all(x.reason and x.attempts >= 1 and x.message.body is not None for x in letters)
    assert len(await rig.results()) == valid
    assert not rig.task.done()


async def test_a_publish_step_naming_an_exchange_publishes_its_results_there(
    rig_factory: Any,
) -> None:
    rig = await rig_factory(demo_pipelines(result_exchange="ai.results"))
    own = Subscription("own-results", "ai.results", ("#",))
    await rig.bus.declare(own)
    _, message = rig.service.cloudevent()
    await rig.publish(message)
    await rig.settle(1)
    assert rig.worker.stats.results == 1
    assert await rig.bus.depth("own-results") == 1  # the step's exchange
    assert await rig.results() == []  # not the deployment's result exchange


async def test_redelivered_event_is_not_processed_twice(rig_factory: Any) -> None:
    rig = await rig_factory()
    _, message = rig.service.cloudevent()
    await rig.publish(message)
    await rig.settle(1)
    await rig.publish(message)
    await rig.settle(2)
    assert rig.worker.stats.duplicates_skipped == 1
    assert len(await rig.results()) == 1


async def test_transient_failures_are_retried(rig_factory: Any) -> None:
    failures = {"left": 2}

    def flaky(row: dict[str, Any]) -> float:
        if failures["left"]:
            failures["left"] -= 1
            raise TransientError("model server hiccup")
        return 0.1

    rig = await rig_factory(demo_pipelines(flaky))
    await rig.publish(rig.service.cloudevent()[1])
    await rig.settle(1)
    assert rig.worker.stats.retries == 2
    assert rig.worker.stats.results == 1


async def test_worker_metrics_count_outcomes(rig_factory: Any) -> None:
    rig = await rig_factory()
    await rig.publish(rig.service.cloudevent()[1])
    await rig.publish(BusMessage(b"not json", "loans.application.submitted"))
    await rig.settle(2)
    text = rig.worker.metrics.exposition().decode()
    assert (
        'outrigger_events_processed_total{outcome="result",pipeline="credit-risk-assessment@1"} 1.0'
        in text
    )
    assert 'outrigger_dead_letters_total{reason="not_json"} 1.0' in text
    assert 'outrigger_events_received_total{queue="outrigger.pipelines"} 2.0' in text
    assert "outrigger_event_processing_seconds_count" in text


async def test_payload_values_never_reach_the_logs(
    rig_factory: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    canary = "CANARY-Priya-Sharma-ABCDE1234F"

    def failing(row: dict[str, Any]) -> float:
        raise RuntimeError(f"model choked on {canary}")

    rig = await rig_factory(demo_pipelines(failing), max_attempts=2)
    event = json.loads(rig.service.cloudevent()[1].body)
    event["data"]["applicant"]["prior_default_records"] = canary
    await rig.publish(BusMessage(json.dumps(event).encode(), "loans.application.submitted"))
    await rig.publish(rig.service.cloudevent()[1])
    await rig.settle(2)
    assert {x.reason_code for x in await rig.dlq.list()} == {"mapping_failed", "retries_exhausted"}
    assert any(canary in x.reason for x in await rig.dlq.list())  # kept for the operator
    assert caplog.records, "the worker logged nothing at all"
    assert canary not in caplog.text


async def test_retries_are_bounded_then_dead_lettered(rig_factory: Any) -> None:
    def broken(row: dict[str, Any]) -> float:
        raise RuntimeError("always down")

    rig = await rig_factory(demo_pipelines(broken), max_attempts=3)
    await rig.publish(rig.service.cloudevent()[1])
    await rig.settle(1)
    (letter,) = await rig.dlq.list()
    assert letter.reason_code == "retries_exhausted"
    assert letter.attempts == 3
    assert "always down" in letter.reason
    assert letter.pipeline == "credit-risk-assessment@1"


async def test_out_of_range_score_is_never_published(rig_factory: Any) -> None:
    rig = await rig_factory(demo_pipelines(lambda row: 1.5))
    await rig.publish(rig.service.cloudevent()[1])
    await rig.settle(1)
    (letter,) = await rig.dlq.list()
    assert letter.reason_code == "invalid_output"
    assert "risk_score" in letter.reason
    assert await rig.results() == []


async def test_nan_score_is_never_published(rig_factory: Any) -> None:
    rig = await rig_factory(demo_pipelines(lambda row: float("nan")))
    await rig.publish(rig.service.cloudevent()[1])
    await rig.settle(1)
    assert (await rig.dlq.list())[0].reason_code == "invalid_output"


class FlakyPublishBus(MemoryBus):
    def __init__(self, failures: int) -> None:
        super().__init__()
        self.failures = failures

    async def publish(self, message: BusMessage, *, exchange: str) -> None:
        if message.routing_key.startswith("ai.") and self.failures:
            self.failures -= 1
            raise TransientError("no publisher confirm")
        await super().publish(message, exchange=exchange)


async def test_unconfirmed_result_publish_is_retried_before_ack(rig_factory: Any) -> None:
    rig = await rig_factory(bus=FlakyPublishBus(failures=2))
    await rig.publish(rig.service.cloudevent()[1])
    await rig.settle(1)
    assert rig.worker.stats.retries == 2
    assert len(await rig.results()) == 1


class BrokenDlq(MemoryDeadLetterQueue):
    async def put(self, letter: Any) -> None:
        raise TransientError("dlq down")


async def test_message_is_requeued_not_lost_when_dlq_is_down(rig_factory: Any) -> None:
    rig = await rig_factory()
    rig.worker.dlq = BrokenDlq(rig.bus)
    await rig.publish(BusMessage(b"not json", "loans.application.submitted"))
    await wait_until(lambda: rig.worker.stats.requeued >= 3)
    rig.worker.dlq = rig.dlq
    await wait_until(lambda: rig.worker.stats.dead_lettered == 1)
    (letter,) = await rig.dlq.list()
    assert letter.reason_code == "not_json"


async def test_poison_message_hits_the_delivery_limit(rig_factory: Any) -> None:
    rig = await rig_factory(max_deliveries=2)
    _, message = rig.service.cloudevent()
    sub = rig.worker.subscription
    rig.stop.set()
    await rig.task
    # Simulate two earlier deliveries that crashed the worker before it could settle.
    await rig.bus.publish(message, exchange=EXCHANGE)
    for _ in range(2):
        stream = rig.bus.consume(sub, prefetch=1)
        delivery = await anext(stream)
        await delivery.nack(requeue=True)
    await rig.worker.handle(await anext(rig.bus.consume(sub, prefetch=1)))
    (letter,) = await rig.dlq.list()
    assert letter.reason_code == "delivery_limit"
    assert letter.attempts == 3


async def test_events_without_a_pipeline_are_acked_and_ignored(rig_factory: Any) -> None:
    rig = await rig_factory()
    body = json.dumps(
        {"specversion": "1.0", "id": "x", "source": "s", "type": "com.acme.Other", "data": {}}
    )
    await rig.bus.declare(Subscription("outrigger.pipelines", EXCHANGE, ("other.#",)))
    await rig.bus.publish(BusMessage(body.encode(), "other.thing"), exchange=EXCHANGE)
    await rig.settle(1)
    assert rig.worker.stats.ignored == 1
    assert await rig.dlq.count() == 0


def test_backoff_grows_exponentially_with_jitter_and_cap() -> None:
    worker = Worker(
        None,
        None,
        None,
        None,
        WorkerSettings(backoff_initial_s=0.1, backoff_max_s=1.0),  # type: ignore[arg-type]
        Subscription("q", "x"),
        "x",
    )
    for attempt, upper in ((1, 0.1), (2, 0.2), (3, 0.4), (4, 0.8), (5, 1.0), (9, 1.0)):
        values = [worker.backoff(attempt) for _ in range(50)]
        assert all(upper / 2 <= v <= upper for v in values)


async def test_occupancy_counts_the_deliveries_in_flight(rig_factory: Any) -> None:
    """What the steps' batch windows wait for: deliveries being handled, none once settled."""
    seen: list[int] = []
    holder: list[Worker] = []

    def score(row: dict[str, Any]) -> float:
        seen.append(holder[0].occupancy.active)
        return 0.5

    rig = await rig_factory(demo_pipelines(score))
    holder.append(rig.worker)
    for _ in range(5):
        await rig.publish(rig.service.cloudevent()[1])
    await rig.settle(5)
    await wait_until(lambda: not rig.worker._inflight)
    assert len(seen) == 5 and max(seen) >= 2  # several at work together
    assert rig.worker.occupancy.active == 0


class UnevenConfirmBus(MemoryBus):
    """Results confirmed after uneven delays, as a broker's confirms arrive: events finish
    their publish in different loop ticks."""

    def __init__(self) -> None:
        super().__init__()
        self.delays = random.Random(7)

    async def publish(self, message: BusMessage, *, exchange: str) -> None:
        if message.routing_key.startswith("ai."):
            await asyncio.sleep(self.delays.uniform(0, 0.03))
        await super().publish(message, exchange=exchange)


@pytest.mark.parametrize(("wait_ms", "most_batches"), [(0, None), (1000, 3)])
async def test_results_of_events_in_flight_together_are_recorded_together(
    rig_factory: Any, wait_ms: float, most_batches: int | None
) -> None:
    """One idempotency write for the events that finish while others are at work (each
    waits in the window for them), instead of one per event; each still gets its result."""
    rig = await rig_factory(bus=UnevenConfirmBus(), batch_max_wait_ms=wait_ms)
    ids = []
    for _ in range(20):
        event_id, message = rig.service.cloudevent()
        ids.append(event_id)
        await rig.publish(message)
    await rig.settle(20)
    records = rig.worker._records
    assert records.items == 20
    if most_batches is None:  # no window: each confirm's event is recorded on its own
        assert records.batches >= 10
    else:
        assert records.batches <= most_batches
    results = await rig.results()
    assert sorted(r["data"]["source_event_id"] for r in results) == sorted(ids)
    for r in results:
        assert await rig.worker.idempotency.get(r["id"]) == r["id"]
    assert rig.worker._lookups.items == 20


async def test_idempotency_windows_wait_only_for_the_workers_deliveries(
    rig_factory: Any,
) -> None:
    rig = await rig_factory(batch_max_wait_ms=7, batch_max_size=5)
    for window in (rig.worker._lookups, rig.worker._records):
        assert window.company is rig.worker.occupancy
        assert (window.max_wait_s, window.max_size) == (0.007, 5)
