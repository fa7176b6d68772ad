"""What every pipeline step shares: the one interface the pipeline runs them through, the
context they read and write, and the micro-batching knobs."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Protocol

from opentelemetry.trace import NoOpTracer, Span, SpanKind, Tracer

from outrigger.batching import Occupancy
from outrigger.engine.envelope import Event
from outrigger.telemetry.tracing import span


@dataclass(frozen=True)
class Batching:
    """Micro-batching of model calls across concurrent events: at most ``max_size`` rows,
    waiting at most ``max_wait_s`` for more (0 = only what arrives in the same loop tick)."""

    max_size: int = 64
    max_wait_s: float = 0.0
    #: How many events are at work: a window waits only for them.
    company: Occupancy | None = None


@dataclass
class StepContext:
    event: Event
    routing_key: str
    steps: dict[str, dict[str, Any]] = field(default_factory=dict)
    models: list[dict[str, str]] = field(default_factory=list)
    #: The guard's marks of the event's LLM calls (``injection``), carried by the result.
    flags: list[str] = field(default_factory=list)
    started: float = field(default_factory=time.perf_counter)

    def root(self) -> dict[str, Any]:
        return {"event": self.event.as_context(), "data": self.event.data, "steps": self.steps}


class Step(Protocol):
    """One step of a pipeline (``score``, ``llm``, ``embed``): reads the context, writes its
    output under ``steps.<name>`` and the model it used, inside a span of its own."""

    @property
    def name(self) -> str: ...

    async def __call__(self, ctx: StepContext, tracer: Tracer) -> None: ...


@contextmanager
def step_span(
    tracer: Tracer | None, name: str, kind: SpanKind = SpanKind.INTERNAL
) -> Iterator[tuple[Span | None, str | None]]:
    """The step's span and its trace id (what an LLM or embedding call joins)."""
    with span(tracer or NoOpTracer(), name, kind=kind) as current:
        trace_id = None
        if current is not None:
            trace_id = format(current.get_span_context().trace_id, "032x")
        yield current, trace_id
