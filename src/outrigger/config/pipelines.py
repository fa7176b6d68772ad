"""The pipelines file: which events, which steps, which result event.

Example (the bundled demo file is ``src/outrigger/bundled/pipelines/demo.yaml``)::

    models:
      credit-risk: {path: bundled:models/credit-risk/1.0.0}
    pipelines:
      - name: credit-risk-assessment
        version: 1
        on: {types: ["com.acme.loans.LoanApplicationSubmitted"], routing_keys: ["loans.#"]}
        steps:
          - score: {name: risk, model: credit-risk, inputs: {amount: {path: data.loan.amount}}}
          - publish: {type: com.acme.ai.AiAssessmentCompleted, routing_key: ai.assessment.completed}

Every model forbids unknown keys, so a typo is an error that names its path.
"""

from __future__ import annotations

from typing import Any, Literal

from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from outrigger.config.fields import KINDS, UNITS, valid_path

NAME_PATTERN = r"^[a-z0-9][a-z0-9._-]*$"


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class FieldSpec(Strict):
    path: str
    type: Literal["float", "int", "str", "bool"] = "float"
    default: float | int | str | bool | None = None
    unit: str | None = None
    scale: float | None = None
    values: dict[str, float | int | str | bool] | None = None
    lower: bool = False

    @field_validator("path")
    @classmethod
    def _path(cls, value: str) -> str:
        if not valid_path(value):
            raise ValueError(
                f"not a valid path: {value!r} (use dotted names like data.loan.amount)"
            )
        return value

    @field_validator("unit")
    @classmethod
    def _unit(cls, value: str | None) -> str | None:
        if value is not None and value not in UNITS:
            raise ValueError(f"unknown unit {value!r}; known: {', '.join(sorted(UNITS))}")
        return value

    @model_validator(mode="after")
    def _numeric_only(self) -> FieldSpec:
        if (self.unit or self.scale is not None) and self.type not in ("float", "int"):
            raise ValueError(f"unit/scale apply to numbers, not to type {self.type!r}")
        assert self.type in KINDS
        return self


class LabelRule(Strict):
    """``below`` is exclusive; the last rule may omit it to catch everything else."""

    label: str
    below: float | None = None


class ScoreStep(Strict):
    name: str = Field(pattern=r"^[a-z_][a-z0-9_]*$")
    model: str
    inputs: dict[str, FieldSpec] = Field(min_length=1)
    output: str = "probabilities"
    index: int = Field(default=1, ge=0)
    labels: list[LabelRule] = []

    @field_validator("labels")
    @classmethod
    def _ordered(cls, rules: list[LabelRule]) -> list[LabelRule]:
        bounds = [r.below for r in rules]
        if any(b is None for b in bounds[:-1]):
            raise ValueError("only the last label rule may omit 'below'")
        numeric = [b for b in bounds if b is not None]
        if numeric != sorted(numeric):
            raise ValueError("label rules must be in increasing order of 'below'")
        return rules


class PublishStep(Strict):
    type: str = Field(min_length=1)
    routing_key: str = Field(min_length=1)
    exchange: str | None = None
    source: str = "urn:outrigger"
    mode: Literal["structured", "binary"] = "structured"
    data: dict[str, str] = {}
    result_schema: dict[str, Any] | None = Field(default=None, alias="schema")

    @field_validator("data")
    @classmethod
    def _paths(cls, fields: dict[str, str]) -> dict[str, str]:
        for name, path in fields.items():
            if not valid_path(path):
                raise ValueError(f"data.{name}: not a valid path: {path!r}")
        return fields

    @field_validator("result_schema")
    @classmethod
    def _schema(cls, schema: dict[str, Any] | None) -> dict[str, Any] | None:
        if schema is not None:
            try:
                Draft202012Validator.check_schema(schema)
            except SchemaError as exc:
                raise ValueError(f"not a valid JSON Schema: {exc.message}") from exc
        return schema


class LlmStep(Strict):
    """A call through the LLM proxy. ``system`` and ``instruction`` are fixed text from this
    file; the event's ``inputs`` (name -> payload path) go only into the user message, each
    fenced as data. The tenant comes from the event (``tenant_path``)."""

    name: str = Field(pattern=r"^[a-z_][a-z0-9_]*$")
    model: str = "chat-default"  # a model alias of the proxy
    feature: str | None = None  # default: the pipeline's name
    tenant_path: str = "data.tenant_id"
    tenant_default: str | None = None  # used when the event carries no tenant
    system: str = Field(min_length=1)
    instruction: str = ""
    inputs: dict[str, str] = Field(min_length=1)
    max_tokens: int = Field(default=256, ge=1, le=8192)
    temperature: float = Field(default=0.0, ge=0, le=2)
    output_schema: dict[str, Any] | None = Field(default=None, alias="schema")
    repair: bool = True  # one retry with the validation errors before dead-lettering
    #: Text published instead of an answer the proxy withheld (it repeated the prompt's
    #: structure after a repair, say); None: such an event is dead-lettered. Text steps only.
    fallback: str | None = Field(default=None, min_length=1)

    @model_validator(mode="after")
    def _fallback_is_text(self) -> LlmStep:
        if self.fallback is not None and self.output_schema is not None:
            raise ValueError("fallback is for text answers; a step with a schema has none")
        return self

    @field_validator("inputs")
    @classmethod
    def _paths(cls, fields: dict[str, str]) -> dict[str, str]:
        return PublishStep._paths(fields)

    @field_validator("output_schema")
    @classmethod
    def _schema(cls, schema: dict[str, Any] | None) -> dict[str, Any] | None:
        return PublishStep._schema(schema)


