"""The ``llm`` step: event text -> a prompt (event content only in the user role, fenced as
data) -> the LLM proxy -> text or schema-checked JSON in ``steps.<name>``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from opentelemetry.trace import SpanKind, Tracer

from outrigger.batching import Occupancy
from outrigger.config.pipelines import LlmStep
from outrigger.engine.mapping import MISSING, resolve
from outrigger.engine.steps.base import StepContext, step_span
from outrigger.errors import (
    OUTPUT_WITHHELD,
    MappingError,
    OutputValidationError,
    PermanentError,
    TransientError,
)
from outrigger.guard.messages import PromptTemplate
from outrigger.guard.output import OutputValidator, repair_prompt
from outrigger.llm.types import ChatRequest


class Answer(Protocol):
    @property
    def text(self) -> str: ...

    @property
    def model(self) -> str | None: ...

    @property
    def flags(self) -> tuple[str, ...]: ...


@dataclass(frozen=True)
class Withheld:
    """The step's declared fallback, standing in for an answer the proxy withheld."""

    text: str
    model: str | None = None
    flags: tuple[str, ...] = ()


class LlmClient(Protocol):
    async def complete(
        self, tenant_id: str, feature: str, request: ChatRequest, trace_id: str | None = None
    ) -> Answer: ...


class UnconnectedLlm:
    """For commands that route events but never run pipelines (config check, dlq replay,
    events publish): the worker always connects the real proxy."""

    async def complete(
        self, tenant_id: str, feature: str, request: ChatRequest, trace_id: str | None = None
    ) -> Answer:
        raise TransientError("this process has no LLM proxy connected")


class LlmRunner:
    def __init__(
        self,
        spec: LlmStep,
        pipeline: str,
        client: LlmClient,
        occupancy: Occupancy | None = None,
    ) -> None:
        """``occupancy``: the worker's count of events at work, which this step leaves
        while its call is out (so no batch window of another step waits for it)."""
        self.occupancy = occupancy or Occupancy()
        self.spec = spec
        self.name = spec.name
        self.feature = spec.feature or pipeline
        self.client = client
        self.template = PromptTemplate(spec.system, spec.instruction)
        schema = spec.output_schema
        self.validator = OutputValidator(schema) if schema is not None else None

    def _tenant(self, ctx: StepContext) -> str:
        value = resolve(ctx.root(), self.spec.tenant_path)
        if value is MISSING or value in (None, ""):
            if self.spec.tenant_default is None:
                raise MappingError(f"{self.spec.tenant_path}: the event names no tenant")
            return self.spec.tenant_default
        return str(value)

    def _inputs(self, ctx: StepContext) -> dict[str, str]:
        root = ctx.root()
        inputs = {}
        for name, path in self.spec.inputs.items():
            value = resolve(root, path)
            if value is MISSING or value is None:
                raise MappingError(f"{path}: missing (input {name!r} of step {self.spec.name!r})")
            inputs[name] = value if isinstance(value, str) else str(value)
        return inputs

    def _request(self, messages: list[dict[str, Any]]) -> ChatRequest:
        params: dict[str, Any] = {
            "max_tokens": self.spec.max_tokens,
            "temperature": self.spec.temperature,
        }
        if self.validator is not None:
            params["response_format"] = {"type": "json_object"}
        return ChatRequest(self.spec.model, messages, params)

    async def _complete(
        self, tenant: str, messages: list[dict[str, Any]], trace_id: str | None
    ) -> Answer:
        try:
            return await self.client.complete(
                tenant, self.feature, self._request(messages), trace_id
            )
        except PermanentError as exc:
            if exc.code != OUTPUT_WITHHELD or self.spec.fallback is None:
                raise
            return Withheld(self.spec.fallback)

    async def __call__(self, ctx: StepContext, tracer: Tracer) -> None:
        with step_span(tracer, f"chat {self.spec.model}", SpanKind.CLIENT) as (current, trace):
            with self.occupancy.away():
                answer = await self.run(ctx, trace)
            if current is not None:
                current.set_attributes(
                    {
                        "gen_ai.operation.name": "chat",
                        "gen_ai.request.model": self.spec.model,
                        "gen_ai.response.model": answer.model or "",
                        "outrigger.step": self.spec.name,
                        "outrigger.feature": self.feature,
                    }
                )

    async def run(self, ctx: StepContext, trace_id: str | None = None) -> Answer:
        tenant = self._tenant(ctx)
        messages = [m.as_dict() for m in self.template.render(self._inputs(ctx))]
        answer = await self._complete(tenant, messages, trace_id)
        if isinstance(answer, Withheld):
            ctx.steps[self.spec.name] = {"text": answer.text, "model": None, "withheld": True}
            if OUTPUT_WITHHELD not in ctx.flags:  # the result says its text is the fallback
                ctx.flags.append(OUTPUT_WITHHELD)
            return answer
        result: dict[str, Any] = {"text": answer.text, "model": answer.model}
        if self.validator is not None:
            check = self.validator.check_text(answer.text)
            if not check.ok and self.spec.repair:
                retry = [
                    *messages,
                    {"role": "assistant", "content": answer.text},
                    {"role": "user", "content": repair_prompt(check.errors, self.validator.schema)},
                ]
                answer = await self.client.complete(
                    tenant, self.feature, self._request(retry), trace_id
                )
                check = self.validator.check_text(answer.text)
            if not check.ok:
                raise OutputValidationError(f"step {self.spec.name}: {check.message}")
            result["output"] = check.value
        if answer.flags:  # e.g. ``injection``: the text was flagged, the operator decides
            result["flags"] = list(answer.flags)
            ctx.flags.extend(f for f in answer.flags if f not in ctx.flags)
        ctx.steps[self.spec.name] = result
        ctx.models.append({"name": self.spec.model, "version": answer.model or "unknown"})
        return answer
