"""A backlog queued before the worker starts drains completely, each event with exactly one
distinct result id (tests/chaos/load.py; benchmarks/chaos.py queues 100,000 and reports
peak RSS and the drain rate)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.chaos import load

pytestmark = [pytest.mark.rabbitmq, pytest.mark.slow, pytest.mark.timeout(300)]


async def test_a_backlog_drains_with_nothing_lost(rabbitmq_url: str, tmp_path: Path) -> None:
    row = await load.backlog(tmp_path, events=1_500)
    assert (row.results, row.lost, row.duplicates) == (1_500, 0, 0)
    assert (row.extra["dead_letters"], row.extra["left_in_queue"]) == (0, 0)
    assert row.extra["rss_peak_mib"] is not None and len(row.extra["rate_per_fifth"]) == 5
