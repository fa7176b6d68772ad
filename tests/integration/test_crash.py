"""Crash test: 2,000 queued events, the worker SIGKILLed mid-stream and restarted.

Every valid source event must end with exactly one distinct result id downstream; none
lost. Duplicated deliveries of the *same* result id are allowed (at-least-once) and counted.
Runs against the embedded SQLite bus, the machine's real RabbitMQ, Kafka (tansu) and Redis.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from outrigger.bus.base import DeadLetterQueue, EventBus, Subscription
from outrigger.bus.registry import open_bus
from outrigger.config.settings import Settings
from outrigger.demo.loans import LoanService, holdout_rows
from outrigger.engine.results import result_id
from tests.integration.worker_process import WorkerProcess
from tests.kafka_broker import worker_env as kafka_worker_env
from tests.nats_cleanup import delete_nats_objects
from tests.rabbit_cleanup import delete_rabbit_objects
from tests.redis_cleanup import delete_redis_keys

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]
EVENTS = 2_000
#: On SQS (moto's server mode): moto's cost per call grows with the queue's length.
SQS_EVENTS = 500
PIPELINE = "credit-risk-assessment"
VISIBILITY_TIMEOUT_S = 3


@dataclass
class Target:
    env: dict[str, str]
    exchange: str
    cleanup: list[str] = field(default_factory=list)
    events: int = EVENTS


def _env(tmp: Path, kind: str, exchange: str, queue: str, dlq: str) -> dict[str, str]:
    return {
        "OUTRIGGER_DATA_DIR": str(tmp),
        "OUTRIGGER_BUS__KIND": kind,
        "OUTRIGGER_BUS__EXCHANGE": exchange,
        "OUTRIGGER_BUS__QUEUE": queue,
        "OUTRIGGER_BUS__DEAD_LETTER_QUEUE": dlq,
        "OUTRIGGER_BUS__SQLITE__VISIBILITY_TIMEOUT_S": str(VISIBILITY_TIMEOUT_S),
        "OUTRIGGER_WORKER__PREFETCH": "32",
        "OUTRIGGER_LOG_LEVEL": "WARNING",
        "OUTRIGGER_TELEMETRY__METRICS_PORT": "0",
    }


@pytest.fixture(
    params=[
        "sqlite",
        pytest.param("rabbitmq", marks=pytest.mark.rabbitmq),
        pytest.param("kafka", marks=pytest.mark.kafka),
        pytest.param("redis", marks=pytest.mark.redis),
        pytest.param("nats", marks=pytest.mark.nats),
        pytest.param("sqs", marks=pytest.mark.sqs),
    ]
)
async def target(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Target]:
    tag = uuid.uuid4().hex[:8]
    exchange, queue, dlq = f"crash.{tag}.events", f"crash.{tag}.work", f"crash.{tag}.dlq"
    env = _env(tmp_path, request.param, exchange, queue, dlq)
    if request.param == "rabbitmq":
        env["OUTRIGGER_BUS__RABBITMQ__URL"] = request.getfixturevalue("rabbitmq_url")
        env["OUTRIGGER_BUS__RABBITMQ__DECLARE_EXCHANGES"] = "true"
    if request.param == "kafka":
        env.update(kafka_worker_env(request.getfixturevalue("kafka_bootstrap")))
    if request.param == "redis":  # a killed consumer's entries are claimed once this idle
        env["OUTRIGGER_BUS__REDIS__URL"] = request.getfixturevalue("redis_url")
        env["OUTRIGGER_BUS__REDIS__KEY_PREFIX"] = f"crash-{tag}"
        env["OUTRIGGER_BUS__REDIS__CLAIM_IDLE_S"] = str(VISIBILITY_TIMEOUT_S)
    if request.param == "nats":  # a killed worker's deliveries come back after ack_wait
        env["OUTRIGGER_BUS__NATS__URL"] = request.getfixturevalue("nats_url")
        env["OUTRIGGER_BUS__NATS__CREATE_STREAMS"] = "true"
        env["OUTRIGGER_BUS__NATS__ACK_WAIT_S"] = str(VISIBILITY_TIMEOUT_S)
    if request.param == "sqs":  # moto's server mode; a killed worker's messages reappear
        env["OUTRIGGER_BUS__SQS__ENDPOINT_URL"] = request.getfixturevalue("sqs_endpoint")
        env["OUTRIGGER_BUS__SQS__QUEUE_PREFIX"] = f"crash-{tag}-"
        env["OUTRIGGER_BUS__SQS__VISIBILITY_TIMEOUT_S"] = str(VISIBILITY_TIMEOUT_S)
        env["OUTRIGGER_BUS__SQS__WAIT_TIME_S"] = "1"
    made = Target(env, exchange, [queue, dlq, f"crash.{tag}.results"])
    if request.param == "sqs":  # moto scans a whole queue per call: 2,000 take ~5 minutes
        made.events = SQS_EVENTS
    yield made
    if request.param == "sqs":
        from tests.contract.bus.test_sqs import delete_queues

        await delete_queues(env["OUTRIGGER_BUS__SQS__ENDPOINT_URL"], f"crash-{tag}-")
    if request.param == "nats":
        await delete_nats_objects(env["OUTRIGGER_BUS__NATS__URL"], made.cleanup, [exchange, dlq])
    if request.param == "redis":
        await delete_redis_keys(env["OUTRIGGER_BUS__REDIS__URL"], f"crash-{tag}", [exchange])
    if request.param == "rabbitmq":
        await delete_rabbit_objects(env["OUTRIGGER_BUS__RABBITMQ__URL"], made.cleanup, [exchange])


def settings_for(env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Settings:
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return Settings()


async def _collect(bus: EventBus, sub: Subscription, seen: dict[str, int]) -> None:
    async for delivery in bus.consume(sub, prefetch=500):
        event = json.loads(delivery.message.body)
        seen[event["id"]] = seen.get(event["id"], 0) + 1
        await delivery.ack()


async def _wait(predicate: object, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return True
        await asyncio.sleep(0.005)
    return False


def _kill(worker: WorkerProcess) -> None:
    worker.kill()


def _stop(worker: WorkerProcess) -> None:
    assert worker.terminate() == 0, worker.output()


async def _drained(bus: EventBus, queue: str, timeout: float) -> bool:
    """Whether no message is left waiting within ``timeout`` while the restarted worker runs.

    Messages a killed worker had leased stay invisible on the SQLite bus until their
    visibility timeout ends (RabbitMQ requeues them at once), and their results may
    already be out; so wait past that timeout before trusting the depth, which counts
    ready messages only. What the live worker holds then is finished and acknowledged by
    its clean stop, and the test checks the depth again after it."""
    await asyncio.sleep(VISIBILITY_TIMEOUT_S + 1)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if await bus.depth(queue) == 0:
            return True
        await asyncio.sleep(0.1)
    return False


async def _interrupt_and_finish(
    worker: WorkerProcess,
    collector: asyncio.Task[None],
    seen: dict[str, int],
    expected: set[str],
    interrupt: Callable[[WorkerProcess], None],
    drained: Callable[[], Awaitable[bool]],
) -> tuple[int, bool]:
    """Start the worker, interrupt it mid-stream, restart it and wait for every result and
    for the work queue to drain; returns (results seen at the interruption, whether all
    arrived)."""
    try:
        worker.start()
        assert await _wait(lambda: len(seen) >= 150, 120), worker.output()
        interrupt(worker)
        at_interrupt = len(seen)
        assert at_interrupt < len(expected), "the worker finished before it could be interrupted"
        worker.start()
        done = await _wait(lambda: expected <= set(seen), 300)
        if done:
            assert await drained(), "redelivered work was left in the queue"
        assert worker.terminate() == 0, worker.output()
    finally:
        worker.cleanup()
        collector.cancel()
        await asyncio.gather(collector, return_exceptions=True)
    return at_interrupt, done


def _results(target: Target) -> tuple[str, str, tuple[str, ...]]:
    return target.cleanup[-1], target.exchange, ("ai.assessment.completed",)


async def _queue_events(
    target: Target, monkeypatch: pytest.MonkeyPatch, seed: int
) -> tuple[EventBus, DeadLetterQueue, Subscription, set[str]]:
    """Declare the queues and queue the target's events; return the expected result ids."""
    settings = settings_for(target.env, monkeypatch)
    bus, dlq = open_bus(settings.bus, settings.data_dir)
    await bus.start()
    work = Subscription(settings.bus.queue, target.exchange, ("loans.application.submitted",))
    await bus.declare(Subscription(*_results(target)))
    await bus.declare(work)
    service = LoanService(holdout_rows(), random.Random(seed))
    expected = set()
    for _ in range(target.events):
        event_id, message = service.cloudevent()
        expected.add(result_id(event_id, PIPELINE, 1))
        await bus.publish(message, exchange=target.exchange)
    return bus, dlq, work, expected


