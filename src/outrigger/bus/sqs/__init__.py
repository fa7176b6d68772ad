"""Amazon SQS, standard or FIFO queues, through boto3 (the ``sqs`` extra): topic bindings as
queue tags, long polling, batched deletes, visibility extended while work is in flight, and
Outrigger's own dead-letter queue."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from outrigger.bus.base import DeadLetterQueue, EventBus
from outrigger.optional import require

if TYPE_CHECKING:
    from outrigger.bus.settings import BusSettings


def open_bus(settings: BusSettings, data_dir: Path) -> tuple[EventBus, DeadLetterQueue]:
    require("boto3", "sqs")
    from outrigger.bus.sqs.bus import SqsBus
    from outrigger.bus.sqs.dlq import SqsDeadLetterQueue

    bus = SqsBus(settings.sqs)
    return bus, SqsDeadLetterQueue(bus, settings.dead_letter_queue)
