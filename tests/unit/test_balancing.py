"""Load balancing over an alias's deployments, with scripted providers and a fake clock: each
strategy's order, 429 cool-downs, open circuits skipped, deployment quotas, and the 429 the
caller gets when every deployment is busy."""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from collections.abc import AsyncIterator
from typing import Any

import pytest

from outrigger.config.llm import DeploymentSettings, LlmSettings
from outrigger.llm.types import ChatRequest, ProviderError
from outrigger.proxy.balance import Balancer
from outrigger.proxy.context import CallContext, Completion, Stream
from outrigger.proxy.deployment_quota import DeploymentQuota
from outrigger.proxy.dispatch import DeploymentsBusy, Dispatcher
from outrigger.proxy.limits import LimiterUnavailable, MemoryLimiter
from outrigger.storage.tenants import Tenant

NAMES = ["a", "b", "c"]


class Clock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.now += seconds


class Scripted:
    """A provider whose deployments answer from a script: a list of outcomes per model name,
    each ``"ok"`` or a ProviderError; an empty script answers ``ok``."""

    def __init__(self) -> None:
        self.script: dict[str, list[Any]] = {}
        self.calls: list[str] = []

    def _next(self, deployment: DeploymentSettings) -> None:
        self.calls.append(deployment.model)
        outcomes = self.script.get(deployment.model) or []
        outcome = outcomes.pop(0) if outcomes else "ok"
        if isinstance(outcome, ProviderError):
            raise outcome

    async def complete(
        self, deployment: DeploymentSettings, request: ChatRequest
    ) -> dict[str, Any]:
        self._next(deployment)
        return {
            "choices": [{"message": {"role": "assistant", "content": deployment.model}}],
            "usage": {"prompt_tokens": 10, "completion_tokens": 5},
        }

    async def stream(
        self, deployment: DeploymentSettings, request: ChatRequest
    ) -> AsyncIterator[dict[str, Any]]:
        self._next(deployment)
        yield {"choices": [{"delta": {"content": deployment.model}}]}

    async def close(self) -> None:
        return None


def settings(strategy: str = "ordered", **deployment: Any) -> LlmSettings:
    deps = {n: {"provider": "p", "model": n, **deployment.get(n, {})} for n in NAMES}
    return LlmSettings.model_validate(
        {
            "providers": {"p": {"kind": "openai", "base_url": "http://127.0.0.1:9/v1"}},
            "deployments": deps,
            "aliases": {"chat-default": NAMES},
            "balancing": {"chat-default": strategy},
            "circuit": {"failure_threshold": 2, "open_s": 30},
        }
    )


def build(cfg: LlmSettings, seed: int = 7) -> tuple[Dispatcher, Scripted, Clock]:
    clock, provider = Clock(), Scripted()
    balancer = Balancer(cfg, clock=clock, rng=random.Random(seed))
    quota = DeploymentQuota(MemoryLimiter(clock), cfg, clock)
    dispatcher = Dispatcher(
        cfg, {"p": provider}, sleep=clock.sleep, balancer=balancer, quota=quota, clock=clock
    )
    return dispatcher, provider, clock


def call(stream: bool = False) -> CallContext:
    request = ChatRequest("chat-default", [{"role": "user", "content": "hello"}], {}, stream)
    return CallContext(Tenant("acme", "Acme", "enterprise"), "chat", request)


async def served_by(dispatcher: Dispatcher, stream: bool = False) -> str:
    ctx = call(stream)
    reply = await dispatcher(ctx)
    if isinstance(reply, Stream):
        async for _ in reply.chunks:
            pass
    else:
        assert isinstance(reply, Completion)
    assert ctx.deployment is not None, ctx.status
    return ctx.deployment


def throttled(retry_after: float | None = None) -> ProviderError:
    return ProviderError("rate_limited", "busy", 429, retry_after)


async def test_ordered_sends_everything_to_the_first_deployment() -> None:
    dispatcher, _, _ = build(settings())
    assert Counter([await served_by(dispatcher) for _ in range(20)]) == {"a": 20}


async def test_weighted_shares_calls_in_proportion_to_the_weights() -> None:
    cfg = settings("weighted", a={"weight": 6}, b={"weight": 3}, c={"weight": 1})
    dispatcher, _, _ = build(cfg)
    counts = Counter([await served_by(dispatcher) for _ in range(2000)])
    assert 0.55 < counts["a"] / 2000 < 0.65, counts
    assert 0.25 < counts["b"] / 2000 < 0.35, counts
    assert 0.06 < counts["c"] / 2000 < 0.14, counts


