"""RabbitMQ faults under a running worker (tests/chaos/rabbit.py; benchmarks/chaos.py runs
them bigger): the worker's connection closed by the broker, and the broker's application
stopped and started. It reconnects by itself; every event ends with exactly one distinct
result id, nothing is dead-lettered and nothing is left in the queue."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.chaos import rabbit
from tests.chaos.model import Row

pytestmark = [pytest.mark.rabbitmq, pytest.mark.slow, pytest.mark.timeout(300)]


def assert_nothing_lost(row: Row, events: int) -> None:
    print(row)  # its timings, for a slow run (pytest -rP shows them)
    assert (row.lost, row.duplicates) == (0, 0), row
    assert row.results == events, row
    extra = row.extra
    assert (extra["dead_letters"], extra["left_in_queue"], extra["unexpected_ids"]) == (0, 0, 0)
    assert extra["worker_exit"] == 0  # the same process throughout: it reconnected itself


async def test_the_workers_connection_closed_twice_loses_nothing(
    rabbitmqctl: None, tmp_path: Path
) -> None:
    row = await rabbit.connection_closed(tmp_path, events=500, closes=2, per_s=60, complete_s=150)
    assert row.extra["closes"] == 2  # its connection and no one else's, each time
    assert_nothing_lost(row, 500)


async def test_the_broker_stopped_and_started_loses_nothing(
    rabbitmqctl: None, tmp_path: Path
) -> None:
    """Disturbs every client of the broker for a few seconds; the broker is started again
    whatever happens."""
    try:
        row = await rabbit.broker_restarted(
            tmp_path, events=300, down_s=3.0, per_s=60, complete_s=150
        )
    finally:
        if not rabbit.broker_listening():
            rabbit.start_app()
    assert_nothing_lost(row, 300)
