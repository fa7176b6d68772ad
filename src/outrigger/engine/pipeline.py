"""Compiled pipelines: the declarative spec bound to loaded models, ready to run."""

from __future__ import annotations

import fnmatch
from collections.abc import Awaitable, Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import cached_property
from pathlib import Path

from opentelemetry.trace import NoOpTracer, SpanKind, Tracer

from outrigger.bus.base import BusMessage
from outrigger.bus.topics import any_topic_matches
from outrigger.config.load import ConfigProblems, resolve_model_path
from outrigger.config.pipelines import ModelSpec, PipelinesFile, PipelineSpec, StepSpec
from outrigger.engine.envelope import Event, PlainRule
from outrigger.engine.results import result_id
from outrigger.engine.steps.base import Batching, Step, StepContext
from outrigger.engine.steps.embed import EmbedRunner, VectorTarget
from outrigger.engine.steps.llm import LlmClient, LlmRunner, UnconnectedLlm
from outrigger.engine.steps.publish import PublishRunner
from outrigger.engine.steps.score import ScoreRunner
from outrigger.errors import ConfigError, MalformedEvent, OutriggerError
from outrigger.inference.base import Scorer
from outrigger.privacy.persist import PersistedVaults
from outrigger.privacy.sanitize import EventSanitizer
from outrigger.telemetry.tracing import current_headers, span, tracing_on
from outrigger.validation import SchemaCheck

#: (model name in the file, its spec, the pipelines file's directory) -> a loaded model
ModelLoader = Callable[[str, ModelSpec, Path], Scorer]
#: Publishes a result: the message and the exchange its publish step names (None: the
#: deployment's result exchange).
Send = Callable[[BusMessage, str | None], Awaitable[None]]
NO_TRACER = NoOpTracer()  # stateless
#: (model name, rows in one model call): the model batch-size metric
OnBatch = Callable[[str, int], None]


@dataclass
class Pipeline:
    spec: PipelineSpec
    #: The score, llm and embed steps in the order the file declares them.
    steps: list[Step]
    publish: PublishRunner
    input_validator: SchemaCheck | None = None
    #: Declared sensitive fields are dropped, masked, hashed or pseudonymised, and free
    #: text pseudonymised, before any step sees the event (so results carry no raw PII).
    sanitizer: EventSanitizer | None = None
    #: Where the vault of a sanitised event is kept (sealed, expiring) under the result
    #: event's id, so those allowed can restore its placeholders later.
    vaults: PersistedVaults | None = None

    @property
    def scores(self) -> list[ScoreRunner]:
        """The steps that score with an ONNX model (the registry swaps their models)."""
        return [s for s in self.steps if isinstance(s, ScoreRunner)]

    @property
    def llm_models(self) -> list[str]:
        return [s.spec.model for s in self.steps if isinstance(s, LlmRunner)]

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def label(self) -> str:
        return f"{self.spec.name}@{self.spec.version}"

    def matches(self, event: Event, routing_key: str) -> bool:
        on = self.spec.on
        if on.types and not any(fnmatch.fnmatchcase(event.type, p) for p in on.types):
            return False
        return not on.routing_keys or any_topic_matches(on.routing_keys, routing_key)

    def result_id(self, event: Event) -> str:
        return result_id(event.id, self.spec.name, self.spec.version)

    def check_input(self, event: Event) -> None:
        if self.input_validator is None:
            return
        if self.input_validator.is_valid(event.data):  # the fast path; errors only on failure
            return
        error = next(iter(self.input_validator.iter_errors(event.data)), None)
        if error is not None:
            where = "/".join(str(p) for p in error.path) or "(data)"
            raise MalformedEvent("invalid_payload", f"event data at {where}: {error.message}")

    async def sanitized(self, event: Event, rid: str) -> Event:
        if self.sanitizer is None or not isinstance(event.data, Mapping):
            return event
        done = self.sanitizer.sanitize(event.type, event.data)
        if self.vaults is not None and len(done.vault):
            await self.vaults.save(rid, done.vault)
        return replace(event, data=done.payload)

    async def run(
        self,
        event: Event,
        routing_key: str,
        send: Send | None = None,
        tracer: Tracer | None = None,
        rid: str | None = None,
    ) -> BusMessage:
        """Run every step for one event, build the result event and ``send`` it (inside the
        publish span, whose trace context the result carries). Returns the result; ``rid``
        is its id when the caller already derived it (``result_id``)."""
        self.check_input(event)
        rid = rid or self.result_id(event)
        ctx = StepContext(await self.sanitized(event, rid), routing_key)
        for step in self.steps:
            await step(ctx, tracer or NO_TRACER)
        if not tracing_on(tracer):  # no span: the result carries the cause's trace
            return await self._publish(ctx, rid, send, None)
        spec = self.publish.spec
        attributes = {
            "messaging.operation.type": "publish",
            "messaging.destination.name": spec.routing_key,
            "cloudevents.event_type": spec.type,
        }
        with span(tracer, f"publish {spec.type}", kind=SpanKind.PRODUCER, attributes=attributes):
            return await self._publish(ctx, rid, send, current_headers() or None)

    async def _publish(
        self, ctx: StepContext, rid: str, send: Send | None, trace: dict[str, str] | None
    ) -> BusMessage:
        result = self.publish.build(ctx, rid, trace)
        if send is not None:
            await send(result, self.publish.spec.exchange)
        return result


