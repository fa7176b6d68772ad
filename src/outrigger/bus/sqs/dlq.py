"""Outrigger's own dead-letter queue on SQS: an ordinary queue named by
``bus.dead_letter_queue``.

A dead letter is the original body and headers plus the ``x-outrigger-*`` reason headers of
``bus/letters.py`` (the reason code and text first, as attributes of their own, so the SQS
console shows them; see ``codec.py`` for the 10-attribute limit). SQS cannot peek, so
``list`` receives (visibility ``PEEK_VISIBILITY_S``) and gives everything back (visibility 0)
when done; ``replay`` sends the chosen letters to the target queue, each confirmed before
its dead-letter copy is deleted. While a peek runs its letters are in flight: ``count``
includes them, a concurrent ``list`` does not see them.

Why not SQS's own redrive policy: it moves a message after ``maxReceiveCount`` receives but
cannot say why; Outrigger's worker dead-letters with the reason (and counts attempts from
``ApproximateReceiveCount`` itself).
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Sequence
from typing import Any

from outrigger.bus.base import REPLAYED_FROM_HEADER, DeadLetter, Subscription, replay_message
from outrigger.bus.letters import decode_letter, encode_letter
from outrigger.bus.sqs.bus import SqsBus
from outrigger.bus.sqs.codec import from_sqs
from outrigger.bus.sqs.settle import BATCH, Receipt

Letters = AsyncIterator[tuple[DeadLetter, Receipt]]

PEEK_VISIBILITY_S = 120
PEEK_WAIT_S = 1  # long enough that SQS looks at all its servers, short for an operator


class SqsDeadLetterQueue:
    def __init__(self, bus: SqsBus, queue: str = "outrigger.dlq") -> None:
        self._bus = bus
        self.queue = queue
        self._declared = False

    async def _declare(self) -> None:
        if not self._declared:
            await self._bus.declare(Subscription(self.queue, "", ()))
            self._declared = True

    async def put(self, letter: DeadLetter) -> None:
        await self._declare()
        # Each letter its own FIFO group: a peek of many letters is never held back by
        # SQS's one-batch-in-flight-per-group rule.
        await self._bus.send(self.queue, encode_letter(letter, self.queue), group=letter.id)

    async def count(self) -> int:
        await self._declare()
        visible, in_flight = await self._bus.counts(self.queue)
        return visible + in_flight

    @contextlib.asynccontextmanager
    async def _peek(self) -> AsyncIterator[tuple[Letters, set[Receipt]]]:
        """Letters received one batch at a time, and a set where the caller records those
        it deleted; everything else goes back when the peek ends."""
        await self._declare()
        url = await self._bus.client.url(self._bus.name(self.queue))
        taken: list[Receipt] = []
        seen: set[str] = set()
        deleted: set[Receipt] = set()

        async def letters() -> AsyncIterator[tuple[DeadLetter, Receipt]]:
            while batch := await self._receive(url):
                receipts = [Receipt(url, raw["ReceiptHandle"]) for raw in batch]
                taken.extend(receipts)  # all of them, before the caller may stop early
                for raw, receipt in zip(batch, receipts, strict=True):
                    if raw["MessageId"] in seen:  # reappeared during a very long peek
                        continue
                    seen.add(raw["MessageId"])
                    yield decode_letter(from_sqs(raw), raw["MessageId"]), receipt

        try:
            yield letters(), deleted
        finally:
            await self._bus.settler.set_visibility([r for r in taken if r not in deleted], 0)

    async def _receive(self, url: str) -> list[dict[str, Any]]:
        got = await self._bus.client.call(
            "receive_message",
            QueueUrl=url,
            MaxNumberOfMessages=BATCH,
            WaitTimeSeconds=PEEK_WAIT_S,
            VisibilityTimeout=PEEK_VISIBILITY_S,
            MessageAttributeNames=["All"],
        )
        return list(got.get("Messages", []))

    async def list(self, limit: int = 100) -> list[DeadLetter]:
        out: list[DeadLetter] = []
        if limit <= 0:
            return out
        async with self._peek() as (letters, _):
            async for letter, _receipt in letters:
                out.append(letter)
                if len(out) >= limit:
                    break
        return out

    async def replay(self, target: Subscription, ids: Sequence[str] | None = None) -> int:
        await self._bus.declare(target)
        wanted = None if ids is None else set(ids)
        replayed = 0
        sent: set[str] = set()
        async with self._peek() as (letters, deleted):
            async for letter, receipt in letters:
                if wanted is not None and letter.id not in wanted:
                    continue  # goes back when the peek ends
                if letter.message.headers.get(REPLAYED_FROM_HEADER) in sent:
                    continue  # replayed by this very call and failed again: not twice
                sent.add(letter.id)
                await self._bus.send(target.queue, replay_message(letter, target.queue))
                await self._bus.settler.ack(receipt)  # only once the target has it
                deleted.add(receipt)
                replayed += 1
                if wanted is not None:
                    wanted.discard(letter.id)
                    if not wanted:
                        break
        return replayed
