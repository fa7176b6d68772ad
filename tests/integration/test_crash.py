"""Crash test: 2,000 queued events, the worker SIGKILLed mid-stream and restarted.

Every valid source event must end with exactly one distinct result id downstream; none
lost. Duplicated deliveries of the *same* result id are allowed (at-least-once) and counted.
Runs against every bus (tests/bus_env.py): the embedded SQLite bus, the machine's real
RabbitMQ, NATS and Redis, Kafka (tansu) and SQS (moto).
"""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from outrigger.bus.base import DeadLetterQueue, EventBus, Subscription
from outrigger.bus.registry import open_bus
from outrigger.config.settings import Settings
from outrigger.demo.loans import LoanService, holdout_rows
from outrigger.engine.results import result_id
from tests.bus_env import BusEnv, bus_params, cleanup, make_env
from tests.integration.worker_process import WorkerProcess

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]
EVENTS = 2_000
#: On SQS (moto's server mode): moto's cost per call grows with the queue's length.
SQS_EVENTS = 500
PIPELINE = "credit-risk-assessment"
VISIBILITY_TIMEOUT_S = 3


@dataclass
class Target:
    bus: BusEnv
    events: int = EVENTS

    @property
    def env(self) -> dict[str, str]:
        return self.bus.env

    @property
    def exchange(self) -> str:
        return self.bus.exchange

    @property
    def results(self) -> str:
        """The results queue the test's collector reads."""
        return self.bus.name("results")


@pytest.fixture(params=bus_params())
async def target(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Target]:
    # A killed consumer's unacknowledged messages come back after VISIBILITY_TIMEOUT_S (the
    # SQLite and SQS visibility timeout, Redis's claim idle, NATS's ack wait).
    made = make_env(request, tmp_path, "crash", redelivery_s=VISIBILITY_TIMEOUT_S)
    made.env["OUTRIGGER_WORKER__PREFETCH"] = "32"
    made.env["OUTRIGGER_LOG_LEVEL"] = "WARNING"
    target = Target(made)
    if made.kind == "sqs":  # moto scans a whole queue per call: 2,000 take ~5 minutes
        target.events = SQS_EVENTS
    yield target
    await cleanup(made, [target.results])


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
    return target.results, target.exchange, ("ai.assessment.completed",)


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
