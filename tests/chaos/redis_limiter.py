"""Redis unreachable under the gateway's shared limiter (through a TCP proxy this process
cuts and restores), with callers calling throughout.

The documented policy (docs/llm-proxy.md): a limited call whose counters cannot be reached
is refused with 503 ``limiter_unavailable`` and ``Retry-After``, never let through
unchecked. Once Redis is back the counters count again: the tenant's monthly call counter
equals the calls admitted (a call refused for want of Redis is not counted).
"""

from __future__ import annotations

import asyncio
import time
import uuid
from pathlib import Path

import redis

from tests.chaos.calls import Callers, new_key, start_gateway, wait_recorded
from tests.chaos.model import Row
from tests.chaos.tcp_proxy import TcpProxy
from tests.upstream import UpstreamThread

REDIS_URL = "redis://127.0.0.1:6379/0"
TIERS = {"metered": {"monthly_calls": 10**9, "rpm": 10**6}, "enterprise": {}}


def monthly_counter(tenant: str) -> int:
    client = redis.Redis.from_url(REDIS_URL)
    try:
        keys = list(client.scan_iter(match=f"or:{{{tenant}}}:calls:*"))
        return sum(int(client.get(k) or 0) for k in keys)
    finally:
        client.close()


def forget(tenant: str) -> None:
    client = redis.Redis.from_url(REDIS_URL)
    try:
        for key in client.scan_iter(match=f"or:{{{tenant}}}*"):
            client.delete(key)
    finally:
        client.close()


async def unreachable(
    data_dir: Path, concurrency: int = 8, down_s: float = 3.0, calls_before: int = 200
) -> Row:
    tenant = f"chaos-{uuid.uuid4().hex[:8]}"
    proxy = TcpProxy("127.0.0.1", 6379).start()
    upstream = UpstreamThread().start()
    tenancy = {"tiers": TIERS, "redis_url": f"redis://127.0.0.1:{proxy.port}/0"}
    gateway = start_gateway(data_dir, {"primary": upstream}, tenancy=tenancy)
    try:
        callers = Callers(gateway.url, new_key(gateway, tenant, "metered"), concurrency)
        callers.start()
        assert await _wait(lambda: len(callers.call_ids) >= calls_before, 120)
        await asyncio.to_thread(proxy.cut)
        cut_at = time.monotonic()
        await asyncio.sleep(down_s)
        back_at = time.monotonic()  # calls that began before this must all be refused
        await asyncio.to_thread(proxy.restore)
        answered_after = len(callers.call_ids)
        assert await _wait(lambda: len(callers.call_ids) >= answered_after + calls_before, 120)
        await callers.finish()
        return await _row(callers, gateway, upstream, tenant, cut_at, back_at, down_s)
    finally:
        gateway.stop()
        upstream.stop()
        proxy.stop()
        await asyncio.to_thread(forget, tenant)


async def _row(
    callers: Callers,
    gateway: object,
    upstream: UpstreamThread,
    tenant: str,
    cut_at: float,
    back_at: float,
    down_s: float,
) -> Row:
    from tests.gateway_server import GatewayServer

    assert isinstance(gateway, GatewayServer)
    # A call that began while Redis was cut off, or whose check ran then: its answer
    # tells which way the policy went.
    during = [(s, d, st) for s, d, st, _ in callers.latencies if cut_at <= s < back_at]
    # Answered with success, begun and ended while Redis was cut off: let through unchecked.
    admitted_during = sum(1 for s, d, st in during if st == 200 and s + d < back_at)
    first_ok_after = min(
        (s + d for s, d, st, _ in callers.latencies if st == 200 and s >= back_at), default=None
    )
    counter = await asyncio.to_thread(monthly_counter, tenant)
    record = await wait_recorded(gateway, tenant, callers.call_ids, 60)
    answered = len(callers.call_ids)
    lost = max(record.ledger_missing, record.audit_missing)
    return Row(
        "redis (limiter): unreachable",
        callers.started,
        answered - lost,
        lost,
        record.audit_duplicates,
        0,
        round(first_ok_after - back_at, 3) if first_ok_after is not None else None,
        callers.errors,
        {
            "down_s": down_s,
            "calls_answered": answered,
            "refused_limiter_unavailable": callers.codes.get("limiter_unavailable", 0),
            "other_errors": callers.errors - callers.codes.get("limiter_unavailable", 0),
            "started_while_down": len(during),
            "admitted_while_down": admitted_during,
            "upstream_requests": upstream.behaviour.requests,
            "monthly_counter": counter,
            "counter_drift": counter - answered,
        },
    )


async def _wait(predicate: object, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return True
        await asyncio.sleep(0.02)
    return False
