"""The delivery policy: how one delivery becomes one confirmed result, or one dead letter.

For each delivery, in order:
1. decode the envelope — malformed input goes straight to the dead-letter queue;
2. pick the pipeline (no match: acknowledged and counted as ignored);
3. skip it if the idempotency store already holds its deterministic result id;
4. run the steps and publish the result, retrying transient failures with exponential
   backoff and jitter up to ``max_attempts``; a ``PermanentError`` is dead-lettered at once;
5. record the result id, then — only then — acknowledge the source event.

A crash anywhere before step 5 means redelivery; the deterministic result id makes the
repeated result recognisable downstream. Nothing is acknowledged before it is safely handled.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar

from opentelemetry.trace import NoOpTracer, SpanKind, Tracer
from prometheus_client import Counter, Histogram

from outrigger.batching import MicroBatcher, Occupancy
from outrigger.bus.base import (
    BusMessage,
    DeadLetter,
    DeadLetterQueue,
    Delivery,
    EventBus,
    Subscription,
)
from outrigger.config.settings import WorkerSettings
from outrigger.engine.attempts import FailureCounter
from outrigger.engine.envelope import Event, parse_event
from outrigger.engine.pipeline import Pipeline, PipelineSet
from outrigger.errors import MalformedEvent, PermanentError, Unroutable
from outrigger.storage.base import IdempotencyStore
from outrigger.telemetry.metrics import Metrics
from outrigger.telemetry.tracing import context_from, span, tracing_on

log = logging.getLogger("outrigger.worker")
Out = TypeVar("Out")


@dataclass(frozen=True)
class _PipelineMetrics:
    """A pipeline's processing-time and result series, bound to its label."""

    seconds: Histogram
    results: Counter


@dataclass
class WorkerStats:
    received: int = 0
    results: int = 0
    dead_lettered: int = 0
    duplicates_skipped: int = 0
    ignored: int = 0
    retries: int = 0
    requeued: int = 0


