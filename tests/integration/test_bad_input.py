"""Bad input on the real buses: every malformed kind is dead-lettered with its reason, the
worker stays up, and the valid events around them are all scored by the real ONNX model."""

from __future__ import annotations

import asyncio
import json
import random
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from outrigger.bus.base import Subscription
from outrigger.config.settings import Settings
from outrigger.demo.loans import LoanService, holdout_rows
from outrigger.demo.malformed import CORPUS
from outrigger.runtime import build_runtime
from tests.helpers import wait_until
from tests.rabbit_cleanup import delete_rabbit_objects

pytestmark = pytest.mark.timeout(180)


@pytest.fixture(params=["sqlite", pytest.param("rabbitmq", marks=pytest.mark.rabbitmq)])
async def settings(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[Settings]:
    tag = uuid.uuid4().hex[:8]
    env = {
        "OUTRIGGER_DATA_DIR": str(tmp_path),
        "OUTRIGGER_BUS__KIND": request.param,
        "OUTRIGGER_BUS__EXCHANGE": f"bad.{tag}.events",
        "OUTRIGGER_BUS__QUEUE": f"bad.{tag}.work",
        "OUTRIGGER_BUS__DEAD_LETTER_QUEUE": f"bad.{tag}.dlq",
    }
    if request.param == "rabbitmq":
        env["OUTRIGGER_BUS__RABBITMQ__URL"] = request.getfixturevalue("rabbitmq_url")
        env["OUTRIGGER_BUS__RABBITMQ__DECLARE_EXCHANGES"] = "true"
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    yield Settings()
    if request.param == "rabbitmq":
        queues = [f"bad.{tag}.work", f"bad.{tag}.dlq", f"bad.{tag}.work.results"]
        await delete_rabbit_objects(
            env["OUTRIGGER_BUS__RABBITMQ__URL"], queues, [f"bad.{tag}.events"]
        )


async def test_malformed_corpus_is_dead_lettered_with_reasons(settings: Settings) -> None:
    runtime = await build_runtime(settings)
    results = Subscription(f"{settings.bus.queue}.results", settings.bus.exchange, ("ai.#",))
    await runtime.bus.declare(results)
    worker = runtime.worker()
    stop = asyncio.Event()
    task = asyncio.create_task(worker.run(stop))
    service = LoanService(holdout_rows(), random.Random(5))
    valid_ids = set()
    expected_codes = []
    try:
        for n, (code, _, make) in enumerate(CORPUS.values()):
            for _ in range(2):
                event_id, message = service.cloudevent(binary=n % 2 == 1)
                valid_ids.add(event_id)
                await runtime.bus.publish(message, exchange=settings.bus.exchange)
            await runtime.bus.publish(make(service, n), exchange=settings.bus.exchange)
            expected_codes.append(code)
        stats = worker.stats
        await wait_until(
            lambda: stats.results + stats.dead_lettered >= len(valid_ids) + len(CORPUS), 120
        )
        assert not task.done(), "the worker stopped"
        letters = await runtime.dlq.list(limit=1000)
        assert sorted(x.reason_code for x in letters) == sorted(expected_codes)
        for letter in letters:
            assert letter.reason and letter.attempts >= 1
            assert letter.source_queue == settings.bus.queue
        oversized = next(x for x in letters if x.reason_code == "oversized")
        assert len(oversized.message.body) > settings.worker.max_event_bytes  # original bytes kept
        scored = set()
        stream = runtime.bus.consume(results, prefetch=500)
        while len(scored) < len(valid_ids):
            delivery = await asyncio.wait_for(anext(stream), 30)
            data = json.loads(delivery.message.body)["data"]
            assert data["models"] == [{"name": "credit-risk", "version": "1.0.0"}]
            scored.add(data["source_event_id"])
            await delivery.ack()
        assert scored == valid_ids
    finally:
        stop.set()
        await asyncio.wait_for(task, 30)
        await runtime.close()