class PipelineSet:
    def __init__(self, pipelines: Sequence[Pipeline]) -> None:
        self.pipelines = list(pipelines)

    def match(self, event: Event, routing_key: str) -> Pipeline | None:
        return next((p for p in self.pipelines if p.matches(event, routing_key)), None)

    @cached_property  # read for every event; the pipelines never change after start-up
    def plain_rules(self) -> list[PlainRule]:
        rules = {
            PlainRule(p.spec.plain.type_field, p.spec.plain.id_field)
            for p in self.pipelines
            if p.spec.plain is not None
        }
        return sorted(rules, key=lambda r: (r.type_field, r.id_field or ""))

    def bindings(self) -> tuple[str, ...]:
        """Routing-key patterns to bind Outrigger's queue with ('#' if any pipeline has none)."""
        keys: list[str] = []
        for p in self.pipelines:
            if not p.spec.on.routing_keys:
                return ("#",)
            keys.extend(k for k in p.spec.on.routing_keys if k not in keys)
        return tuple(keys)

    def result_keys(self) -> tuple[str, ...]:
        """The routing keys the pipelines publish their results with."""
        return tuple(dict.fromkeys(p.publish.spec.routing_key for p in self.pipelines))

    def result_destinations(self, default_exchange: str) -> tuple[tuple[str, str], ...]:
        """``(exchange, routing key)`` of every pipeline's results: its publish step's
        exchange, else ``default_exchange`` (the deployment's result exchange)."""
        return tuple(
            dict.fromkeys(
                (p.publish.spec.exchange or default_exchange, p.publish.spec.routing_key)
                for p in self.pipelines
            )
        )

    def routing_key_for(self, event_type: str) -> tuple[str, Pipeline] | None:
        """A routing key that delivers an event of ``event_type`` to its pipeline: the
        first literal key (no ``*`` or ``#``) of the first pipeline whose ``on.types``
        match; None when no pipeline names the type or only by patterns."""
        for p in self.pipelines:
            types = p.spec.on.types
            if not any(fnmatch.fnmatchcase(event_type, t) for t in types):
                continue
            for key in p.spec.on.routing_keys:
                if not {"*", "#"} & set(key.split(".")):
                    return key, p
        return None

    def models(self) -> dict[str, str]:
        return {s.model.name: s.model.version for p in self.pipelines for s in p.scores}

    def runners(self, model_name: str) -> list[ScoreRunner]:
        return [s for p in self.pipelines for s in p.scores if s.spec.model == model_name]


def load_onnx(name: str, spec: ModelSpec, base_dir: Path) -> Scorer:
    """Models given by path; registry models need the runtime's registry loader."""
    from outrigger.inference.onnx import OnnxModel

    if spec.path is None:
        raise ConfigError("a registry model needs a configured model registry")
    return OnnxModel.load(resolve_model_path(spec.path, base_dir), name=name)


@dataclass
class StepFactory:
    """Builds each declared step with what it needs; problems are collected, not raised,
    so one ``config check`` reports them all."""

    models: Mapping[str, Scorer]
    batching: Batching | None = None
    llm: LlmClient | None = None
    llm_aliases: Collection[str] | None = None
    vectors: VectorTarget | None = None
    on_batch: OnBatch | None = None
    problems: list[str] = field(default_factory=list)

    def build(self, where: str, pipeline: str, step: StepSpec) -> Step | None:
        if step.llm is not None:
            aliases = self.llm_aliases
            if aliases is not None and step.llm.model not in aliases:
                self.problems.append(
                    f"{where}.llm.model: no model alias {step.llm.model!r} in llm.aliases "
                    f"({', '.join(sorted(aliases))})"
                )
            company = self.batching.company if self.batching is not None else None
            return LlmRunner(step.llm, pipeline, self.llm or UnconnectedLlm(), company)
        if step.embed is not None:
            return EmbedRunner(step.embed, self.vectors, self.batching, pipeline)
        if step.score is not None and step.score.model in self.models:
            model = self.models[step.score.model]
            try:
                return ScoreRunner(step.score, model, self.batching, self.on_batch)
            except ConfigError as exc:
                self.problems.append(f"{where}.score.inputs: {exc}")
        return None  # publish (built apart), or a score step whose model failed to load


def load_models_of(
    spec: PipelinesFile, base_dir: Path, loader: ModelLoader, problems: list[str]
) -> dict[str, Scorer]:
    models: dict[str, Scorer] = {}
    for name, model in spec.models.items():
        try:
            models[name] = loader(name, model, base_dir)
        except (OutriggerError, OSError, RuntimeError) as exc:
            where = "path" if model.path is not None else "registry"
            problems.append(f"models.{name}.{where}: cannot load model: {exc}")
    return models


def compile_pipelines(
    spec: PipelinesFile,
    base_dir: Path,
    loader: ModelLoader = load_onnx,
    batching: Batching | None = None,
    llm: LlmClient | None = None,
    llm_aliases: Collection[str] | None = None,
    vectors: VectorTarget | None = None,
    sanitizer: EventSanitizer | None = None,
    vaults: PersistedVaults | None = None,
    on_batch: OnBatch | None = None,
) -> PipelineSet:
    """Load every model once and bind it to its steps; every problem names its key path."""
    problems: list[str] = []
    models = load_models_of(spec, base_dir, loader, problems)
    factory = StepFactory(models, batching, llm, llm_aliases, vectors, on_batch, problems)
    pipelines = []
    for i, p in enumerate(spec.pipelines):
        built = [
            factory.build(f"pipelines[{i}].steps[{j}]", p.name, s) for j, s in enumerate(p.steps)
        ]
        publish = p.steps[-1].publish
        assert publish is not None  # guaranteed by PipelineSpec validation
        validator = SchemaCheck(p.input_schema) if p.input_schema else None
        steps = [s for s in built if s is not None]
        runner = PublishRunner(publish, p.name, p.version)
        pipelines.append(Pipeline(p, steps, runner, validator, sanitizer, vaults))
    if problems:
        raise ConfigProblems("pipelines", problems)
    return PipelineSet(pipelines)
