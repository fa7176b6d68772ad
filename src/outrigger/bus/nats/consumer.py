"""One ``consume`` call's pull loop: bounded credit, in-progress keep-alives, settling.

A pull consumer hands out only what was asked for, so prefetch is enforced on our side:
each fetch asks for as many messages as there are free credits (a semaphore a settle
gives back, through ``CallbackDelivery``). The queue's direct consumer (replays) is polled
at least every ``DIRECT_POLL_S`` between fetches of the main one.

While a delivery is unsettled it is kept alive with ``+WPI`` (in progress) every third of
``ack_wait``: a slow pipeline is never redelivered to another worker, and a crashed worker's
messages come back after ``ack_wait``. ``give_back`` (at the bus's ``close``) naks what is
left, so a clean shutdown returns its messages at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable

from nats.aio.msg import Msg
from nats.errors import Error as NatsError
from nats.js.client import JetStreamContext

from outrigger.bus.base import BusMessage
from outrigger.bus.delivery import CallbackDelivery, Settle

log = logging.getLogger(__name__)

FETCH_S = 1.0  # a long poll on an idle queue (also bounds how late a stop is seen)
DIRECT_POLL_S = 1.0
QUICK_S = 0.05


class PullLoop:
    def __init__(
        self,
        main: JetStreamContext.PullSubscription,
        direct: JetStreamContext.PullSubscription | None,
        prefetch: int,
        *,
        nak_delay_s: float,
        closed: Callable[[], bool],
    ) -> None:
        self.main, self.direct = main, direct
        self.prefetch = prefetch
        self.credit = asyncio.Semaphore(prefetch)
        self.nak_delay_s = nak_delay_s
        self.closed = closed
        self.outstanding: dict[int, Msg] = {}
        self._next_direct = 0.0
        self.stopped = False

    async def fetch(self) -> list[Msg]:
        """At least one message (waits for credit and for the broker), at most the credit."""
        while True:
            await self.credit.acquire()
            if self._ending():  # credit freed by a settle during close: no new pull
                self.credit.release()
                return []
            wanted = 1
            while wanted < self.prefetch and not self.credit.locked():
                await self.credit.acquire()
                wanted += 1
            got: list[Msg] = []
            try:
                got = await self._shielded_pull(wanted)
            finally:
                for _ in range(wanted - len(got)):
                    self.credit.release()
            if got:
                return got
            if self._ending():
                return []

    def _ending(self) -> bool:
        """Stopped or disconnected. A pull sent now would leave a request at the server
        that a message given back at close could be delivered into, and then wait
        ``ack_wait`` to come back."""
        return self.stopped or self.closed()

    async def _shielded_pull(self, wanted: int) -> list[Msg]:
        """The pull runs in a task of its own that a cancelled consumer does not cancel:
        cancelling nats-py inside ``fetch`` can leave it waiting forever (seen as a worker
        that never stops on SIGTERM). The consumer waits for it (it ends within its long
        poll) and gives back what it brought."""
        pull = asyncio.ensure_future(self._pull(wanted))
        try:
            return await asyncio.shield(pull)
        except asyncio.CancelledError:
            done, _ = await asyncio.wait({pull}, timeout=FETCH_S + 1)
            if done and not pull.cancelled() and pull.exception() is None:
                for raw in pull.result():
                    with contextlib.suppress(NatsError):
                        await raw.nak()
            raise

    async def _pull(self, wanted: int) -> list[Msg]:
        got: list[Msg] = []
        if self.direct is not None and time.monotonic() >= self._next_direct:
            self._next_direct = time.monotonic() + DIRECT_POLL_S
            got += await _try(self.direct, wanted, QUICK_S)
        if len(got) < wanted and not self._ending():  # stop may land during the direct poll
            got += await _try(self.main, wanted - len(got), QUICK_S if got else FETCH_S)
        return got

    def delivery(self, raw: Msg, message: BusMessage) -> CallbackDelivery:
        self.outstanding[id(raw)] = raw
        attempt = raw.metadata.num_delivered
        return CallbackDelivery(message, attempt, self._settler(raw), self.credit)

    async def skip(self, raw: Msg) -> None:
        """A message the queue's filter let through but none of its bindings wants."""
        with contextlib.suppress(NatsError):
            await raw.ack()
        self.credit.release()

    def _settler(self, raw: Msg) -> Settle:
        async def settle(ack: bool, requeue: bool) -> None:
            if self.outstanding.pop(id(raw), None) is None:
                return  # given back at close: already nacked
            try:
                if ack:
                    await raw.ack()
                elif requeue:
                    await raw.nak(delay=self.nak_delay_s or None)
                else:
                    await raw.term()  # no redelivery, whatever MaxDeliver says
            except NatsError as exc:
                # The connection is gone: JetStream redelivers after ack_wait, as the
                # other buses do with a late settle.
                log.debug("settle without a connection ignored: %r", exc)

        return settle

    async def keep_alive(self, every_s: float) -> None:
        while True:
            await asyncio.sleep(every_s)
            for raw in list(self.outstanding.values()):
                with contextlib.suppress(NatsError):
                    await raw.in_progress()

    async def stop(self) -> None:
        """Stop pulling: drop the inboxes, so the server no longer sends to this loop's
        pending pull requests (what it sent there would wait ``ack_wait`` to come back)."""
        self.stopped = True
        for psub in (self.main, self.direct):
            if psub is not None:
                with contextlib.suppress(NatsError):
                    await psub.unsubscribe()

    async def give_back(self) -> None:
        """Nak every unsettled delivery now (a clean stop): redelivered at once."""
        pending, self.outstanding = self.outstanding, {}
        for raw in pending.values():
            with contextlib.suppress(NatsError):
                await raw.nak()


async def _try(psub: JetStreamContext.PullSubscription, batch: int, wait_s: float) -> list[Msg]:
    # nats-py's fetch sends its own expiry to the server: a long poll, not a local timeout.
    try:
        return await psub.fetch(batch, timeout=wait_s)
    except TimeoutError:  # nothing there (nats' TimeoutError is an asyncio.TimeoutError)
        return []
    except NatsError as exc:  # reconnecting, or a JetStream hiccup: the client recovers
        log.debug("fetch failed, retrying: %r", exc)
        await asyncio.sleep(wait_s)
        return []
