"""Micro-batching: concurrent single calls become one batched call.

Callers ``await batcher.submit(item)``; the first item of a batch starts a short window
(``max_wait_s``, 0 = the rest of the current event-loop tick); the batch runs when the window
closes or ``max_size`` items are waiting, and each caller gets its own result (or the batch's
exception). Used for ONNX scoring (one ``run`` for many events) and idempotency look-ups (one
``SELECT … IN`` for many keys).

A window is worth waiting for only when others may join it. Given ``company`` (how many
callers are at work upstream: the worker's deliveries in flight), a batch waits for
``max_wait_s`` only while more are at work than it holds, and runs in the current tick once
all of them have joined: an event alone pays no wait, and under load (a broker handing out
one delivery per acknowledgement) events are scored, published and acknowledged in groups
instead of one by one.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Generic, TypeVar

In = TypeVar("In")
Out = TypeVar("Out")

BatchFn = Callable[[Sequence[In]], Awaitable[Sequence[Out]]]


class Occupancy:
    """How many callers are at work (the worker's deliveries in flight), read by batchers
    to know whether a window may still gain company. Built at start-up and passed in.
    A caller that waits on something slow (an LLM call: seconds) steps ``away`` meanwhile,
    so no window waits for it."""

    def __init__(self) -> None:
        self.active = 0

    def __call__(self) -> int:
        return self.active

    @contextmanager
    def away(self) -> Iterator[None]:
        self.active -= 1
        try:
            yield
        finally:
            self.active += 1


class MicroBatcher(Generic[In, Out]):
    def __init__(
        self,
        fn: BatchFn[In, Out],
        *,
        max_size: int = 64,
        max_wait_s: float = 0.0,
        company: Callable[[], int] | None = None,
    ) -> None:
        if max_size < 1:
            raise ValueError("max_size must be at least 1")
        self._fn = fn
        self.max_size = max_size
        self.max_wait_s = max_wait_s
        self.company = company
        self._waiting = False  # the open window is a timer (max_wait_s), not this tick
        self._items: list[In] = []
        self._futures: list[asyncio.Future[Out]] = []
        self._timer: asyncio.Handle | None = None  # closes the open window
        self._running: set[asyncio.Task[None]] = set()
        self.batches = 0  # how many batched calls ran (for metrics and tests)
        self.items = 0

    async def submit(self, item: In) -> Out:
        future: asyncio.Future[Out] = asyncio.get_running_loop().create_future()
        self._items.append(item)
        self._futures.append(future)
        if len(self._items) >= self.max_size:
            self._start()
        elif self._timer is None:  # a callback, not a task: one per batch, so keep it cheap
            self._waiting = self.max_wait_s > 0 and self._more_may_join()
            loop = asyncio.get_running_loop()
            if self._waiting:
                self._timer = loop.call_later(self.max_wait_s, self._window_closed)
            else:
                self._timer = loop.call_soon(self._window_closed)
        elif self._waiting and not self._more_may_join():  # everyone at work is here
            self._timer.cancel()
            self._waiting = False
            self._timer = asyncio.get_running_loop().call_soon(self._window_closed)
        return await future

    def _more_may_join(self) -> bool:
        return self.company is None or self.company() > len(self._items)

    def _window_closed(self) -> None:
        self._timer = None
        self._waiting = False
        if self._items:
            self._start()

    def _start(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._waiting = False
        task = asyncio.create_task(self._run(*self._take()))
        self._running.add(task)
        task.add_done_callback(self._running.discard)

    def _take(self) -> tuple[list[In], list[asyncio.Future[Out]]]:
        items, futures = self._items, self._futures
        self._items, self._futures = [], []
        return items, futures

    async def _run(self, items: list[In], futures: list[asyncio.Future[Out]]) -> None:
        self.batches += 1
        self.items += len(items)
        try:
            results = await self._fn(items)
            if len(results) != len(items):
                raise RuntimeError(f"batch returned {len(results)} results for {len(items)} items")
        except BaseException as exc:  # every caller sees the failure, then it propagates no further
            for future in futures:
                if not future.done():
                    future.set_exception(exc)
            if isinstance(exc, asyncio.CancelledError):
                raise
            return
        for future, result in zip(futures, results, strict=True):
            if not future.done():
                future.set_result(result)
