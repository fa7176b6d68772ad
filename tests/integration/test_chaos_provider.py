"""The primary provider failing (5xx), hanging, slow and refusing (429) under concurrent
calls (tests/chaos/provider.py): callers see no error, the fallback deployment answers
while the primary is in trouble, the primary's circuit opens and closes again where
failures count, and a second tenant on another provider is served throughout. Latencies
are measured (benchmarks/chaos.py reports them), never asserted."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.chaos import provider
from tests.chaos.model import Row

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]


def assert_served(row: Row) -> None:
    assert row.errors_seen_by_callers == 0, row.extra["caller_errors"]
    assert (row.lost, row.duplicates) == (0, 0)
    assert row.extra["bystander_errors"] == 0
    assert row.recovery_s is not None  # the primary answers again


@pytest.mark.parametrize("mode", ["5xx", "hang"])
async def test_a_failing_provider_opens_its_circuit_and_the_fallback_answers(
    mode: str, tmp_path: Path
) -> None:
    row = await provider.provider_fault(tmp_path, mode, concurrency=6, fault_s=3.0, baseline_s=0.5)
    assert_served(row)
    states = row.extra["circuit_states"]
    assert "open" in states and states[-1] == "closed", states
    assert states.index("open") < len(states) - 1
    assert row.extra["served_by_fallback_during"] > 0


async def test_a_slow_provider_answers_late_without_opening_its_circuit(tmp_path: Path) -> None:
    row = await provider.provider_fault(
        tmp_path, "slow", concurrency=6, fault_s=2.0, baseline_s=0.5
    )
    assert_served(row)
    assert row.extra["circuit_states"] == ["closed"]
    assert row.extra["served_by_fallback_during"] == 0


async def test_a_refusing_provider_is_cooled_down_not_counted_as_failing(tmp_path: Path) -> None:
    row = await provider.provider_fault(tmp_path, "429", concurrency=6, fault_s=2.0, baseline_s=0.5)
    assert_served(row)
    assert "open" not in row.extra["circuit_states"]
    assert row.extra["served_by_fallback_during"] > 0