async def test_least_inflight_prefers_the_idle_deployment_and_spreads_ties() -> None:
    dispatcher, _, _ = build(settings("least_inflight"))
    dispatcher.balancer.loads["a"].inflight = 3
    dispatcher.balancer.loads["b"].inflight = 1
    assert dispatcher.balancer.order("chat-default", NAMES, dispatcher.breakers)[0] == "c"
    dispatcher.balancer.loads["a"].inflight = dispatcher.balancer.loads["b"].inflight = 0
    counts = Counter([await served_by(dispatcher) for _ in range(300)])
    assert set(counts) == set(NAMES) and min(counts.values()) > 60, counts


async def test_calls_in_progress_are_counted_while_they_run() -> None:
    dispatcher, provider, _ = build(settings("least_inflight"))
    seen: list[dict[str, int]] = []
    loads = dispatcher.balancer.loads

    async def watching(deployment: DeploymentSettings, request: ChatRequest) -> dict[str, Any]:
        seen.append({n: loads[n].inflight for n in NAMES})
        return {"choices": [{"message": {"content": "x"}}]}

    provider.complete = watching  # type: ignore[method-assign]
    await served_by(dispatcher)
    assert sum(seen[0].values()) == 1
    assert all(load.inflight == 0 for load in loads.values())


async def test_latency_prefers_the_fastest_recent_deployment() -> None:
    dispatcher, _, clock = build(settings("latency"))
    balancer = dispatcher.balancer
    for name, took in (("a", 2.0), ("b", 0.2), ("c", 1.0)):
        since = balancer.started(name)
        clock.now += took
        balancer.answered(name, since)
        balancer.finished(name)
    assert [await served_by(dispatcher) for _ in range(5)] == ["b"] * 5
    # b slows down: its moving average rises past c's and the calls move.
    for _ in range(10):
        since = balancer.started("b")
        clock.now += 3.0
        balancer.answered("b", since)
        balancer.finished("b")
    assert await served_by(dispatcher) == "c"


async def test_a_429_cools_the_deployment_down_for_its_retry_after() -> None:
    dispatcher, provider, clock = build(settings())
    provider.script["a"] = [throttled(retry_after=5)]
    assert await served_by(dispatcher) == "b"  # moved on at once, no retry on a
    assert provider.calls == ["a", "b"]
    assert dispatcher.breakers["a"].state == "closed"  # busy is not broken
    assert await served_by(dispatcher) == "b"  # still cooling down: not even asked
    assert provider.calls == ["a", "b", "b"]
    clock.now += 5
    assert await served_by(dispatcher) == "a"


async def test_a_429_without_retry_after_cools_down_for_the_configured_time() -> None:
    dispatcher, provider, clock = build(settings())
    provider.script["a"] = [throttled()]
    await served_by(dispatcher)
    cooldown = dispatcher.settings.retry.rate_limit_cooldown_s
    assert dispatcher.balancer.cooling("a") == pytest.approx(cooldown)
    clock.now += cooldown
    assert await served_by(dispatcher) == "a"


async def test_when_all_are_throttled_the_call_waits_for_the_first_back_if_soon() -> None:
    dispatcher, provider, clock = build(settings())
    provider.script = {"a": [throttled(3)], "b": [throttled(1)], "c": [throttled(2)]}
    start = clock.now
    assert await served_by(dispatcher) == "b"
    assert clock.now - start == pytest.approx(1)
    assert provider.calls == ["a", "b", "c", "b"]


async def test_when_all_are_throttled_for_long_the_caller_gets_429_with_retry_after() -> None:
    dispatcher, provider, _ = build(settings())
    provider.script = {n: [throttled(40)] for n in NAMES}
    with pytest.raises(DeploymentsBusy) as refused:
        await dispatcher(call())
    assert refused.value.status == 429 and refused.value.retry_after_s == 40
    assert provider.calls == NAMES  # each asked once, none retried


async def test_streams_move_on_after_a_429_too() -> None:
    dispatcher, provider, _ = build(settings())
    provider.script["a"] = [throttled(5)]
    assert await served_by(dispatcher, stream=True) == "b"


async def test_open_circuits_are_skipped_and_probed_again_later() -> None:
    dispatcher, provider, clock = build(settings("weighted"))
    provider.script["a"] = [ProviderError("server", "down", 500)] * 2
    for _ in range(10):
        await served_by(dispatcher)
        if dispatcher.breakers["a"].state == "open":
            break
    assert dispatcher.breakers["a"].state == "open"
    provider.calls.clear()
    assert all([await served_by(dispatcher) != "a" for _ in range(50)])
    assert "a" not in provider.calls  # open: not called at all
    clock.now += 31  # half-open: weighted order reaches it again and the probe closes it
    for _ in range(50):
        await served_by(dispatcher)
    assert dispatcher.breakers["a"].state == "closed"
    assert "a" in provider.calls


