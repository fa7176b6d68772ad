"""The gateway's shared limiter with Redis cut off under concurrent calls
(tests/chaos/redis_limiter.py): the documented policy holds — every call checked while
Redis is unreachable is refused with 503 ``limiter_unavailable``, none reaches the
provider unchecked — and once Redis is back the monthly counter counts the admitted calls
(never fewer; a call whose counting reply was cut off may count once more)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.chaos import redis_limiter

pytestmark = [pytest.mark.redis, pytest.mark.timeout(180)]


async def test_redis_unreachable_refuses_with_503_and_counts_right_after(
    redis_url: str, tmp_path: Path
) -> None:
    row = await redis_limiter.unreachable(tmp_path, concurrency=4, down_s=1.5, calls_before=60)
    extra = row.extra
    assert extra["refused_limiter_unavailable"] > 0
    assert extra["other_errors"] == 0
    assert extra["admitted_while_down"] == 0
    assert extra["upstream_requests"] == extra["calls_answered"]  # nothing let through unchecked
    assert 0 <= extra["counter_drift"] <= 4  # at most one per call in flight at the cut
    assert (row.lost, row.duplicates) == (0, 0)
    assert row.errors_seen_by_callers == extra["refused_limiter_unavailable"]
