"""``outrigger run``, ``events publish`` and ``events tail`` together, as the README shows
them, on every bus: tail sees the result event while the core service's own queue still gets
its copy, and its temporary subscription is gone from the broker once it stops."""

from __future__ import annotations

import asyncio
import json
import os
import random
import signal
import subprocess
import sys
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path

import pytest

from outrigger.bus.base import BusMessage, Subscription
from outrigger.config.settings import Settings
from outrigger.demo.loans import LoanService, holdout_rows
from outrigger.runtime import bus_session
from tests.bus_env import BusEnv, bus_params, cleanup, holds, make_env

pytestmark = pytest.mark.timeout(180)


def spawn(*args: str, env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "outrigger", *args],
        env={**os.environ, "COLUMNS": "200", **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_for_line(process: subprocess.Popen[str], text: str) -> str:
    assert process.stderr is not None
    for line in process.stderr:
        if text in line:
            return line
    raise AssertionError(f"{text!r} never appeared; exit code {process.wait()}")


@pytest.fixture(params=bus_params())
def bus(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[BusEnv]:
    made = make_env(request, tmp_path, "tail")
    yield made
    asyncio.run(cleanup(made, [made.name("core")]))


@pytest.fixture
def env(bus: BusEnv) -> dict[str, str]:
    return bus.env


def settings_of(env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Settings:
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return Settings()


async def core_service_queue(settings: Settings) -> Subscription:
    """The core service's own durable queue for results, bound before anything runs. Its
    binding names the result's key: on Kafka that creates the topic results go to (a
    follower creates none)."""
    queue = f"{settings.bus.queue.rsplit('.', 1)[0]}.core"
    sub = Subscription(queue, settings.bus.exchange, ("ai.assessment.completed",))
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
    bus: BusEnv, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = settings_of(bus.env, monkeypatch)
    if bus.kind == "kafka":  # a member joins its group once a topic it reads exists
        asyncio.run(create_topic(settings, "nothing.here"))
    # Long enough to be seen following; on Kafka, joining a group takes seconds (more on a
    # busy machine), and the group exists only from then until the tail stops.
    follow_s = "20" if bus.kind == "kafka" else "5"
    tail = spawn(
        "events", "tail", "-k", "nothing.here", "--count", "1", "--timeout", follow_s, env=bus.env
    )
    line = wait_for_line(tail, "following")
    queue = line.split("temporary subscription ", 1)[1].split()[0]
    assert queue.startswith(f"{bus.queue}.tail."), line
    # While it follows, the broker has its subscription (the check below is not vacuous;
    # a Kafka group exists once its member has joined).
    seen = asyncio.run(eventually(lambda: holds(bus, queue), timeout_s=float(follow_s)))
    assert seen, f"{queue} not on the broker"
    _, errors = tail.communicate(timeout=120)
    assert tail.returncode == 1
    assert "got 0 of 1 events" in errors
    # Stopped, it left nothing: no queue, binding, consumer, group or topic of its own.
    assert not asyncio.run(holds(bus, queue)), f"{queue} is still on the {bus.kind} broker"
    if bus.kind != "kafka":  # Kafka routes by topic, whoever reads it: nothing to refuse

        async def unroutable() -> None:
            async with bus_session(settings) as (opened, _):
                with pytest.raises(Exception, match="unroutable"):
                    await opened.publish(BusMessage(b"{}", "nothing.here"), exchange=exchange)

        exchange = settings.bus.exchange
        asyncio.run(unroutable())


async def eventually(check: Callable[[], Awaitable[bool]], timeout_s: float = 10) -> bool:
    deadline = asyncio.get_running_loop().time() + timeout_s
    while not await check():
        if asyncio.get_running_loop().time() > deadline:
            return False
        await asyncio.sleep(0.2)
    return True


async def create_topic(settings: Settings, routing_key: str) -> None:
    from outrigger.bus.kafka.bus import KafkaBus
    from outrigger.bus.kafka.naming import topic_for

    async with bus_session(settings) as (opened, _):
        assert isinstance(opened, KafkaBus)
        await opened.create([topic_for(settings.bus.exchange, routing_key)])
