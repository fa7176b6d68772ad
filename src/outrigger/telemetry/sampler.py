"""Samples what only the broker knows (backlog, dead-letter queue size) into gauges."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from outrigger.bus.base import DeadLetterQueue, EventBus
from outrigger.telemetry.metrics import Metrics

log = logging.getLogger("outrigger.telemetry")


async def sample_once(metrics: Metrics, bus: EventBus, dlq: DeadLetterQueue, queue: str) -> None:
    metrics.queue_backlog.labels(queue).set(await bus.depth(queue))
    metrics.dead_letter_queue_size.set(await dlq.count())


async def sample_forever(
    metrics: Metrics,
    bus: EventBus,
    dlq: DeadLetterQueue,
    queue: str,
    every_s: float,
    stop: asyncio.Event,
) -> None:
    while not stop.is_set():
        try:
            await sample_once(metrics, bus, dlq, queue)
        except Exception as exc:  # a broker hiccup must not stop the worker
            log.warning("could not sample queue sizes: %s", exc)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), every_s)
