"""One trace from the domain event to the result event, across the real RabbitMQ hop, in
both CloudEvents modes; spans collected by the SDK's in-memory exporter."""

from __future__ import annotations

import asyncio
import json
import random
import uuid
from collections.abc import AsyncIterator
from dataclasses import replace

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from outrigger.bus.base import BusMessage, Subscription
from outrigger.config.settings import Settings
from outrigger.demo.loans import LoanService, holdout_rows
from outrigger.runtime import Runtime, build_runtime
from outrigger.telemetry.tracing import current_headers
from tests.rabbit_cleanup import delete_rabbit_objects

pytestmark = [pytest.mark.rabbitmq, pytest.mark.timeout(60)]


@pytest.fixture
async def traced(
    rabbitmq_url: str, tmp_path: object
) -> AsyncIterator[tuple[Runtime, InMemorySpanExporter, TracerProvider]]:
    tag = uuid.uuid4().hex[:8]
    settings = Settings(
        data_dir=tmp_path,
        bus={  # type: ignore[arg-type]
            "kind": "rabbitmq",
            "exchange": f"trace.{tag}.ex",
            "queue": f"trace.{tag}.q",
            "dead_letter_queue": f"trace.{tag}.dlq",
            "rabbitmq": {"url": rabbitmq_url, "declare_exchanges": True},
        },
    )
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    runtime = await build_runtime(settings)
    runtime.tracer = provider.get_tracer("test")
    yield runtime, exporter, provider
    await runtime.close()
    await delete_rabbit_objects(
        rabbitmq_url,
        [f"trace.{tag}.q", f"trace.{tag}.dlq", f"trace.{tag}.res"],
        [f"trace.{tag}.ex"],
    )


@pytest.mark.parametrize("binary", [False, True])
async def test_trace_follows_the_event_through_the_broker(
    traced: tuple[Runtime, InMemorySpanExporter, TracerProvider], binary: bool
) -> None:
    runtime, exporter, provider = traced
    settings = runtime.settings
    results = Subscription(
        settings.bus.queue.replace(".q", ".res"), settings.bus.exchange, ("ai.#",)
    )
    await runtime.bus.declare(results)
    tracer = provider.get_tracer("loan-service")
    _, message = LoanService(holdout_rows(), random.Random(8)).cloudevent(binary=binary)
    with tracer.start_as_current_span("loan-service publish", kind=SpanKind.PRODUCER) as producer:
        context = current_headers()
        if binary:  # W3C headers on the message
            message = replace(message, headers={**message.headers, **context})
        else:  # the CloudEvents distributed-tracing extension, in the body only
            body = json.loads(message.body)
            body.update(context)
            message = BusMessage(
                json.dumps(body).encode(),
                message.routing_key,
                {},
                message.message_id,
                message.content_type,
            )
        await runtime.bus.publish(message, exchange=settings.bus.exchange)
    stop = asyncio.Event()
    task = asyncio.create_task(runtime.worker().run(stop))
    try:
        delivery = await asyncio.wait_for(anext(runtime.bus.consume(results, prefetch=5)), 20)
        await delivery.ack()
    finally:
        stop.set()
        await task
    spans = {s.name: s for s in exporter.get_finished_spans()}
    process = spans["process credit-risk-assessment@1"]
    score = spans["score credit-risk"]
    publish = spans["publish com.acme.ai.AiAssessmentCompleted"]
    trace_id = producer.get_span_context().trace_id
    assert {s.context.trace_id for s in (process, score, publish)} == {trace_id}
    assert (
        process.parent is not None and process.parent.span_id == producer.get_span_context().span_id
    )
    assert process.kind == SpanKind.CONSUMER and publish.kind == SpanKind.PRODUCER
    assert score.parent.span_id == process.context.span_id
    assert publish.parent.span_id == process.context.span_id
    assert score.attributes["outrigger.model.version"] == "1.0.0"
    # The result carries the publish span's context, in its headers and in its envelope.
    header = delivery.message.headers["traceparent"]
    assert header.startswith(f"00-{trace_id:032x}-{publish.context.span_id:016x}-")
    assert json.loads(delivery.message.body)["traceparent"] == header
