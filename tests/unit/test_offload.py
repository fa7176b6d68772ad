"""``Offloader``: a call runs inline once it is known to be cheap, in a thread otherwise."""

from __future__ import annotations

import threading
import time

from outrigger.offload import Offloader


def where(_: int) -> str:
    return threading.current_thread().name


def slow(_: int) -> str:
    """3 ms of CPU work (a model run keeps the CPU busy; it does not sleep)."""
    started = time.thread_time()
    while time.thread_time() - started < 0.003:
        pass
    return threading.current_thread().name


def waits(_: int) -> str:
    """Cheap on the CPU, slow on the clock: what a thread waiting for the GIL looks like."""
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


async def test_only_time_on_the_cpu_counts() -> None:
    """Waiting (for the GIL in a thread, for the CPU on a busy machine) is not the call's
    cost; a call that only waits looks cheap and runs inline."""
    offloader = Offloader(budget_s=0.001)
    loop_thread = threading.current_thread().name
    assert await offloader.run(1, waits, 1) != loop_thread
    assert [await offloader.run(1, waits, 1) for _ in range(3)] == [loop_thread] * 3
