"""Blocking calls inline while they are cheap, in a worker thread once they are not.

A hop to a worker thread and back costs about 0.1 ms of CPU on the event loop's side (queue
the call, wake the thread, wake the loop through its self-pipe). Scoring one row with a small
ONNX model costs less than that, so a pipeline that always hopped would spend more time
hopping than scoring; a large model or a large batch, run inline, would stall every other
event on the loop. ``Offloader`` learns what one item costs from the calls it makes (an
exponentially weighted average) and runs a call inline when its expected cost is under
``budget_s``. Until it has measured one call, it hops.

What is measured is the CPU time of the thread that made the call, inline or not. Its wall
clock would also count, in a thread, the time it waited for the GIL while the loop ran, and
anywhere, the time the OS gave another process on a busy machine; counted, those sent cheap
calls to the thread, where they paid the hop every time. So this is for calls that keep the
CPU busy (a model run, a parse); a call that sleeps or waits on I/O looks cheap to it. (An
ONNX Runtime session with several intra-op threads keeps its calling thread busy too.)
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")

#: Expected cost under which a call runs on the event loop: well under a thread hop's
#: worth of loop time per call, far under what would delay other events noticeably.
INLINE_BUDGET_S = 0.0005


class Offloader:
    def __init__(self, budget_s: float = INLINE_BUDGET_S, weight: float = 0.2) -> None:
        self.budget_s = budget_s
        self.weight = weight
        self.per_item_s: float | None = None  # None: nothing measured yet
        self.inline_calls = 0
        self.thread_calls = 0

    def inline(self, items: int) -> bool:
        """Whether a call of ``items`` items is expected to cost less than the budget."""
        return self.per_item_s is not None and self.per_item_s * items < self.budget_s

    async def run(self, items: int, fn: Callable[..., T], *args: Any) -> T:
        """``fn(*args)``, timed; inline when ``items`` of it are expected to be cheap."""
        if self.inline(items):
            self.inline_calls += 1
            return self._timed(items, fn, *args)
        self.thread_calls += 1
        return await asyncio.to_thread(self._timed, items, fn, *args)

    def _timed(self, items: int, fn: Callable[..., T], *args: Any) -> T:
        started = time.thread_time()
        try:
            return fn(*args)
        finally:
            self._learn((time.thread_time() - started) / max(1, items))

    def _learn(self, per_item_s: float) -> None:
        known = self.per_item_s
        self.per_item_s = (
            per_item_s if known is None else known + self.weight * (per_item_s - known)
        )
