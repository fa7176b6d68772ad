import asyncio
from collections.abc import Sequence

import pytest

from outrigger.batching import MicroBatcher


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
