import asyncio
from collections.abc import Sequence
from dataclasses import dataclass

import pytest
from opentelemetry.trace import NoOpTracer

from outrigger.batching import MicroBatcher, Occupancy
from outrigger.config.pipelines import LlmStep
from outrigger.engine.envelope import Event
from outrigger.engine.steps.base import StepContext
from outrigger.engine.steps.llm import LlmRunner
from outrigger.llm.types import ChatRequest


async def test_concurrent_submissions_share_one_call() -> None:
    calls: list[list[int]] = []

    async def double(items: Sequence[int]) -> list[int]:
        calls.append(list(items))
        return [i * 2 for i in items]

    batcher = MicroBatcher(double, max_size=100)
    results = await asyncio.gather(*(batcher.submit(i) for i in range(10)))
    assert results == [i * 2 for i in range(10)]
    assert calls == [list(range(10))]


async def test_max_size_splits_batches() -> None:
    sizes: list[int] = []

    async def echo(items: Sequence[int]) -> list[int]:
        sizes.append(len(items))
        return list(items)

    batcher = MicroBatcher(echo, max_size=4)
    assert await asyncio.gather(*(batcher.submit(i) for i in range(10))) == list(range(10))
    assert sizes == [4, 4, 2]
    assert (batcher.batches, batcher.items) == (3, 10)


async def test_a_failing_batch_fails_each_caller_and_the_next_batch_works() -> None:
    fail = {"now": True}

    async def flaky(items: Sequence[int]) -> list[int]:
        if fail["now"]:
            raise RuntimeError("model down")
        return list(items)

    batcher = MicroBatcher(flaky)
    results = await asyncio.gather(*(batcher.submit(i) for i in range(3)), return_exceptions=True)
    assert all(isinstance(r, RuntimeError) for r in results)
    fail["now"] = False
    assert await batcher.submit(7) == 7


async def test_wrong_result_count_is_an_error() -> None:
    async def short(items: Sequence[int]) -> list[int]:
        return []

    with pytest.raises(RuntimeError, match="0 results for 1 items"):
        await MicroBatcher(short).submit(1)


async def test_wait_window_collects_later_arrivals() -> None:
    calls: list[int] = []

    async def count(items: Sequence[int]) -> list[int]:
        calls.append(len(items))
        return list(items)

    batcher = MicroBatcher(count, max_wait_s=0.5)  # wide: the test must not race a busy CPU
    first = asyncio.create_task(batcher.submit(1))
    await asyncio.sleep(0.01)
    second = asyncio.create_task(batcher.submit(2))
    assert await asyncio.gather(first, second) == [1, 2]
    assert calls == [2]


def recording(
    at_work: int | None, wait_s: float = 30.0
) -> tuple[list[list[int]], MicroBatcher[int, int], Occupancy]:
    """A batcher that records its batches; ``at_work``: the occupancy it reads (None: it
    reads none)."""
    calls: list[list[int]] = []

    async def echo(items: Sequence[int]) -> list[int]:
        calls.append(list(items))
        return list(items)

    occupancy = Occupancy()
    occupancy.active = at_work or 0
    company = occupancy if at_work is not None else None
    return calls, MicroBatcher(echo, max_wait_s=wait_s, company=company), occupancy


async def ticks(n: int) -> None:
    for _ in range(n):
        await asyncio.sleep(0)


async def test_an_event_alone_does_not_wait_for_company() -> None:
    calls, batcher, _ = recording(at_work=1)  # only this caller is at work
    assert await asyncio.wait_for(batcher.submit(1), 5) == 1  # not the 30 s window
    assert calls == [[1]]


async def test_a_window_waits_for_those_at_work_and_runs_once_all_have_joined() -> None:
    calls, batcher, _ = recording(at_work=3)
    first = asyncio.create_task(batcher.submit(1))
    await ticks(5)
    second = asyncio.create_task(batcher.submit(2))
    await ticks(5)
    assert not first.done() and not second.done() and calls == []  # a third is still at work
    third = asyncio.create_task(batcher.submit(3))
    assert await asyncio.wait_for(asyncio.gather(first, second, third), 5) == [1, 2, 3]
    assert calls == [[1, 2, 3]]


async def test_a_window_stops_waiting_when_those_at_work_finish_elsewhere() -> None:
    calls, batcher, occupancy = recording(at_work=2)
    first = asyncio.create_task(batcher.submit(1))
    await ticks(5)
    assert not first.done()
    occupancy.active = 1  # the other event was settled without reaching this step
    second = asyncio.create_task(batcher.submit(2))  # a newcomer: the window re-checks
    assert await asyncio.wait_for(asyncio.gather(first, second), 5) == [1, 2]
    assert calls == [[1, 2]]


async def test_without_company_a_window_is_waited_in_full() -> None:
    _, batcher, _ = recording(at_work=None, wait_s=0.2)
    first = asyncio.create_task(batcher.submit(1))
    await ticks(5)
    assert not first.done()
    assert await asyncio.wait_for(first, 5) == 1


def test_a_caller_away_is_not_counted_and_comes_back_even_on_failure() -> None:
    occupancy = Occupancy()
    occupancy.active = 3
    with occupancy.away():
        assert occupancy() == 2
    with pytest.raises(RuntimeError), occupancy.away():
        raise RuntimeError("the call failed")
    assert occupancy() == 3


async def test_an_llm_step_leaves_the_count_while_its_call_is_out() -> None:
    """An event waiting seconds on an LLM call is no company for another step's window."""

    @dataclass(frozen=True)
    class Said:
        text: str = "a summary"
        model: str | None = "m"
        flags: tuple[str, ...] = ()

    occupancy = Occupancy()
    occupancy.active = 2  # this event and one other
    seen: list[int] = []

    class Client:
        async def complete(
            self, tenant_id: str, feature: str, request: ChatRequest, trace_id: str | None = None
        ) -> Said:
            seen.append(occupancy())
            return Said()

    spec = LlmStep.model_validate(
        {"name": "summary", "system": "Summarise.", "inputs": {"t": "data.body"},
         "tenant_default": "acme"}
    )  # fmt: skip
    step = LlmRunner(spec, "p", Client(), occupancy)
    event = Event("e-1", "t", "s", {"body": "text"}, "structured")
    ctx = StepContext(event, "k")
    await step(ctx, NoOpTracer())
    assert seen == [1] and occupancy() == 2
    assert ctx.steps["summary"]["text"] == "a summary"
