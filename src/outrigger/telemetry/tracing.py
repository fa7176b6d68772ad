"""OpenTelemetry tracing: one trace from the domain event to the result event.

The W3C trace context travels in message headers (``traceparent``/``tracestate``; in binary
CloudEvents too, and as the distributed-tracing extension in structured ones): the worker's
span continues the producer's trace, each step gets a child span, and the result event is
published with the context of the publish span, so the core service's consumer continues the
same trace. The tracer is built at start-up and passed in; without an exporter configured
(``OUTRIGGER_TELEMETRY__OTLP_ENDPOINT``) it is a no-op.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from contextlib import AbstractContextManager, nullcontext
from typing import Any, TypeGuard

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter
from opentelemetry.trace import Span, Tracer
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from outrigger import __version__
from outrigger.optional import require

PROPAGATOR = TraceContextTextMapPropagator()


def context_from(headers: Mapping[str, str]) -> Context:
    """The remote parent carried by ``traceparent``/``tracestate`` (empty if none)."""
    return PROPAGATOR.extract(carrier=dict(headers))


def current_headers() -> dict[str, str]:
    """``traceparent``/``tracestate`` of the current span, for outgoing messages."""
    carrier: dict[str, str] = {}
    PROPAGATOR.inject(carrier)
    return carrier


def tracing_on(tracer: Tracer | None) -> TypeGuard[Tracer]:
    """Whether ``tracer`` records spans (the no-op tracer, or none, does not)."""
    return tracer is not None and not isinstance(tracer, trace.NoOpTracer)


def span(tracer: Tracer, name: str, **kwargs: Any) -> AbstractContextManager[Span | None]:
    """``tracer.start_as_current_span`` — or nothing at all when tracing is off (the no-op
    tracer still attaches contexts, which costs ~30 µs a span on the hot path)."""
    if not tracing_on(tracer):
        return nullcontext()
    return tracer.start_as_current_span(name, **kwargs)


def build_provider(service: str, exporter: SpanExporter | None) -> TracerProvider:
    provider = TracerProvider(
        resource=Resource.create(
            {
                "service.name": service,
                "service.version": __version__,
            }
        )
    )
    if exporter is not None:
        provider.add_span_processor(BatchSpanProcessor(exporter))
    return provider


def otlp_exporter(endpoint: str) -> SpanExporter:
    module = require("opentelemetry.exporter.otlp.proto.http.trace_exporter", "otel")
    exporter: SpanExporter = module.OTLPSpanExporter(endpoint=endpoint)
    return exporter


def tracer_for(
    endpoint: str | None, service: str = "outrigger-worker"
) -> tuple[Tracer, TracerProvider | None]:
    """A real tracer exporting to ``endpoint``, or a no-op one."""
    if not endpoint:
        return trace.NoOpTracer(), None
    provider = build_provider(service, otlp_exporter(endpoint))
    return provider.get_tracer("outrigger", __version__), provider


class TraceIdFilter(logging.Filter):
    """Adds ``trace_id`` and ``span_id`` of the current span (or empty strings) to every log
    record, so a JSON log line can be joined with its trace."""

    def filter(self, record: logging.LogRecord) -> bool:
        context = trace.get_current_span().get_span_context()
        record.trace_id = f"{context.trace_id:032x}" if context.is_valid else ""
        record.span_id = f"{context.span_id:016x}" if context.is_valid else ""
        return True