class Worker:
    def __init__(
        self,
        bus: EventBus,
        dlq: DeadLetterQueue,
        pipelines: PipelineSet,
        idempotency: IdempotencyStore,
        settings: WorkerSettings,
        subscription: Subscription,
        result_exchange: str,
        *,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        metrics: Metrics | None = None,
        tracer: Tracer | None = None,
        occupancy: Occupancy | None = None,
    ) -> None:
        """``occupancy``: counts the deliveries in flight, for the steps' batch windows."""
        self.bus, self.dlq, self.pipelines = bus, dlq, pipelines
        self.idempotency = idempotency
        self.settings = settings
        self.subscription = subscription
        self.result_exchange = result_exchange
        self.stats = WorkerStats()
        self._sleep = sleep
        self.metrics = metrics or Metrics()
        self.tracer = tracer or NoOpTracer()
        self._inflight: set[asyncio.Task[None]] = set()
        self.occupancy = occupancy or Occupancy()
        self.failures = FailureCounter()
        # Bound once: a labelled child per event costs a lock and a dict look-up each time.
        self._received = self.metrics.events_received.labels(subscription.queue)
        self._per_pipeline: dict[str, _PipelineMetrics] = {}
        self._traced = tracing_on(self.tracer)
        # The idempotency store is read and written in the steps' batch windows: one
        # look-up and one transaction for the events that get there together, instead of
        # one each per event (under load, most of a small pipeline's own cost; batching.py).
        self._lookups: MicroBatcher[str, bool] = self._window(self._look_up_all)
        self._records: MicroBatcher[str, None] = self._window(self._record_all)

    def _window(
        self, fn: Callable[[Sequence[str]], Awaitable[list[Out]]]
    ) -> MicroBatcher[str, Out]:
        return MicroBatcher(
            fn,
            max_size=self.settings.batch_max_size,
            max_wait_s=self.settings.batch_max_wait_ms / 1000,
            company=self.occupancy,
        )

    async def run(self, stop: asyncio.Event) -> None:
        """Consume until ``stop`` is set, then drain in-flight work (bounded by
        ``drain_timeout_s``). Deliveries not finished by then return to the queue on close."""
        pump = asyncio.create_task(self._pump(), name="outrigger-pump")
        stopper = asyncio.create_task(stop.wait())
        done, _ = await asyncio.wait({pump, stopper}, return_when=asyncio.FIRST_COMPLETED)
        pump.cancel()
        stopper.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await pump
        if pump in done and pump.exception() is not None:
            raise pump.exception()  # type: ignore[misc]
        await self.drain()

    async def drain(self) -> None:
        if self._inflight:
            log.info("draining %d in-flight deliveries", len(self._inflight))
            await asyncio.wait(self._inflight, timeout=self.settings.drain_timeout_s)

    async def _pump(self) -> None:
        stream = self.bus.consume(self.subscription, prefetch=self.settings.prefetch)
        async for delivery in stream:
            task = asyncio.create_task(self.handle(delivery))
            self._inflight.add(task)
            self.occupancy.active += 1
            task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._inflight.discard(task)
        self.occupancy.active -= 1

    async def handle(self, delivery: Delivery) -> None:
        """Handle one delivery to the end: result confirmed and acked, or dead-lettered.

        Whatever is raised on the way, the delivery ends settled: an exception nobody
        classified sends it back to the broker, counted toward ``max_deliveries``, after
        which it is dead-lettered; it never stays in flight with its task dead."""
        self.stats.received += 1
        self._received.inc()
        try:
            await self._handle(delivery)
        except Exception as exc:  # the last line of defence: see the docstring
            await self._unexpected(delivery, exc)

    async def _handle(self, delivery: Delivery) -> None:
        message = delivery.message
        try:
            event = parse_event(message, self.pipelines.plain_rules, self.settings.max_event_bytes)
        except MalformedEvent as exc:
            await self._dead(delivery, exc.code, str(exc), delivery.attempt, None)
            return
        except Exception as exc:  # the same bytes fail the same way: no point retrying
            reason = f"the event could not be parsed: {type(exc).__name__}: {exc}"
            await self._dead(delivery, "unparseable", reason, delivery.attempt, None)
            return
        if delivery.attempt > self.settings.max_deliveries:
            reason = f"delivered {delivery.attempt} times without completing (poison message?)"
            await self._dead(delivery, "delivery_limit", reason, delivery.attempt, None)
            return
        pipeline = self.pipelines.match(event, message.domain_routing_key)
        if pipeline is None:
            self.stats.ignored += 1
            self.metrics.events_processed.labels("", "ignored").inc()
            log.debug("no pipeline for type=%s key=%s", event.type, message.domain_routing_key)
            await self._settle(delivery, ack=True)
            return
        if not self._traced:  # no span to open: skip building its attributes and context
            await self._process(delivery, event, pipeline)
            return
        attributes: dict[str, str | int] = {
            "messaging.system": self.bus.kind,
            "messaging.operation.type": "process",
            "messaging.destination.name": self.subscription.queue,
            "cloudevents.event_id": event.id,
            "cloudevents.event_type": event.type,
            "outrigger.pipeline": pipeline.label,
            "outrigger.delivery.attempt": delivery.attempt,
        }
        with span(
            self.tracer,
            f"process {pipeline.label}",
            context=context_from(event.trace),
            kind=SpanKind.CONSUMER,
            attributes=attributes,
        ):
            await self._process(delivery, event, pipeline)

    async def _unexpected(self, delivery: Delivery, exc: Exception) -> None:
        """An exception no step classified: back to the broker, or to the dead-letter
        queue once the message has used its deliveries."""
        if delivery.settled:
            log.error("failure after the delivery was settled: %s", type(exc).__name__)
            return
        attempts = self.failures.failed(delivery.message, delivery.attempt)
        # Type only: an error message may quote payload values (PII stays out of logs).
        log.error("unexpected %s handling a delivery (attempt %d)", type(exc).__name__, attempts)
        if attempts >= self.settings.max_deliveries:
            reason = (
                f"failed {attempts} times with an unexpected error; last: "
                f"{type(exc).__name__}: {exc}"
            )
            await self._dead(delivery, "delivery_limit", reason, attempts, None)
            self.failures.forget(delivery.message)
            return
        self.stats.requeued += 1
        await self._settle(delivery, ack=False)

    async def _send(self, message: BusMessage, exchange: str | None = None) -> None:
        """A result to its publish step's exchange, else the deployment's result exchange."""
        await self.bus.publish(message, exchange=exchange or self.result_exchange)

    async def _process(self, delivery: Delivery, event: Event, pipeline: Pipeline) -> None:
        rid = pipeline.result_id(event)
        if await self._already_done(rid):
            self.stats.duplicates_skipped += 1
            self.metrics.events_processed.labels(pipeline.label, "duplicate").inc()
            await self._settle(delivery, ack=True)
            return
        routing_key = delivery.message.domain_routing_key
        started = time.perf_counter()
        for attempt in range(1, self.settings.max_attempts + 1):
            try:
                await pipeline.run(event, routing_key, self._send, self.tracer, rid)
                break
            except PermanentError as exc:
                await self._dead(delivery, exc.code, str(exc), attempt, pipeline.label)
                return
            except RecursionError:  # the event is too deep for a step: it always will be
                reason = "the event is nested too deeply for the pipeline's steps"
                await self._dead(delivery, "too_deep", reason, attempt, pipeline.label)
                return
            except Exception as exc:
                if attempt == self.settings.max_attempts:
                    await self._gave_up(delivery, exc, attempt, pipeline.label)
                    return
                self.stats.retries += 1
                self.metrics.retries.labels(pipeline.label).inc()
                # Type only: an error message may quote payload values (PII stays out of logs).
                log.warning("attempt %d for %s failed: %s", attempt, event.id, type(exc).__name__)
                await self._sleep(self.backoff(attempt))
        await self._remember(rid)
        self.stats.results += 1
        bound = self._metrics_of(pipeline.label)
        bound.seconds.observe(time.perf_counter() - started)
        bound.results.inc()
        await self._settle(delivery, ack=True)

    def _metrics_of(self, label: str) -> _PipelineMetrics:
        bound = self._per_pipeline.get(label)
        if bound is None:
            bound = _PipelineMetrics(
                self.metrics.processing_seconds.labels(label),
                self.metrics.events_processed.labels(label, "result"),
            )
            self._per_pipeline[label] = bound
        return bound

    async def _gave_up(
        self, delivery: Delivery, exc: Exception, attempts: int, pipeline: str
    ) -> None:
        if isinstance(exc, Unroutable):
            # Names only (exchange and key), no payload: safe to log.
            log.warning("result of %s is unroutable: %s", pipeline, exc)
            reason = f"result_unroutable: {exc} (after {attempts} attempts)"
            await self._dead(delivery, "result_unroutable", reason, attempts, pipeline)
            return
        reason = f"gave up after {attempts} attempts: {type(exc).__name__}: {exc}"
        await self._dead(delivery, "retries_exhausted", reason, attempts, pipeline)

    def backoff(self, attempt: int) -> float:
        """Exponential backoff with jitter: between half and all of initial * 2^(attempt-1)."""
        cap = self.settings.backoff_max_s
        base = min(cap, self.settings.backoff_initial_s * 2 ** (attempt - 1))
        return float(base * random.uniform(0.5, 1.0))

    async def _already_done(self, rid: str) -> bool:
        return await self._lookups.submit(rid)

    async def _look_up_all(self, rids: Sequence[str]) -> list[bool]:
        """Look-ups issued together: the store answers them with one query."""
        return list(await asyncio.gather(*(self._look_up(rid) for rid in rids)))

    async def _look_up(self, rid: str) -> bool:
        try:
            return await self.idempotency.get(rid) is not None
        except Exception as exc:
            log.warning("idempotency store unavailable, processing anyway: %s", exc)
            return False

    async def _remember(self, rid: str) -> None:
        await self._records.submit(rid)

    async def _record_all(self, rids: Sequence[str]) -> list[None]:
        """Puts issued together: the store commits them in one transaction."""
        await asyncio.gather(*(self._record(rid) for rid in rids))
        return [None] * len(rids)

    async def _record(self, rid: str) -> None:
        try:
            await self.idempotency.put(rid, rid)
        except Exception as exc:
            log.warning("could not record result %s in the idempotency store: %s", rid, exc)

    async def _dead(
        self, delivery: Delivery, code: str, reason: str, attempts: int, pipeline: str | None
    ) -> None:
        letter = DeadLetter(
            delivery.message, code, reason, attempts, self.subscription.queue, pipeline
        )
        try:
            await self.dlq.put(letter)
        except Exception as exc:
            log.error("dead-letter queue unavailable (%s); requeueing the message", exc)
            self.stats.requeued += 1
            await self._settle(delivery, ack=False)
            return
        self.stats.dead_lettered += 1
        self.metrics.dead_letters.labels(code).inc()
        self.metrics.events_processed.labels(pipeline or "", "dead_letter").inc()
        # The reason may quote payload values: it goes to the dead-letter queue, not the log.
        log.info("dead-lettered a message from %s: %s", self.subscription.queue, code)
        await self._settle(delivery, ack=True)

    async def _settle(self, delivery: Delivery, *, ack: bool) -> None:
        try:
            if ack:
                await delivery.ack()
            else:
                await delivery.nack(requeue=True)
        except Exception as exc:
            log.warning("could not %s a delivery: %s", "ack" if ack else "nack", exc)
