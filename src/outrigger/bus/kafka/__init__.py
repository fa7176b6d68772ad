"""Kafka through confluent-kafka (the ``kafka`` extra): idempotent acks=all publishing,
consumer groups with manual, contiguous commits, per-key ordering, attempts kept in a log, and
a dead-letter topic."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from outrigger.bus.base import DeadLetterQueue, EventBus
from outrigger.optional import require

if TYPE_CHECKING:
    from outrigger.bus.settings import BusSettings


def open_bus(settings: BusSettings, data_dir: Path) -> tuple[EventBus, DeadLetterQueue]:
    require("confluent_kafka", "kafka")
    from outrigger.bus.kafka.bus import KafkaBus
    from outrigger.bus.kafka.dlq import KafkaDeadLetterQueue

    bus = KafkaBus(settings.kafka)
    return bus, KafkaDeadLetterQueue(bus, settings.dead_letter_queue)
