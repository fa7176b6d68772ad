"""The provider failing (5xx), hanging (no answer), slow (seconds) and refusing (429) under
concurrent load, through the real gateway.

Alias ``chat-default`` falls back from ``primary`` (the misbehaving stand-in) to
``fallback``; a second tenant calls alias ``chat-other`` (deployment ``other``, its own
stand-in) throughout, and its latency is measured beside the affected tenant's: a provider's
trouble must not slow down tenants whose features do not use it. The primary's circuit is
sampled (its gauge) to show it open and close again.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from tests.chaos.calls import Callers, new_key, percentile, start_gateway, wait_recorded
from tests.chaos.model import Row
from tests.gateway_server import GatewayServer
from tests.upstream import UpstreamThread

TIMEOUT_S = 2.0  # the primary's deployment timeout: a hang costs this per attempt
#: mode -> what the primary stand-in is told (``slow`` within the timeout answers late).
MODES: dict[str, dict[str, Any]] = {
    "5xx": {"mode": "500"},
    "hang": {"mode": "slow", "delay_s": 10.0},  # far past the timeout: no answer in time
    "slow": {"mode": "slow", "delay_s": 1.0},
    "429": {"mode": "429", "retry_after": "1"},
}
STATE_NAMES = {0: "closed", 1: "half_open", 2: "open"}


def _llm(ups: dict[str, UpstreamThread]) -> dict[str, Any]:
    providers = {
        n: {"kind": "openai", "base_url": u.url, "timeout_s": TIMEOUT_S if n == "primary" else 5}
        for n, u in ups.items()
    }
    return {
        "providers": providers,
        "aliases": {"chat-default": ["primary", "fallback"], "chat-other": ["other"]},
        "circuit": {"failure_threshold": 5, "open_s": 1.0},
    }


@contextlib.contextmanager
def _upstreams() -> Iterator[dict[str, UpstreamThread]]:
    ups = {n: UpstreamThread().start() for n in ("primary", "fallback", "other")}
    try:
        yield ups
    finally:
        for up in ups.values():
            up.stop()


def circuit_state(gw: GatewayServer, deployment: str) -> str:
    gauge = gw.proxy.metrics.llm_circuit_state.labels(deployment)
    return STATE_NAMES.get(int(gauge._value.get()), "?")


async def _sample(gw: GatewayServer, seen: list[str], stop: asyncio.Event) -> None:
    while not stop.is_set():
        state = circuit_state(gw, "primary")
        if not seen or seen[-1] != state:
            seen.append(state)
        await asyncio.sleep(0.01)


async def provider_fault(
    data_dir: Path,
    mode: str,
    concurrency: int = 8,
    fault_s: float = 4.0,
    baseline_s: float = 1.5,
) -> Row:
    with _upstreams() as ups:
        gw = start_gateway(data_dir, ups, llm=_llm(ups))
        try:
            return await _drive(gw, ups, mode, concurrency, fault_s, baseline_s)
        finally:
            gw.stop()


async def _drive(
    gw: GatewayServer,
    ups: dict[str, UpstreamThread],
    mode: str,
    concurrency: int,
    fault_s: float,
    baseline_s: float,
) -> Row:
    tag = uuid.uuid4().hex[:8]
    hit, spared = f"chaos-hit-{tag}", f"chaos-spared-{tag}"
    affected = Callers(gw.url, new_key(gw, hit), concurrency, feature="assistant")
    bystander = Callers(
        gw.url, new_key(gw, spared), max(2, concurrency // 2), feature="other", model="chat-other"
    )
    states: list[str] = []
    stop_sampling = asyncio.Event()
    sampler = asyncio.create_task(_sample(gw, states, stop_sampling))
    affected.start()
    bystander.start()
    began = time.monotonic()
    await asyncio.sleep(baseline_s)
    fault_at = time.monotonic()
    ups["primary"].set(**MODES[mode])
    await asyncio.sleep(fault_s)
    ups["primary"].set("ok")
    over_at = time.monotonic()
    recovery = await _primary_again(affected, over_at, 60)
    await asyncio.sleep(0.3)
    await asyncio.gather(affected.finish(), bystander.finish())
    stop_sampling.set()
    await sampler
    lost = dup = 0
    for who, callers in ((hit, affected), (spared, bystander)):
        record = await wait_recorded(gw, who, callers.call_ids, 60)
        lost += max(record.ledger_missing, record.audit_missing)
        dup += record.audit_duplicates
    answered = len(affected.call_ids) + len(bystander.call_ids)

    def p(callers: Callers, start: float, end: float, share: float) -> float | None:
        return percentile(callers.seconds_between(start, end), share)

    during = [(d, dep) for s, d, st, dep in affected.latencies if fault_at <= s < over_at]
    return Row(
        f"provider: {mode}",
        affected.started + bystander.started,
        answered - lost,
        lost,
        dup,
        0,
        recovery,
        affected.errors + bystander.errors,
        {
            "affected_p50_before_s": p(affected, began, fault_at, 0.5),
            "affected_p50_during_s": p(affected, fault_at, over_at, 0.5),
            "affected_p95_during_s": p(affected, fault_at, over_at, 0.95),
            "affected_max_during_s": p(affected, fault_at, over_at, 1.0),
            "served_by_fallback_during": sum(1 for _, dep in during if dep == "fallback"),
            "calls_during": len(during),
            "bystander_p50_before_s": p(bystander, began, fault_at, 0.5),
            "bystander_p50_during_s": p(bystander, fault_at, over_at, 0.5),
            "bystander_p95_during_s": p(bystander, fault_at, over_at, 0.95),
            "bystander_errors": bystander.errors,
            "circuit_states": states,
            "primary_requests": ups["primary"].behaviour.requests,
            "caller_errors": dict(affected.codes + bystander.codes),
        },
    )


async def _primary_again(callers: Callers, since: float, timeout_s: float) -> float | None:
    """Seconds from ``since`` until a call that began after it was answered by the
    primary again (its circuit closed, or its cool-down over)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        ends = [s + d for s, d, st, dep in callers.latencies if s >= since and dep == "primary"]
        if ends:
            return round(min(ends) - since, 3)
        await asyncio.sleep(0.05)
    return None
