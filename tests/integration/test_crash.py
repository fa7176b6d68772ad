"""Crash test: 2,000 events, the worker SIGKILLed mid-stream and restarted.

Every valid source event must end with exactly one distinct result id downstream; none
lost. Duplicated deliveries of the *same* result id are allowed (at-least-once) and counted.
Runs against every bus (tests/bus_env.py): the embedded SQLite bus, the machine's real
RabbitMQ, NATS and Redis, Kafka (tansu) and SQS (moto). The events are queued before the
worker starts, except on SQS, where they are fed while it runs (see ``SQS_BACKLOG``), and
except the last ``HELD``, published once the worker has been interrupted.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from outrigger.bus.base import BusMessage, DeadLetterQueue, EventBus, Subscription
from outrigger.bus.registry import open_bus
from outrigger.config.settings import Settings
from outrigger.demo.loans import LoanService, holdout_rows
from outrigger.engine.results import result_id
from tests.bus_env import BusEnv, bus_params, cleanup, make_env
from tests.integration.worker_process import WorkerProcess

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]
EVENTS = 2_000
#: On SQS (moto's server mode) every call costs time in proportion to the queue's length
#: (moto 5 scans all its messages on each send, receive and delete): 2,000 queued up front
#: would take minutes to drain, so there the events are fed while the worker runs, with
#: at most this many waiting.
SQS_BACKLOG = 50
#: The SIGTERM test: a clean stop's promise (what was started is finished and acknowledged)
#: does not depend on the count, and 2,000 events per bus added a minute and a half to the
#: suite. The SIGKILL test runs 2,000 on every bus (#12 and #13 ask for it).
SIGTERM_EVENTS = 500
#: Except on Kafka: the broker answers the collector's fetches in bursts (tansu holds a fetch
#: for up to librdkafka's ``fetch.wait.max.ms``), and one burst held 250-400 results, enough
#: for the worker to finish 500 events before the test saw the 150 it interrupts at.
KAFKA_SIGTERM_EVENTS = 2_000
PIPELINE = "credit-risk-assessment"
VISIBILITY_TIMEOUT_S = 3
#: A message the test itself puts on the results queue before the worker starts; the
#: collector sees it once it really reads (a Kafka consumer group has joined, for one).
#: Without it, results made while the collector was still joining arrived all at once
#: and the worker could finish before the test saw enough to interrupt it.
PROBE_ID = "probe"
#: The last events are published only once the worker has been interrupted, so the stream is
#: never over when it stops, however fast the worker or bursty the results it reads (Redis
#: and Kafka hand the collector hundreds of results at once: a worker had finished all 500
#: events before the test saw the 150 it interrupts at).
HELD = 100


@dataclass
class Target:
    bus: BusEnv
    #: How many events may wait in the work queue; None: all are queued before the worker starts.
    backlog: int | None = None

    @property
    def sqs(self) -> bool:
        return self.bus.kind == "sqs"

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
    target.backlog = SQS_BACKLOG if target.sqs else None
    yield target
    await cleanup(made, [target.results])


def settings_for(env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Settings:
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return Settings()


async def _collect(
    bus: EventBus, sub: Subscription, seen: dict[str, int], ready: asyncio.Event
) -> None:
    """Count each result id seen on ``sub``; the probe (``PROBE_ID``) only sets ``ready``.
    Acks run beside the loop, not one after the other: on SQS they are batched deletes, and
    one delete round trip per result let the results pile up in moto, whose every send and
    receive scans the whole queue (the SQS crash test took five minutes instead of two)."""
    acks: set[asyncio.Task[None]] = set()
    try:
        async for delivery in bus.consume(sub, prefetch=500):
            event = json.loads(delivery.message.body)
            if event["id"] == PROBE_ID:
                ready.set()
            else:
                seen[event["id"]] = seen.get(event["id"], 0) + 1
            task = asyncio.create_task(delivery.ack())
            acks.add(task)
            task.add_done_callback(acks.discard)
    finally:
        await asyncio.gather(*acks, return_exceptions=True)


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
    queued: Queued,
) -> tuple[int, bool]:
    """Start the worker, interrupt it mid-stream (the held events are published after the
    interruption), restart it and wait for every result and for the work queue to drain;
    returns (results seen at the interruption, whether all arrived). A feeder that failed
    fails the wait at once, with its error."""
    feeder = queued.feeder

    def all_in() -> bool:
        if feeder.done() and not feeder.cancelled() and feeder.exception() is not None:
            raise AssertionError("publishing the events failed") from feeder.exception()
        return expected <= set(seen)

    try:
        worker.start()
        assert await _wait(lambda: len(seen) >= 150, 120), worker.output()
        interrupt(worker)
        at_interrupt = len(seen)
        queued.interrupted.set()
        worker.start()
        done = await _wait(all_in, 300)
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


@dataclass
class Queued:
    bus: EventBus
    dlq: DeadLetterQueue
    work: Subscription
    expected: set[str]
    #: Publishes what did not fit in the backlog while the worker runs, and the held events
    #: once ``interrupted`` is set.
    feeder: asyncio.Task[None]
    interrupted: asyncio.Event

    async def close(self) -> None:
        self.feeder.cancel()
        await asyncio.gather(self.feeder, return_exceptions=True)
        await self.bus.close()


async def _feed(
    bus: EventBus, queue: str, messages: list[BusMessage], exchange: str, backlog: int
) -> None:
    """Publish ``messages`` in tens, waiting whenever ``backlog`` of them are waiting."""
    for start in range(0, len(messages), 10):
        while await bus.depth(queue) >= backlog:
            await asyncio.sleep(0.05)
        chunk = messages[start : start + 10]
        await asyncio.gather(*(bus.publish(m, exchange=exchange) for m in chunk))


async def _feed_then_held(
    bus: EventBus,
    queue: str,
    exchange: str,
    backlog: int,
    parts: tuple[list[BusMessage], list[BusMessage]],
    interrupted: asyncio.Event,
) -> None:
    """Feed the first part now and the held part once the worker has been interrupted."""
    rest, held = parts
    await _feed(bus, queue, rest, exchange, backlog)
    await interrupted.wait()
    await _feed(bus, queue, held, exchange, backlog)


async def _queue_events(
    target: Target, monkeypatch: pytest.MonkeyPatch, seed: int, events: int
) -> Queued:
    """Declare the queues and queue ``events`` events (up to the target's backlog; the
    feeder publishes the rest while the worker runs); return the expected result ids."""
    settings = settings_for(target.env, monkeypatch)
    bus, dlq = open_bus(settings.bus, settings.data_dir)
    await bus.start()
    work = Subscription(settings.bus.queue, target.exchange, ("loans.application.submitted",))
    await bus.declare(Subscription(*_results(target)))
    await bus.declare(work)
    service = LoanService(holdout_rows(), random.Random(seed))
    expected, messages = set(), []
    for _ in range(events):
        event_id, message = service.cloudevent()
        expected.add(result_id(event_id, PIPELINE, 1))
        messages.append(message)
    now, held = messages[:-HELD], messages[-HELD:]
    first = len(now) if target.backlog is None else target.backlog
    for message in now[:first]:
        await bus.publish(message, exchange=target.exchange)
    interrupted = asyncio.Event()
    backlog = target.backlog or len(messages)
    feeder = _feed_then_held(
        bus, work.queue, target.exchange, backlog, (now[first:], held), interrupted
    )
    return Queued(bus, dlq, work, expected, asyncio.create_task(feeder), interrupted)


@contextlib.asynccontextmanager
async def _run(
    target: Target,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    seed: int,
    interrupt: Callable[[WorkerProcess], None],
    events: int = EVENTS,
) -> AsyncIterator[tuple[Queued, dict[str, int], int]]:
    """Queue the events, run, interrupt and restart the worker until every result is in;
    yield the queued state, the result ids seen with their counts, and how many results
    were in when the worker was interrupted. The bus and the feeder are closed afterwards,
    whatever the test asserts."""
    queued = await _queue_events(target, monkeypatch, seed, events)
    try:
        seen, at_interrupt = await _finish(queued, target, tmp_path, interrupt)
        yield queued, seen, at_interrupt
    finally:
        await queued.close()


async def _await_probe(
    bus: EventBus, target: Target, ready: asyncio.Event, collector: asyncio.Task[None]
) -> None:
    """Publish the probe to the results and wait until the collector has read it."""
    results, exchange, (key,) = _results(target)
    probe = BusMessage(json.dumps({"id": PROBE_ID}).encode(), key)
    await bus.publish(probe, exchange=exchange)
    waiter = asyncio.ensure_future(ready.wait())
    await asyncio.wait([waiter, collector], timeout=120, return_when=asyncio.FIRST_COMPLETED)
    waiter.cancel()
    if not ready.is_set() and not collector.done():
        collector.cancel()
        raise AssertionError(f"the collector never read the probe from {results}")
    if not ready.is_set():
        collector.result()  # raises the collector's error
        raise AssertionError("the collector stopped before it read the probe")


async def _finish(
    queued: Queued, target: Target, tmp_path: Path, interrupt: Callable[[WorkerProcess], None]
) -> tuple[dict[str, int], int]:
    bus, expected = queued.bus, queued.expected
    seen: dict[str, int] = {}
    ready = asyncio.Event()
    collector = asyncio.create_task(_collect(bus, Subscription(*_results(target)), seen, ready))
    await _await_probe(bus, target, ready, collector)
    worker = WorkerProcess(target.env, tmp_path / "worker.log")
    at_interrupt, done = await _interrupt_and_finish(
        worker,
        collector,
        seen,
        expected,
        interrupt,
        lambda: _drained(bus, queued.work.queue, 60),
        queued,
    )
    assert done, f"{len(expected - set(seen))} of {len(expected)} events never got a result"
    assert queued.feeder.done() and queued.feeder.exception() is None
    assert set(seen) == expected, "a result id that no source event should have produced"
    assert await queued.dlq.count() == 0
    assert await bus.depth(queued.work.queue) == 0
    return seen, at_interrupt


async def test_sigkill_mid_stream_loses_nothing(
    target: Target, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with _run(target, tmp_path, monkeypatch, 2026, _kill) as (_, seen, before_restart):
        duplicates = sum(n - 1 for n in seen.values())
        print(
            f"\n{target.env['OUTRIGGER_BUS__KIND']}: killed after {before_restart} results; "
            f"{duplicates} duplicate deliveries of the same result id (allowed, de-duplicable)"
        )


async def test_sigterm_drains_in_flight_work_without_duplicates(
    target: Target, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A clean stop finishes and acknowledges what it started: after SIGTERM mid-stream and a
    restart, every event has exactly one result and none was delivered twice."""
    events = KAFKA_SIGTERM_EVENTS if target.bus.kind == "kafka" else SIGTERM_EVENTS
    async with _run(target, tmp_path, monkeypatch, 99, _stop, events) as (queued, seen, at_stop):
        print(f"\n{target.bus.kind}: stopped after {at_stop} results")
        assert sum(seen.values()) == len(queued.expected), (
            "a result was published twice despite a clean stop"
        )