async def test_a_deployment_at_its_quota_is_skipped_not_called() -> None:
    dispatcher, provider, clock = build(settings(a={"rpm": 3}))
    served = [await served_by(dispatcher) for _ in range(5)]
    assert served == ["a", "a", "a", "b", "b"]
    assert provider.calls.count("a") == 3
    clock.now += 60  # the sliding minute has passed
    assert await served_by(dispatcher) == "a"


async def test_token_quota_counts_what_the_answer_really_used() -> None:
    # The prompt is estimated at 2 tokens; the answer reports 15 in all, so after two
    # calls the deployment holds 30 tokens of its 40 and the third call (2 more) still fits
    # while the fourth does not.
    dispatcher, _, _ = build(settings(a={"tpm": 40}))
    served = [await served_by(dispatcher) for _ in range(4)]
    assert served == ["a", "a", "a", "b"]


async def test_every_deployment_at_its_quota_is_a_429() -> None:
    limits = {n: {"rpm": 1} for n in NAMES}
    dispatcher, provider, _ = build(settings(**limits))
    for _ in NAMES:
        await served_by(dispatcher)
    with pytest.raises(DeploymentsBusy) as refused:
        await dispatcher(call())
    assert refused.value.retry_after_s is not None and refused.value.retry_after_s >= 1
    assert len(provider.calls) == 3


async def test_the_region_pin_still_holds_under_balancing() -> None:
    cfg = LlmSettings.model_validate(
        {
            **settings("weighted").model_dump(),
            "deployments": {
                "a": {"provider": "p", "model": "a", "region": "eu"},
                "b": {"provider": "p", "model": "b", "region": "us"},
                "c": {"provider": "p", "model": "c", "region": "eu"},
            },
        }
    )
    dispatcher, provider, _ = build(cfg)
    ctx = call()
    ctx.tenant = Tenant("acme", "Acme", "enterprise", "us")
    provider.script["b"] = [throttled(1)]
    reply = await dispatcher(ctx)
    assert isinstance(reply, Completion) and ctx.deployment == "b"  # waited, never left us
    assert set(provider.calls) == {"b"}


def test_balancing_names_only_existing_aliases() -> None:
    with pytest.raises(ValueError, match=r"balancing\.nope"):
        LlmSettings.model_validate({"balancing": {"nope": "weighted"}})


class SlowLimiter(MemoryLimiter):
    """A limiter whose check hangs (a Redis that stopped answering)."""

    async def acquire(self, windows: Any) -> Any:
        await asyncio.sleep(3600)


async def test_a_call_cancelled_while_its_quota_is_checked_gives_back_the_probe() -> None:
    cfg = settings(a={"rpm": 100})
    dispatcher, provider, clock = build(cfg)
    provider.script["a"] = [ProviderError("server", "down", 500)] * 2
    await served_by(dispatcher)  # a fails twice: its circuit opens
    assert dispatcher.breakers["a"].state == "open"
    clock.now += 31  # half-open: the next call may probe it
    dispatcher.quota.limiter = SlowLimiter(clock)
    call_task = asyncio.ensure_future(dispatcher(call()))
    await asyncio.sleep(0.01)  # the probe is taken, the quota check hangs
    call_task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await call_task
    dispatcher.quota.limiter = MemoryLimiter(clock)
    assert await served_by(dispatcher) == "a"  # the probe was given back: a is tried
    assert dispatcher.breakers["a"].state == "closed"


class BrokenAdd(MemoryLimiter):
    """Admits every call; the count after it fails (Redis went away in between)."""

    async def acquire(self, windows: Any) -> Any:
        return None

    async def add(self, window: Any, amount: int) -> int:
        raise LimiterUnavailable("redis went away")


async def test_an_answer_is_returned_when_its_tokens_cannot_be_counted(
    caplog: pytest.LogCaptureFixture,
) -> None:
    cfg = settings(a={"tpm": 1000})
    dispatcher, _, clock = build(cfg)
    dispatcher.quota.limiter = BrokenAdd(clock)
    assert await served_by(dispatcher) == "a"  # paid for: the caller gets it
    assert await served_by(dispatcher, stream=True) == "a"
    assert "could not be counted" in caplog.text
