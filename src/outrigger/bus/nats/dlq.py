"""The dead-letter queue as a JetStream stream of its own (limits retention, file storage).

A dead letter is the original body and headers plus ``x-outrigger-*`` headers with the
reason (``bus/letters.py``, shared with RabbitMQ and Kafka), on subject
``_outrigger.dlq.<name>``, so ``nats stream view`` shows everything. ``list`` reads by
sequence without consuming (nothing is removed, nothing is locked: a concurrent ``list``
sees the same); ``replay`` re-publishes the chosen letters straight to the target queue
(confirmed) and only then deletes each from the stream by its sequence.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence

from nats.errors import Error as NatsError
from nats.js.api import RetentionPolicy
from nats.js.errors import NotFoundError

from outrigger.bus.base import DeadLetter, Subscription, replay_message
from outrigger.bus.letters import decode_letter, encode_letter
from outrigger.bus.nats.bus import NatsBus
from outrigger.bus.nats.naming import DLQ_PREFIX, check_subject_words, entity_name
from outrigger.bus.nats.wire import NATS_MSG_ID, from_headers, to_headers
from outrigger.errors import TransientError


class NatsDeadLetterQueue:
    """Dead letters in a stream; ``list`` reads by sequence, ``replay`` moves chosen ones."""

    def __init__(self, bus: NatsBus, queue: str = "outrigger.dlq") -> None:
        self._bus = bus
        self.queue = queue
        self.stream = entity_name(queue)
        self.subject = f"{DLQ_PREFIX}.{check_subject_words(queue, 'dead-letter queue')}"
        self._declared = False

    async def _declare(self) -> None:
        if self._declared:
            return
        try:
            await self._bus.ensure_stream(self.stream, self.subject, RetentionPolicy.LIMITS)
        except NatsError as exc:
            raise TransientError(
                f"cannot declare the dead-letter stream {self.stream}: {exc!r}"
            ) from exc
        self._declared = True

    async def put(self, letter: DeadLetter) -> None:
        await self._declare()
        headers = to_headers(encode_letter(letter, self.queue))
        headers[NATS_MSG_ID] = letter.id  # a put retried after a lost PubAck is stored once
        try:
            await self._bus.js.publish(self.subject, letter.message.body, headers=headers)
        except (NatsError, TimeoutError) as exc:
            raise TransientError(f"dead letter not confirmed by {self.stream}: {exc!r}") from exc

    async def count(self) -> int:
        await self._declare()
        try:
            info = await self._bus.js.stream_info(self.stream)
        except NatsError as exc:
            raise TransientError(f"cannot count {self.stream}: {exc!r}") from exc
        return int(info.state.messages)

    async def _letters(self) -> AsyncIterator[tuple[int, DeadLetter]]:
        """(sequence, letter) from the oldest, reading by sequence (deleted ones skipped)."""
        await self._declare()
        js = self._bus.js
        try:
            state = (await js.stream_info(self.stream)).state
            for seq in range(state.first_seq, state.last_seq + 1):
                try:
                    raw = await js.get_msg(self.stream, seq)
                except NotFoundError:
                    continue  # deleted (replayed)
                stored = from_headers(raw.data or b"", self.queue, raw.headers)
                yield seq, decode_letter(stored, f"seq-{seq}")
        except NotFoundError:
            return
        except NatsError as exc:
            raise TransientError(f"cannot read {self.stream}: {exc!r}") from exc

    async def list(self, limit: int = 100) -> list[DeadLetter]:
        letters: list[DeadLetter] = []
        if limit <= 0:
            return letters
        async for _, letter in self._letters():
            letters.append(letter)
            if len(letters) >= limit:
                break
        return letters

    async def replay(self, target: Subscription, ids: Sequence[str] | None = None) -> int:
        await self._bus.declare(target)
        wanted = None if ids is None else set(ids)
        replayed = 0
        async for seq, letter in self._letters():
            if wanted is not None and letter.id not in wanted:
                continue
            await self._bus.publish(replay_message(letter, target.queue), exchange="")
            try:  # only once the target queue has it (PubAck)
                await self._bus.js.delete_msg(self.stream, seq)
            except NatsError as exc:
                raise TransientError(
                    f"replayed seq {seq} but could not delete it: {exc!r}"
                ) from exc
            replayed += 1
            if wanted is not None:
                wanted.discard(letter.id)
                if not wanted:
                    break
        return replayed