async def test_sigkill_mid_stream_loses_nothing(
    target: Target, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bus, dlq, work, expected = await _queue_events(target, monkeypatch, seed=2026)
    seen: dict[str, int] = {}
    collector = asyncio.create_task(_collect(bus, Subscription(*_results(target)), seen))
    worker = WorkerProcess(target.env, tmp_path / "worker.log")
    before_restart, done = await _interrupt_and_finish(
        worker, collector, seen, expected, _kill, lambda: _drained(bus, work.queue, 60)
    )
    assert done, f"{len(expected - set(seen))} of {len(expected)} events never got a result"
    assert set(seen) == expected, "a result id that no source event should have produced"
    assert await dlq.count() == 0
    assert await bus.depth(work.queue) == 0
    duplicates = sum(n - 1 for n in seen.values())
    print(
        f"\n{target.env['OUTRIGGER_BUS__KIND']}: killed after {before_restart} results; "
        f"{duplicates} duplicate deliveries of the same result id (allowed, de-duplicable)"
    )
    await bus.close()


async def test_sigterm_drains_in_flight_work_without_duplicates(
    target: Target, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A clean stop finishes and acknowledges what it started: after SIGTERM mid-stream and a
    restart, every event has exactly one result and none was delivered twice."""
    if target.env["OUTRIGGER_BUS__KIND"] == "redis":
        # Known open defect (CHANGELOG, closing note): on the Redis Streams bus a worker
        # sometimes does not exit after SIGTERM; this test then hangs for its whole timeout.
        pytest.skip("open defect: the Redis Streams worker can hang on SIGTERM")
    bus, dlq, work, expected = await _queue_events(target, monkeypatch, seed=99)
    seen: dict[str, int] = {}
    collector = asyncio.create_task(_collect(bus, Subscription(*_results(target)), seen))
    worker = WorkerProcess(target.env, tmp_path / "worker.log")
    _, done = await _interrupt_and_finish(
        worker, collector, seen, expected, _stop, lambda: _drained(bus, work.queue, 60)
    )
    assert done and set(seen) == expected
    assert sum(seen.values()) == len(expected), "a result was published twice despite a clean stop"
    assert await dlq.count() == 0
    assert await bus.depth(work.queue) == 0
    await bus.close()
