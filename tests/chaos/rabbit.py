"""RabbitMQ faults under a running worker: its connection closed by the broker, and the
broker's application stopped and started (which disconnects every client of the broker).

The worker's connections are found by their ``connection_name`` client property (the
stage names it in the AMQP URL), so closing them touches no one else's.
"""

from __future__ import annotations

import asyncio
import socket
import subprocess
import time
from pathlib import Path

from tests.chaos.events import event_stage
from tests.chaos.model import Row


def rabbitmqctl(*args: str, timeout: float = 120) -> str:
    done = subprocess.run(
        ["rabbitmqctl", *args], capture_output=True, text=True, timeout=timeout, check=True
    )
    return done.stdout


def connections_named(name: str) -> list[str]:
    """The pids of the broker's connections whose ``connection_name`` is ``name``."""
    out = rabbitmqctl("list_connections", "pid", "client_properties", "-q", "--no-table-headers")
    marker = f'{{"connection_name","{name}"}}'
    return [line.split("\t", 1)[0] for line in out.splitlines() if marker in line]


def broker_listening(port: int = 5672) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


def start_app() -> None:
    """Start the RabbitMQ application and wait until it accepts connections."""
    rabbitmqctl("start_app")
    rabbitmqctl("await_startup")
    deadline = time.monotonic() + 60
    while not broker_listening() and time.monotonic() < deadline:
        time.sleep(0.2)


async def connection_closed(
    data_dir: Path,
    events: int = 2_000,
    closes: int = 2,
    per_s: float = 300.0,
    complete_s: float = 300,
) -> Row:
    """Close the worker's connection ``closes`` times while events arrive at ``per_s``; it
    must reconnect by itself and every event must get exactly one distinct result id
    (within ``complete_s`` of the last close; the row says what was missing).
    (``rabbitmqctl`` takes a second or more per call, so the worker's connection is looked
    up before each close is due.)"""
    async with event_stage(data_dir) as stage:
        stage.collect()
        stage.start_worker()
        pids = await _connected(stage.connection_name)
        stage.feed(events, per_s)
        closed, moments = 0, []
        for i in range(closes):
            assert await stage.wait_results((i + 1) * events // (closes + 2), 180)
            for pid in pids:
                await asyncio.to_thread(
                    rabbitmqctl, "close_connection", pid, "chaos: closed under the worker"
                )
            moments.append(time.monotonic())
            closed += len(pids)
            if i + 1 < closes:
                pids = await _connected(stage.connection_name, other_than=pids)
        complete = await stage.wait_complete(complete_s)
        recoveries = [stage.results.flowing_after(m) for m in moments]
        return await stage.row(
            "rabbitmq: worker connection closed", complete, recoveries,
            closes=closed, publish_retries=stage.publish_retries,
        )  # fmt: skip


async def _connected(
    name: str, other_than: list[str] | None = None, timeout_s: float = 60
) -> list[str]:
    """The pids of the connections named ``name``, once there is one (not in
    ``other_than``: after a close the worker reconnects with a new one)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        pids = await asyncio.to_thread(connections_named, name)
        if pids and not set(pids) & set(other_than or ()):
            return pids
        await asyncio.sleep(0.2)
    raise AssertionError(f"no connection named {name}")


async def broker_restarted(
    data_dir: Path,
    events: int = 2_000,
    down_s: float = 5.0,
    per_s: float = 300.0,
    complete_s: float = 300,
) -> Row:
    """Stop the RabbitMQ application for ``down_s`` while events arrive at ``per_s`` (the
    publisher retries until the broker confirms), then start it again. The broker is
    always started again, whatever happens meanwhile."""
    async with event_stage(data_dir) as stage:
        stage.collect()
        stage.start_worker()
        stage.feed(events, per_s)
        assert await stage.wait_results(events // 4, 180)
        try:
            await asyncio.to_thread(rabbitmqctl, "stop_app")
            stopped = time.monotonic()
            await asyncio.sleep(down_s)
        finally:
            await asyncio.to_thread(start_app)
        started = time.monotonic()
        complete = await stage.wait_complete(complete_s)
        return await stage.row(
            "rabbitmq: broker app stopped and started", complete,
            [stage.results.flowing_after(started)],
            down_s=round(started - stopped, 1), publish_retries=stage.publish_retries,
            complete_after_s=round(time.monotonic() - started, 1),
        )  # fmt: skip
