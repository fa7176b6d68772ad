"""``Offloader``: a call runs inline once it is known to be cheap, in a thread otherwise."""

from __future__ import annotations

import threading
import time

from outrigger.offload import Offloader


def where(_: int) -> str:
    return threading.current_thread().name


def slow(_: int) -> str:
    time.sleep(0.003)
    return threading.current_thread().name


async def test_a_cheap_call_runs_inline_once_measured() -> None:
    offloader = Offloader(budget_s=0.001)
    loop_thread = threading.current_thread().name
    first = await offloader.run(1, where, 1)
    assert first != loop_thread  # nothing measured yet: it hops
    assert [await offloader.run(1, where, 1) for _ in range(5)] == [loop_thread] * 5
    assert (offloader.inline_calls, offloader.thread_calls) == (5, 1)


async def test_a_call_over_budget_runs_in_a_thread() -> None:
    offloader = Offloader(budget_s=0.001)
    loop_thread = threading.current_thread().name
    ran = [await offloader.run(1, slow, 1) for _ in range(3)]
    assert loop_thread not in ran
    assert offloader.inline_calls == 0


async def test_the_budget_is_per_call_so_a_large_batch_hops() -> None:
    offloader = Offloader(budget_s=0.001)
    loop_thread = threading.current_thread().name
    await offloader.run(1, where, 1)
    per_item = offloader.per_item_s
    assert per_item is not None
    items = int(0.001 / per_item) + 1  # this many items are expected to exceed the budget
    assert await offloader.run(items, where, items) != loop_thread
