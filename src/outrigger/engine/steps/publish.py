"""The last step of every pipeline: the result event, checked against its JSON Schema."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from outrigger.bus.base import BusMessage
from outrigger.config.pipelines import PublishStep
from outrigger.engine.mapping import MISSING, resolve
from outrigger.engine.results import encode_result
from outrigger.engine.steps.base import StepContext
from outrigger.errors import OutputValidationError
from outrigger.validation import SchemaCheck


class PublishRunner:
    """Builds the result event and checks it against the declared JSON Schema."""

    def __init__(self, spec: PublishStep, pipeline: str, version: str | int) -> None:
        self.spec = spec
        self.pipeline = pipeline
        self.version = str(version)
        schema = spec.result_schema
        self._validator = SchemaCheck(schema) if schema is not None else None

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
        if ctx.flags:  # only when marked: results of unmarked events keep their shape
            data["flags"] = list(ctx.flags)
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
