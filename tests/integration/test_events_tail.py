"""``outrigger run``, ``events publish`` and ``events tail`` together, as the README shows
them, on the embedded SQLite bus and on RabbitMQ: tail sees the result event while the core
service's own queue still gets its copy."""

from __future__ import annotations

import asyncio
import json
import os
import random
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from outrigger.bus.base import BusMessage, Subscription
from outrigger.config.settings import Settings
from outrigger.demo.loans import LoanService, holdout_rows
from outrigger.runtime import bus_session
from tests.rabbit_cleanup import delete_rabbit_objects

pytestmark = pytest.mark.timeout(180)


def spawn(*args: str, env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "outrigger", *args],
        env={**os.environ, "COLUMNS": "200", **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_for_line(process: subprocess.Popen[str], text: str) -> None:
    assert process.stderr is not None
    for line in process.stderr:
        if text in line:
            return
    raise AssertionError(f"{text!r} never appeared; exit code {process.wait()}")


@pytest.fixture(params=["sqlite", pytest.param("rabbitmq", marks=pytest.mark.rabbitmq)])
def env(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[dict[str, str]]:
    tag = uuid.uuid4().hex[:8]
    values = {
        "OUTRIGGER_DATA_DIR": str(tmp_path),
        "OUTRIGGER_BUS__KIND": request.param,
        "OUTRIGGER_BUS__EXCHANGE": f"tail.{tag}.events",
        "OUTRIGGER_BUS__QUEUE": f"tail.{tag}.work",
        "OUTRIGGER_BUS__DEAD_LETTER_QUEUE": f"tail.{tag}.dlq",
        "OUTRIGGER_TELEMETRY__METRICS_PORT": "0",
    }
    if request.param == "rabbitmq":
        values["OUTRIGGER_BUS__RABBITMQ__URL"] = request.getfixturevalue("rabbitmq_url")
        values["OUTRIGGER_BUS__RABBITMQ__DECLARE_EXCHANGES"] = "true"
    yield values
    if request.param == "rabbitmq":
        queues = [f"tail.{tag}.work", f"tail.{tag}.dlq", f"tail.{tag}.core"]
        url = values["OUTRIGGER_BUS__RABBITMQ__URL"]
        asyncio.run(delete_rabbit_objects(url, queues, [f"tail.{tag}.events"]))


def settings_of(env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Settings:
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return Settings()


async def core_service_queue(settings: Settings) -> Subscription:
    """The core service's own durable queue for results, bound before anything runs."""
    sub = Subscription(f"{settings.bus.queue.rsplit('.', 1)[0]}.core", settings.bus.exchange)
    sub = Subscription(sub.queue, sub.exchange, ("ai.#",))
    async with bus_session(settings) as (bus, _):
        await bus.declare(sub)
    return sub


async def take_one(settings: Settings, sub: Subscription) -> BusMessage:
    async with bus_session(settings) as (bus, _):
        stream = bus.consume(sub, prefetch=1)
        delivery = await asyncio.wait_for(anext(stream), 30)
        await delivery.ack()
        await stream.aclose()  # type: ignore[attr-defined]
        return delivery.message


def test_run_publish_and_tail_together(
    env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = settings_of(env, monkeypatch)
    core = asyncio.run(core_service_queue(settings))
    event_id, message = LoanService(holdout_rows(), random.Random(9)).cloudevent()
    event_file = tmp_path / "event.json"
    event_file.write_bytes(message.body)
    worker = spawn("run", env=env)
    tail = spawn("events", "tail", "--count", "1", "--timeout", "90", "--json", env=env)
    try:
        wait_for_line(tail, "following")
        published = subprocess.run(
            [sys.executable, "-m", "outrigger", "events", "publish", str(event_file)],
            env={**os.environ, **env},
            check=False,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert published.returncode == 0, published.stderr
        # No -k: the key comes from the pipeline that handles the event's type.
        said = " ".join((published.stdout + published.stderr).split())
        assert "with routing key loans.application.submitted" in said
        assert "from pipeline credit-risk-assessment@1" in said
        out, errors = tail.communicate(timeout=120)
        assert tail.returncode == 0, errors
        (line,) = out.strip().splitlines()
        result = json.loads(line)
        assert result["type"] == "com.acme.ai.AiAssessmentCompleted"
        assert result["routing_key"] == "ai.assessment.completed"
        assert result["data"]["source_event_id"] == event_id
        # The tail took a copy: the core service's queue still has the result.
        delivered = asyncio.run(take_one(settings, core))
        assert json.loads(delivered.body)["data"]["source_event_id"] == event_id
    finally:
        for process in (tail, worker):
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
                process.wait(timeout=60)


def test_tail_times_out_with_exit_code_1_and_leaves_no_queue_behind(
    env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = settings_of(env, monkeypatch)
    tail = spawn("events", "tail", "-k", "nothing.here", "--count", "1", "--timeout", "1", env=env)
    _, errors = tail.communicate(timeout=120)
    assert tail.returncode == 1
    assert "got 0 of 1 events" in errors

    async def unroutable() -> None:
        async with bus_session(settings) as (bus, _):
            with pytest.raises(Exception, match="unroutable"):
                await bus.publish(BusMessage(b"{}", "nothing.here"), exchange=bus_exchange)

    bus_exchange = settings.bus.exchange
    asyncio.run(unroutable())
