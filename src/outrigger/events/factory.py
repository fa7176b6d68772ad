"""Build the configured bus and its dead-letter queue (the only place that knows them all)."""

from __future__ import annotations

from outrigger._optional import require
from outrigger.config.settings import Settings
from outrigger.events.base import DeadLetterQueue, EventBus


def open_bus(settings: Settings) -> tuple[EventBus, DeadLetterQueue]:
    """An unstarted bus and its dead-letter queue for ``settings.bus.kind``."""
    kind = settings.bus.kind
    if kind == "sqlite":
        from outrigger.events.sqlite import SqliteBus, SqliteDeadLetterQueue

        cfg = settings.bus.sqlite
        bus = SqliteBus(
            settings.sqlite_bus_path(),
            visibility_timeout_s=cfg.visibility_timeout_s,
            poll_interval_s=cfg.poll_interval_s,
            synchronous=cfg.synchronous,
        )
        return bus, SqliteDeadLetterQueue(bus)
    if kind == "memory":
        from outrigger.events.memory import MemoryBus, MemoryDeadLetterQueue

        mem = MemoryBus()
        return mem, MemoryDeadLetterQueue(mem)
    require("faststream", "rabbitmq")
    from outrigger.events.rabbitmq import RabbitBus
    from outrigger.events.rabbitmq_dlq import RabbitDeadLetterQueue

    rabbit = settings.bus.rabbitmq
    rbus = RabbitBus(
        rabbit.resolved_url(),
        exchange_type=rabbit.exchange_type,
        declare_exchanges=rabbit.declare_exchanges,
        queue_type=rabbit.queue_type,
    )
    return rbus, RabbitDeadLetterQueue(rbus, settings.bus.dead_letter_queue)
