"""RabbitMQ through FastStream (the ``rabbitmq`` extra): publisher confirms, mandatory
publishing, manual acks, a durable dead-letter queue."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from outrigger.bus.base import DeadLetterQueue, EventBus
from outrigger.optional import require

if TYPE_CHECKING:
    from outrigger.bus.settings import BusSettings


def open_bus(settings: BusSettings, data_dir: Path) -> tuple[EventBus, DeadLetterQueue]:
    require("faststream", "rabbitmq")
    from outrigger.bus.rabbitmq.bus import RabbitBus
    from outrigger.bus.rabbitmq.dlq import RabbitDeadLetterQueue

    rabbit = settings.rabbitmq
    bus = RabbitBus(
        rabbit.resolved_url(),
        exchange_type=rabbit.exchange_type,
        declare_exchanges=rabbit.declare_exchanges,
        queue_type=rabbit.queue_type,
    )
    return bus, RabbitDeadLetterQueue(bus, settings.dead_letter_queue)