#: Namespaces an ``embed`` step may not use: the response cache's (``cache.<tenant>``).
RESERVED_NAMESPACES = frozenset({"cache"})
#: Payload keys an ``embed`` step writes itself beside the declared metadata.
EMBED_PAYLOAD_KEYS = ("text", "tenant", "event_id", "event_type")


class EmbedStep(Strict):
    """Embeds one text field of the event and upserts the vector into the vector store
    namespace ``<namespace>.<tenant>`` (one per tenant: a search never crosses tenants),
    with ``metadata`` (name -> payload path) stored beside it. The vector id is the value
    at ``id_path`` (default: the event id), so a redelivered event replaces its vector."""

    name: str = Field(pattern=r"^[a-z_][a-z0-9_]*$")
    text: str  # the payload path of the text, e.g. data.body
    namespace: str = Field(default="docs", pattern=r"^[a-z0-9][a-z0-9_-]{0,30}$")
    id_path: str | None = None
    metadata: dict[str, str] = {}
    tenant_path: str = "data.tenant_id"
    tenant_default: str | None = None  # used when the event carries no tenant
    store_text: bool = True  # keep the text in the payload (for retrieval)

    @field_validator("text", "id_path", "tenant_path")
    @classmethod
    def _path(cls, value: str | None) -> str | None:
        if value is not None and not valid_path(value):
            raise ValueError(f"not a valid path: {value!r} (use dotted names like data.body)")
        return value

    @field_validator("metadata")
    @classmethod
    def _fields(cls, fields: dict[str, str]) -> dict[str, str]:
        for name, path in fields.items():
            if name in EMBED_PAYLOAD_KEYS:
                raise ValueError(f"metadata.{name}: reserved ({', '.join(EMBED_PAYLOAD_KEYS)})")
            if not valid_path(path):
                raise ValueError(f"metadata.{name}: not a valid path: {path!r}")
        return fields

    @field_validator("namespace")
    @classmethod
    def _not_reserved(cls, value: str) -> str:
        if value in RESERVED_NAMESPACES:
            raise ValueError(f"namespace {value!r} is reserved for the response cache")
        return value


STEP_KINDS = ("score", "llm", "embed", "publish")


class StepSpec(Strict):
    score: ScoreStep | None = None
    llm: LlmStep | None = None
    embed: EmbedStep | None = None
    publish: PublishStep | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> StepSpec:
        kinds = [k for k in STEP_KINDS if getattr(self, k) is not None]
        if len(kinds) != 1:
            raise ValueError(f"each step must be exactly one of: {', '.join(STEP_KINDS)}")
        return self

    @property
    def name(self) -> str | None:
        step = self.score or self.llm or self.embed
        return step.name if step is not None else None


class OnSpec(Strict):
    types: list[str] = []
    routing_keys: list[str] = []

    @model_validator(mode="after")
    def _something(self) -> OnSpec:
        if not self.types and not self.routing_keys:
            raise ValueError("give at least one event type pattern or routing key pattern")
        return self


class PlainSpec(Strict):
    type_field: str
    id_field: str | None = None


class PipelineSpec(Strict):
    name: str = Field(pattern=NAME_PATTERN)
    version: int | str = 1
    description: str = ""
    on: OnSpec
    plain: PlainSpec | None = None
    input_schema: dict[str, Any] | None = None
    steps: list[StepSpec] = Field(min_length=1)

    @field_validator("input_schema")
    @classmethod
    def _schema(cls, schema: dict[str, Any] | None) -> dict[str, Any] | None:
        return PublishStep._schema(schema)

    @model_validator(mode="after")
    def _ends_with_publish(self) -> PipelineSpec:
        publishes = [i for i, s in enumerate(self.steps) if s.publish is not None]
        if publishes != [len(self.steps) - 1]:
            raise ValueError("a pipeline has exactly one publish step, and it comes last")
        names = [s.name for s in self.steps if s.name is not None]
        if len(names) != len(set(names)):
            raise ValueError("step names must be unique within a pipeline")
        return self


class ModelSpec(Strict):
    """Either ``path``: a model directory (with ``model.onnx`` and ``metadata.json``), relative
    to the pipelines file, absolute, or ``bundled:...`` for models shipped in the package; or
    ``registry``: a model name in the model registry, at ``ref`` (a version or an alias; the
    environment variable ``OUTRIGGER_MODELS__<NAME>`` overrides it). Registry models follow
    alias changes without a restart."""

    path: str | None = None
    registry: str | None = None
    ref: str = "stable"

    @model_validator(mode="after")
    def _one_source(self) -> ModelSpec:
        if (self.path is None) == (self.registry is None):
            raise ValueError("give exactly one of 'path' or 'registry'")
        return self


class PipelinesFile(Strict):
    models: dict[str, ModelSpec] = {}
    pipelines: list[PipelineSpec] = Field(min_length=1)

    @model_validator(mode="after")
    def _references(self) -> PipelinesFile:
        names = [p.name for p in self.pipelines]
        if len(names) != len(set(names)):
            raise ValueError("pipeline names must be unique")
        for p in self.pipelines:
            for step in p.steps:
                if step.score is not None and step.score.model not in self.models:
                    raise ValueError(
                        f"pipeline {p.name!r} uses model {step.score.model!r}, "
                        f"which is not declared under 'models'"
                    )
        return self
