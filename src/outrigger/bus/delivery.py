"""A ``Delivery`` built from a settle callback, shared by the bus adapters.

It enforces the rules every adapter must keep: a delivery is settled (acked or nacked)
exactly once, and settling gives the consumer's prefetch credit back.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from outrigger.bus.base import BusMessage

#: settle(ack, requeue) — ``ack=True`` removes the message, otherwise it is returned
#: (``requeue=True``) or dropped.
Settle = Callable[[bool, bool], Awaitable[None]]


class AlreadySettled(RuntimeError):
    """A delivery was acked or nacked twice."""


@dataclass(slots=True)
class CallbackDelivery:
    message: BusMessage
    attempt: int
    _settle: Settle
    _credit: asyncio.Semaphore | None = None
    _settled: bool = field(default=False, init=False)

    async def ack(self) -> None:
        await self._finish(ack=True, requeue=False)

    async def nack(self, *, requeue: bool = True) -> None:
        await self._finish(ack=False, requeue=requeue)

    @property
    def settled(self) -> bool:
        return self._settled

    async def _finish(self, *, ack: bool, requeue: bool) -> None:
        if self._settled:
            raise AlreadySettled("delivery already acknowledged or rejected")
        self._settled = True
        try:
            await self._settle(ack, requeue)
        finally:
            if self._credit is not None:
                self._credit.release()
