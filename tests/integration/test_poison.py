"""Poison messages on the real buses: whatever a step or the worker raises, the delivery
ends settled (dead-lettered with a reason, or redelivered and dead-lettered at the delivery
limit) and the worker keeps going: the valid events around it all get their result."""

from __future__ import annotations

import asyncio
import json
import random
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from outrigger.bus.base import BusMessage, DeadLetterQueue, EventBus, Subscription
from outrigger.config.settings import WorkerSettings
from outrigger.demo.loans import LoanService, holdout_rows
from outrigger.engine.pipeline import Pipeline, PipelineSet
from outrigger.engine.worker import Worker
from outrigger.storage.memory import MemoryIdempotencyStore
from tests.helpers import demo_pipelines, wait_until
from tests.rabbit_cleanup import delete_rabbit_objects

pytestmark = pytest.mark.timeout(120)


class Boom(Exception):
    """An exception type nothing in Outrigger knows."""


@dataclass
class Rig:
    bus: EventBus
    dlq: DeadLetterQueue
    exchange: str
    work: Subscription
    results: Subscription


@pytest.fixture(params=["memory", "sqlite", pytest.param("rabbitmq", marks=pytest.mark.rabbitmq)])
async def rig(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Rig]:
    from outrigger.bus.registry import open_bus
    from outrigger.bus.settings import BusSettings

    tag = uuid.uuid4().hex[:8]
    fields: dict[str, Any] = {
        "kind": request.param,
        "exchange": f"poison.{tag}.events",
        "queue": f"poison.{tag}.work",
        "dead_letter_queue": f"poison.{tag}.dlq",
    }
    if request.param == "rabbitmq":
        url = request.getfixturevalue("rabbitmq_url")
        fields["rabbitmq"] = {"url": url, "declare_exchanges": True}
    settings = BusSettings.model_validate(fields)
    bus, dlq = open_bus(settings, tmp_path)
    await bus.start()
    work = Subscription(settings.queue, settings.exchange, ("loans.#",))
    results = Subscription(f"{settings.queue}.results", settings.exchange, ("ai.#",))
    await bus.declare(work)
    await bus.declare(results)
    yield Rig(bus, dlq, settings.exchange, work, results)
    await bus.close()
    if request.param == "rabbitmq":
        queues = [work.queue, results.queue, settings.dead_letter_queue]
        await delete_rabbit_objects(url, queues, [settings.exchange])


async def no_sleep(_: float) -> None:
    await asyncio.sleep(0)


def worker_for(rig: Rig, pipelines: PipelineSet, **settings: Any) -> Worker:
    return Worker(
        rig.bus,
        rig.dlq,
        pipelines,
        MemoryIdempotencyStore(ttl_s=3600),
        WorkerSettings(**settings),
        rig.work,
        rig.exchange,
        sleep=no_sleep,
    )


async def run_until(
    rig: Rig, worker: Worker, messages: list[BusMessage], done: Callable[[], bool]
) -> None:
    stop = asyncio.Event()
    task = asyncio.create_task(worker.run(stop))
    try:
        for message in messages:
            await rig.bus.publish(message, exchange=rig.exchange)
        await wait_until(done, 60)
        assert not task.done(), "the worker stopped"
    finally:
        stop.set()
        await asyncio.wait_for(task, 30)


async def result_ids(rig: Rig, count: int) -> list[str]:
    seen: list[str] = []
    stream = rig.bus.consume(rig.results, prefetch=100)
    while len(seen) < count:
        delivery = await asyncio.wait_for(anext(stream), 30)
        seen.append(json.loads(delivery.message.body)["data"]["source_event_id"])
        await delivery.ack()
    await stream.aclose()  # type: ignore[attr-defined]
    return seen


