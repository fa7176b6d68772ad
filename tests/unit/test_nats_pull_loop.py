"""The NATS pull loop at close: no pull request is sent once the loop is stopped.

A consumer blocked on credit (all its deliveries unsettled) gets a credit back when one is
acked during close. Before the fix it then sent a pull request after ``stop``: the server
held it, delivered a message that ``give_back`` had just returned into it, and that message
was lost to everyone until ``ack_wait`` (seen in CI as the close-and-redeliver contract test
failing under load).
"""

from __future__ import annotations

import asyncio
from typing import Any

from outrigger.bus.nats.consumer import PullLoop


class CountingPulls:
    """A pull subscription that records every fetch and never has a message."""

    def __init__(self) -> None:
        self.fetches = 0
        self.unsubscribed = False

    async def fetch(self, batch: int, timeout: float) -> list[Any]:
        self.fetches += 1
        raise TimeoutError

    async def unsubscribe(self) -> None:
        self.unsubscribed = True


async def test_a_credit_freed_during_close_sends_no_pull() -> None:
    pulls = CountingPulls()
    loop = PullLoop(pulls, None, prefetch=1, nak_delay_s=0, closed=lambda: False)  # type: ignore[arg-type]
    await loop.credit.acquire()  # the one delivery out, unsettled
    waiting = asyncio.create_task(loop.fetch())
    await asyncio.sleep(0)
    assert not waiting.done(), "fetch waits for credit"

    await loop.stop()
    loop.credit.release()  # the delivery is acked while the bus closes
    assert await asyncio.wait_for(waiting, 5) == []
    assert pulls.fetches == 0 and pulls.unsubscribed


async def test_a_running_loop_still_pulls() -> None:
    pulls = CountingPulls()
    closed = False
    loop = PullLoop(pulls, None, prefetch=1, nak_delay_s=0, closed=lambda: closed)  # type: ignore[arg-type]
    task = asyncio.create_task(loop.fetch())
    while pulls.fetches < 2:  # empty long polls are retried while the loop runs
        await asyncio.sleep(0.01)
    closed = True
    assert await asyncio.wait_for(task, 5) == []
