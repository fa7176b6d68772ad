"""The dead-letter topic: dead letters as Kafka records, replays as markers.

A dead letter is the original value and headers plus the ``x-outrigger-*`` reason headers
(``bus/letters.py``, shared with RabbitMQ), so ``kafka-console-consumer`` shows everything.
The topic (``bus.dead_letter_queue``) is created with one partition, so its order is the order
of failure, and unlimited retention.

Kafka topics are append-only: a replay re-publishes the chosen letters to the target's queue
topic (acknowledged), then appends a marker record per letter — an empty value with the header
``x-outrigger-replayed-of: <letter id>`` — and ``list``/``count`` skip replayed letters. Both
read the whole topic with a throwaway reader that joins no group and commits nothing.
"""

from __future__ import annotations

from collections.abc import Sequence

from outrigger.bus.base import BusMessage, DeadLetter, Subscription, replay_message
from outrigger.bus.kafka.bus import KafkaBus
from outrigger.bus.kafka.client import Stored
from outrigger.bus.kafka.records import from_record
from outrigger.bus.letters import decode_letter, encode_letter

REPLAYED_OF = "x-outrigger-replayed-of"


class KafkaDeadLetterQueue:
    def __init__(self, bus: KafkaBus, topic: str = "outrigger.dlq") -> None:
        self._bus = bus
        self.topic = topic
        self._declared = False

    async def _declare(self) -> None:
        if not self._declared:
            await self._bus.create([self.topic], partitions=1, **{"retention.ms": "-1"})
            self._declared = True

    async def put(self, letter: DeadLetter) -> None:
        await self._declare()
        await self._bus.publish(encode_letter(letter, self.topic), exchange="")

    async def _letters(self) -> list[DeadLetter]:
        await self._declare()
        stored: list[Stored] = await self._bus.read_all(self.topic)
        letters: list[DeadLetter] = []
        replayed: set[str] = set()
        for record in sorted(stored, key=lambda r: (r.timestamp_ms, r.partition, r.offset)):
            message = from_record(record.value, record.key, record.headers, self.topic)
            if REPLAYED_OF in message.headers:
                replayed.add(message.headers[REPLAYED_OF])
                continue
            fallback = f"{self.topic}:{record.partition}:{record.offset}"
            letters.append(decode_letter(message, fallback))
        return [letter for letter in letters if letter.id not in replayed]

    async def list(self, limit: int = 100) -> list[DeadLetter]:
        return (await self._letters())[: max(limit, 0)]

    async def count(self) -> int:
        return len(await self._letters())

    async def replay(self, target: Subscription, ids: Sequence[str] | None = None) -> int:
        await self._bus.declare(target)
        wanted = None if ids is None else set(ids)
        replayed = 0
        for letter in await self._letters():
            if wanted is not None and letter.id not in wanted:
                continue
            await self._bus.publish(replay_message(letter, target.queue), exchange="")
            marker = BusMessage(b"", self.topic, {REPLAYED_OF: letter.id})
            await self._bus.publish(marker, exchange="")  # only once the target has it
            replayed += 1
        return replayed