@pytest.mark.parametrize("error", [Boom, KeyError, ZeroDivisionError, AssertionError, TypeError])
async def test_any_exception_from_a_step_is_dead_lettered_with_its_reason(
    rig: Rig, error: type[Exception], monkeypatch: pytest.MonkeyPatch
) -> None:
    service = LoanService(holdout_rows(), random.Random(3))
    poison_id, poison = service.cloudevent()
    valid = [service.cloudevent() for _ in range(4)]
    original = Pipeline.run

    async def run(self: Pipeline, event: Any, *args: Any, **kwargs: Any) -> BusMessage:
        if event.id == poison_id:
            raise error("step failed on purpose")
        return await original(self, event, *args, **kwargs)

    monkeypatch.setattr(Pipeline, "run", run)
    worker = worker_for(rig, demo_pipelines(), max_attempts=2)
    messages = [valid[0][1], valid[1][1], poison, valid[2][1], valid[3][1]]
    done = lambda: worker.stats.dead_lettered == 1 and worker.stats.results == 4  # noqa: E731
    await run_until(rig, worker, messages, done)
    (letter,) = await rig.dlq.list()
    assert letter.reason_code == "retries_exhausted"
    assert error.__name__ in letter.reason
    assert letter.message.body == poison.body
    assert sorted(await result_ids(rig, 4)) == sorted(event_id for event_id, _ in valid)


async def test_an_exception_outside_the_steps_is_redelivered_then_dead_lettered(
    rig: Rig,
) -> None:
    """A failure nothing classifies (here: while choosing the pipeline) sends the message
    back to the broker; at the delivery limit it is dead-lettered, even on brokers that
    only flag redeliveries (the worker counts them itself)."""
    service = LoanService(holdout_rows(), random.Random(4))
    poison_id, poison = service.cloudevent()
    valid = [service.cloudevent() for _ in range(3)]
    pipelines = demo_pipelines()
    choose = pipelines.match

    def match(event: Any, routing_key: str) -> Pipeline | None:
        if event.id == poison_id:
            raise Boom("no pipeline can be chosen for this one")
        return choose(event, routing_key)

    pipelines.match = match  # type: ignore[method-assign]
    worker = worker_for(rig, pipelines, max_deliveries=3)
    messages = [valid[0][1], poison, valid[1][1], valid[2][1]]
    done = lambda: worker.stats.dead_lettered == 1 and worker.stats.results == 3  # noqa: E731
    await run_until(rig, worker, messages, done)
    (letter,) = await rig.dlq.list()
    assert letter.reason_code == "delivery_limit"
    assert letter.attempts == 3
    assert "Boom" in letter.reason
    assert worker.stats.requeued == 2
    assert sorted(await result_ids(rig, 3)) == sorted(event_id for event_id, _ in valid)


async def test_deeply_nested_event_is_dead_lettered_not_left_in_flight(rig: Rig) -> None:
    service = LoanService(holdout_rows(), random.Random(5))
    _, valid = service.cloudevent()
    body = '{"specversion":"1.0","id":"deep","source":"s","type":"LoanApplicationSubmitted",'
    body += '"data":' + "[" * 100_000 + "]" * 100_000 + "}"
    deep = BusMessage(body.encode(), valid.routing_key, {}, "deep", "application/json")
    worker = worker_for(rig, demo_pipelines())
    done = lambda: worker.stats.dead_lettered == 1 and worker.stats.results == 1  # noqa: E731
    await run_until(rig, worker, [deep, valid], done)
    (letter,) = await rig.dlq.list()
    assert letter.reason_code == "too_deep"
    assert await rig.bus.depth(rig.work.queue) == 0
    assert len(await result_ids(rig, 1)) == 1


async def test_an_unroutable_result_is_dead_lettered_as_result_unroutable(
    rig: Rig, tmp_path: Path
) -> None:
    """No queue is bound to the result's key: said by name, not as a generic retry."""
    service = LoanService(holdout_rows(), random.Random(6))
    _, event = service.cloudevent()
    worker = worker_for(rig, demo_pipelines(), max_attempts=2)
    worker.result_exchange = f"{rig.exchange}.nobody"
    if rig.bus.kind == "rabbitmq":  # the exchange must exist for a mandatory publish
        await rig.bus.declare(Subscription(f"{rig.work.queue}.x", worker.result_exchange, ("x",)))
    await run_until(rig, worker, [event], lambda: worker.stats.dead_lettered == 1)
    (letter,) = await rig.dlq.list()
    assert letter.reason_code == "result_unroutable"
    assert worker.result_exchange in letter.reason
    assert "ai." in letter.reason  # the result's routing key is named
