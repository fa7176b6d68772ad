"""Pipeline steps. Each step reads and writes one ``StepContext``.

A step is split into ``prepare`` (pure mapping, per event), ``execute`` (may batch across
events) and ``apply`` so the runner can micro-batch model calls without the step knowing.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from jsonschema import Draft202012Validator

from outrigger.batching import MicroBatcher
from outrigger.bus.base import BusMessage
from outrigger.config.pipelines import FieldSpec, PublishStep, ScoreStep
from outrigger.engine.envelope import Event
from outrigger.engine.mapping import MISSING, Field, resolve
from outrigger.engine.results import encode_result
from outrigger.errors import ConfigError, OutputValidationError
from outrigger.inference.base import Scorer


@dataclass(frozen=True)
class Batching:
    """Micro-batching of model calls across concurrent events: at most ``max_size`` rows,
    waiting at most ``max_wait_s`` for more (0 = only what arrives in the same loop tick)."""

    max_size: int = 64
    max_wait_s: float = 0.0


@dataclass
class StepContext:
    event: Event
    routing_key: str
    steps: dict[str, dict[str, Any]] = field(default_factory=dict)
    models: list[dict[str, str]] = field(default_factory=list)
    started: float = field(default_factory=time.perf_counter)

    def root(self) -> dict[str, Any]:
        return {"event": self.event.as_context(), "data": self.event.data, "steps": self.steps}


def to_field(name: str, spec: FieldSpec) -> Field:
    default = MISSING if spec.default is None else spec.default
    return Field(
        name, spec.path, spec.type, default, spec.unit, spec.scale, spec.values, spec.lower
    )


class ScoreRunner:
    """Maps payload fields to model inputs, scores, and labels the score."""

    def __init__(self, spec: ScoreStep, model: Scorer, batching: Batching | None = None) -> None:
        self.spec = spec
        self.model = model
        self.fields = [to_field(name, f) for name, f in spec.inputs.items()]
        check_signature(spec, model)
        batching = batching or Batching()
        self.batcher: MicroBatcher[dict[str, Any], tuple[float, Scorer]] = MicroBatcher(
            self._execute_off_loop, max_size=batching.max_size, max_wait_s=batching.max_wait_s
        )

    #: Called with the size of every model call (metrics); set by the runtime.
    on_batch: Callable[[int], None] | None = None

    def swap(self, model: Scorer) -> None:
        """Use ``model`` from the next batch on (a hot switch: batches already running finish
        with the model they started with, and their results name that model)."""
        check_signature(self.spec, model)
        self.model = model

    async def score(self, ctx: StepContext) -> None:
        """Map, score (micro-batched with concurrent events) and label one event."""
        row = self.prepare(ctx)
        score, model = await self.batcher.submit(row)
        self.apply(ctx, score, model)

    async def _execute_off_loop(self, rows: Sequence[dict[str, Any]]) -> list[tuple[float, Scorer]]:
        model = self.model  # the model this whole batch is scored by
        if self.on_batch is not None:
            self.on_batch(len(rows))
        # ONNX Runtime releases the GIL: the event loop keeps serving I/O meanwhile.
        scores = await asyncio.to_thread(self.execute, rows, model)
        return [(s, model) for s in scores]

    def prepare(self, ctx: StepContext) -> dict[str, Any]:
        root = ctx.root()
        return {f.name: f.extract(root) for f in self.fields}

    def execute(self, rows: Sequence[Mapping[str, Any]], model: Scorer) -> list[float]:
        outputs = model.predict(rows)
        column = outputs[self.spec.output]
        return [float(column[i][self.spec.index]) for i in range(len(rows))]

    def apply(self, ctx: StepContext, score: float, model: Scorer) -> None:
        """Record the score, its label and ``model`` — the one that scored the batch, which
        after a hot switch is not necessarily ``self.model``."""
        if not math.isfinite(score):
            raise OutputValidationError(f"step '{self.spec.name}' produced a non-finite score")
        label = self.label(score)
        ctx.steps[self.spec.name] = {"score": score, "label": label}
        ctx.models.append({"name": model.name, "version": model.version})

    def label(self, score: float) -> str | None:
        for rule in self.spec.labels:
            if rule.below is None or score < rule.below:
                return rule.label
        return None


def check_signature(spec: ScoreStep, model: Scorer) -> None:
    names = {i.name for i in model.inputs}
    unknown = sorted(set(spec.inputs) - names)
    missing = sorted(names - set(spec.inputs))
    problems = []
    if unknown:
        problems.append(f"model has no input(s) {', '.join(unknown)}")
    if missing:
        problems.append(f"model input(s) not mapped: {', '.join(missing)}")
    types = {i.name: i.type for i in model.inputs}
    for name, f in spec.inputs.items():
        wanted = types.get(name)
        if wanted == "string" and f.type != "str":
            problems.append(f"input {name} is a string tensor; declare type: str")
        if wanted in ("float", "double", "int64", "int32") and f.type == "str":
            problems.append(f"input {name} is a numeric tensor; type str will not do")
    if spec.output not in {o.name for o in model.outputs}:
        problems.append(f"model has no output {spec.output!r}")
    if problems:
        raise ConfigError("; ".join(problems))


class PublishRunner:
    """Builds the result event and checks it against the declared JSON Schema."""

    def __init__(self, spec: PublishStep, pipeline: str, version: str | int) -> None:
        self.spec = spec
        self.pipeline = pipeline
        self.version = str(version)
        schema = spec.result_schema
        self._validator = Draft202012Validator(schema) if schema is not None else None

    def build(
        self, ctx: StepContext, event_id: str, trace: Mapping[str, str] | None = None
    ) -> BusMessage:
        data = self.payload(ctx)
        self.validate(data)
        return encode_result(
            event_id=event_id,
            event_type=self.spec.type,
            source=self.spec.source,
            routing_key=self.spec.routing_key,
            data=data,
            cause=ctx.event,
            mode=self.spec.mode,
            trace=trace,
        )

    def payload(self, ctx: StepContext) -> dict[str, Any]:
        root = ctx.root()
        data: dict[str, Any] = {}
        for name, path in self.spec.data.items():
            value = resolve(root, path)
            data[name] = None if value is MISSING else value
        data.update(
            source_event_id=ctx.event.id,
            pipeline=self.pipeline,
            pipeline_version=self.version,
            models=list(ctx.models),
            latency_ms=round((time.perf_counter() - ctx.started) * 1000, 3),
        )
        return data

    def validate(self, data: dict[str, Any]) -> None:
        if self._validator is None:
            return
        if self._validator.is_valid(data):  # the fast path; collect errors only on failure
            return
        errors = sorted(self._validator.iter_errors(data), key=lambda e: list(e.path))
        if errors:
            where = "/".join(str(p) for p in errors[0].path) or "(result)"
            raise OutputValidationError(
                f"result violates its schema at {where}: {errors[0].message}"
                + (f" (+{len(errors) - 1} more)" if len(errors) > 1 else "")
            )
