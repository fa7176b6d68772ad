"""NATS JetStream through nats-py (the ``nats`` extra): a stream per exchange, a durable
pull consumer per queue, PubAck-confirmed publishes, a dead-letter stream."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from outrigger.bus.base import DeadLetterQueue, EventBus
from outrigger.optional import require

if TYPE_CHECKING:
    from outrigger.bus.settings import BusSettings


def open_bus(settings: BusSettings, data_dir: Path) -> tuple[EventBus, DeadLetterQueue]:
    require("nats", "nats")
    from outrigger.bus.nats.bus import NatsBus
    from outrigger.bus.nats.dlq import NatsDeadLetterQueue

    bus = NatsBus(settings.nats.resolved_url(), settings.nats)
    return bus, NatsDeadLetterQueue(bus, settings.dead_letter_queue)
