"""The ``score`` step: payload fields -> an ONNX model's inputs -> a score and its label,
micro-batched across concurrent events."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from opentelemetry.trace import Tracer

from outrigger.batching import MicroBatcher
from outrigger.config.pipelines import FieldSpec, ScoreStep
from outrigger.engine.mapping import MISSING, Field
from outrigger.engine.steps.base import Batching, StepContext, step_span
from outrigger.errors import ConfigError, OutputValidationError
from outrigger.inference.base import Scorer
from outrigger.offload import Offloader


def to_field(name: str, spec: FieldSpec) -> Field:
    default = MISSING if spec.default is None else spec.default
    return Field(
        name, spec.path, spec.type, default, spec.unit, spec.scale, spec.values, spec.lower
    )


class ScoreRunner:
    """Maps payload fields to model inputs, scores, and labels the score."""

    def __init__(
        self,
        spec: ScoreStep,
        model: Scorer,
        batching: Batching | None = None,
        on_batch: Callable[[str, int], None] | None = None,
    ) -> None:
        self.spec = spec
        self.name = spec.name
        self.model = model
        #: Called with the model's name and the size of every model call (metrics).
        self.on_batch = on_batch
        self.fields = [to_field(name, f) for name, f in spec.inputs.items()]
        check_signature(spec, model)
        batching = batching or Batching()
        self.offloader = Offloader()
        self.batcher: MicroBatcher[dict[str, Any], tuple[float, Scorer]] = MicroBatcher(
            self._execute_off_loop,
            max_size=batching.max_size,
            max_wait_s=batching.max_wait_s,
            company=batching.company,
        )

    def swap(self, model: Scorer) -> None:
        """Use ``model`` from the next batch on (a hot switch: batches already running finish
        with the model they started with, and their results name that model)."""
        check_signature(self.spec, model)
        self.model = model

    async def __call__(self, ctx: StepContext, tracer: Tracer) -> None:
        with step_span(tracer, f"score {self.spec.model}") as (current, _):
            await self.score(ctx)
            if current is not None:
                current.set_attributes(
                    {
                        "outrigger.step": self.spec.name,
                        "outrigger.model.name": ctx.models[-1]["name"],
                        "outrigger.model.version": ctx.models[-1]["version"],
                    }
                )

    async def score(self, ctx: StepContext) -> None:
        """Map, score (micro-batched with concurrent events) and label one event."""
        row = self.prepare(ctx)
        score, model = await self.batcher.submit(row)
        self.apply(ctx, score, model)

    async def _execute_off_loop(self, rows: Sequence[dict[str, Any]]) -> list[tuple[float, Scorer]]:
        model = self.model  # the model this whole batch is scored by
        if self.on_batch is not None:
            self.on_batch(self.spec.model, len(rows))
        # Small models run inline (a thread hop would cost more than the model); larger
        # batches in a thread, where ONNX Runtime releases the GIL and the loop goes on.
        scores = await self.offloader.run(len(rows), self.execute, rows, model)
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
