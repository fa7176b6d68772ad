"""Two workers on one subscription (competing consumers: one queue, one consumer group) share
the work, and every event still gets exactly one result downstream."""

from __future__ import annotations

import asyncio
import json
import random
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from outrigger.bus.base import DeadLetterQueue, EventBus, Subscription
from outrigger.bus.registry import open_bus
from outrigger.bus.settings import BusSettings
from outrigger.config.settings import WorkerSettings
from outrigger.demo.loans import LoanService, holdout_rows
from outrigger.engine.worker import Worker
from outrigger.storage.memory import MemoryIdempotencyStore
from tests.helpers import demo_pipelines, wait_until
from tests.rabbit_cleanup import delete_rabbit_objects

pytestmark = pytest.mark.timeout(180)
EVENTS = 400


@pytest.fixture(params=["sqlite", pytest.param("rabbitmq", marks=pytest.mark.rabbitmq)])
async def bus_settings(request: pytest.FixtureRequest) -> AsyncIterator[BusSettings]:
    tag = uuid.uuid4().hex[:8]
    fields: dict[str, Any] = {
        "kind": request.param,
        "exchange": f"compete.{tag}.events",
        "queue": f"compete.{tag}.work",
        "dead_letter_queue": f"compete.{tag}.dlq",
    }
    if request.param == "rabbitmq":
        url = request.getfixturevalue("rabbitmq_url")
        fields["rabbitmq"] = {"url": url, "declare_exchanges": True}
    settings = BusSettings.model_validate(fields)
    yield settings
    if request.param == "rabbitmq":
        queues = [settings.queue, f"{settings.queue}.results", settings.dead_letter_queue]
        await delete_rabbit_objects(url, queues, [settings.exchange])


async def started(settings: BusSettings, data_dir: Path) -> tuple[EventBus, DeadLetterQueue]:
    bus, dlq = open_bus(settings, data_dir)
    await bus.start()
    return bus, dlq


async def test_two_workers_share_the_work_with_one_result_per_event(
    bus_settings: BusSettings, tmp_path: Path
) -> None:
    work = Subscription(bus_settings.queue, bus_settings.exchange, ("loans.#",))
    results = Subscription(f"{bus_settings.queue}.results", bus_settings.exchange, ("ai.#",))
    producer, _ = await started(bus_settings, tmp_path)
    await producer.declare(work)
    await producer.declare(results)
    idempotency = MemoryIdempotencyStore(ttl_s=3600)  # shared, as a database would be
    workers, stop = [], asyncio.Event()
    buses = []
    for _ in range(2):  # each worker with its own connection, as two processes would have
        bus, dlq = await started(bus_settings, tmp_path)
        buses.append(bus)
        workers.append(
            Worker(
                bus,
                dlq,
                demo_pipelines(),
                idempotency,
                WorkerSettings(prefetch=16),
                work,
                bus_settings.exchange,
            )
        )
    tasks = [asyncio.create_task(w.run(stop)) for w in workers]
    service = LoanService(holdout_rows(), random.Random(11))
    sent = set()
    try:
        for _ in range(EVENTS):
            event_id, message = service.cloudevent()
            sent.add(event_id)
            await producer.publish(message, exchange=bus_settings.exchange)
        await wait_until(lambda: sum(w.stats.results for w in workers) >= EVENTS, 120)
    finally:
        stop.set()
        await asyncio.gather(*tasks)
    assert all(w.stats.results > 0 for w in workers), [w.stats for w in workers]
    seen: list[str] = []
    stream = producer.consume(results, prefetch=200)
    while len(seen) < EVENTS:
        delivery = await asyncio.wait_for(anext(stream), 30)
        seen.append(json.loads(delivery.message.body)["data"]["source_event_id"])
        await delivery.ack()
    await stream.aclose()  # type: ignore[attr-defined]
    assert sorted(seen) == sorted(sent)  # each event once: none lost, none twice
    await asyncio.sleep(0.5)
    assert await producer.depth(results.queue) == 0
    for bus in [*buses, producer]:
        await bus.close()
