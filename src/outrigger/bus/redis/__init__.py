"""Redis Streams through redis-py's asyncio client (the ``redis`` extra): consumer groups,
XACK after the result is published, XAUTOCLAIM of a crashed consumer's entries, a
dead-letter stream."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from outrigger.bus.base import DeadLetterQueue, EventBus
from outrigger.optional import require

if TYPE_CHECKING:
    from outrigger.bus.settings import BusSettings


def open_bus(settings: BusSettings, data_dir: Path) -> tuple[EventBus, DeadLetterQueue]:
    require("redis", "redis")
    from outrigger.bus.redis.bus import RedisBus
    from outrigger.bus.redis.dlq import RedisDeadLetterQueue

    bus = RedisBus(settings.redis)
    return bus, RedisDeadLetterQueue(bus, settings.dead_letter_queue)
