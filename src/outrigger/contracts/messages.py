"""The messages of one pipeline (what it receives, what it publishes) and the dead letter.

Input: a structured CloudEvent (the whole event in the body), a binary one (attributes in
headers, the data in the body) and, with ``plain``, a plain JSON object; the data follows the
pipeline's ``input_schema``. Result: one CloudEvent in the publish step's mode, built by the
engine's own ``encode_result`` from sample causes, so its attributes and headers are exactly
what the worker sends; its data is the publish step's ``schema`` and the fields Outrigger adds
(taken from ``PublishRunner.payload``). Dead letter: built by ``bus.letters.encode_letter``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from outrigger.bus.base import REPLAYED_FROM_HEADER, ROUTING_KEY_HEADER, BusMessage, DeadLetter
from outrigger.bus.letters import encode_letter
from outrigger.config.pipelines import PipelineSpec, PublishStep
from outrigger.contracts.headers import (
    CE_PREFIX,
    CLOUDEVENT,
    Overrides,
    headers_schema,
    wire_name,
)
from outrigger.contracts.schemas import draft07_compatible, nested, payload
from outrigger.contracts.wire import CONTENT_TYPE, MESSAGE_ID, ROUTING_KEY
from outrigger.engine.envelope import (
    PARTITION_KEY,
    STRUCTURED_CONTENT_TYPE,
    TRACE_HEADERS,
    CloudEventModel,
    Event,
)
from outrigger.engine.results import encode_result
from outrigger.engine.steps.base import StepContext
from outrigger.engine.steps.publish import PublishRunner

#: Result attributes whose value the pipeline fixes.
_RESULT_CONSTS = ("specversion", "type", "source", "datacontenttype")
RESULT_ID = "Deterministic: the same event through the same pipeline version gets the same id."
ANY_DATA: dict[str, Any] = {
    "description": "Any JSON value: the pipeline declares no schema for it.",
}
#: What Outrigger adds to every result's data (the keys come from ``PublishRunner.payload``).
ADDED: dict[str, dict[str, Any]] = {
    "source_event_id": {"type": "string", "description": "The id of the event it answers."},
    "pipeline": {"type": "string", "description": "The pipeline's name."},
    "pipeline_version": {"type": "string", "description": "The pipeline's version."},
    "models": {
        "type": "array",
        "description": "Each model the steps used, with its exact version.",
        "items": {
            "type": "object",
            "required": ["name", "version"],
            "properties": {"name": {"type": "string"}, "version": {"type": "string"}},
        },
    },
    "latency_ms": {"type": "number", "description": "Processing time in milliseconds."},
    "flags": {
        "type": "array",
        "items": {"type": "string"},
        "description": "Marks the guardrails set on the event's LLM calls (`injection`); "
        "present only when there is one.",
    },
}


@dataclass
class Built:
    """Messages and schemas for ``components``, and the messages each channel carries."""

    schemas: dict[str, Any] = field(default_factory=dict)
    messages: dict[str, Any] = field(default_factory=dict)


def literal_types(spec: PipelineSpec) -> list[str] | None:
    """The event types when ``on.types`` names them without glob patterns."""
    types = spec.on.types
    if not types or any(set("*?[") & set(t) for t in types):
        return None
    return list(types)


def _type_schema(spec: PipelineSpec) -> dict[str, Any]:
    schema = dict(CLOUDEVENT["type"])
    types = literal_types(spec)
    if types is not None:
        schema.update({"const": types[0]} if len(types) == 1 else {"enum": types})
    elif spec.on.types:
        schema["description"] = "An event type matching " + ", ".join(
            f"`{t}`" for t in spec.on.types
        )
    return schema


class PipelineMessages:
    """The messages of ``spec`` on a ``kind`` bus, added to ``built``."""

    def __init__(self, spec: PipelineSpec, kind: str, built: Built) -> None:
        self.spec, self.kind, self.built = spec, kind, built
        publish = spec.steps[-1].publish
        assert publish is not None  # PipelineSpec: exactly one publish step, the last
        self.publish = publish

    def _data(self, schema_id: str, schema: dict[str, Any] | None) -> tuple[Any, bool]:
        """A reference to the data schema in ``components`` (or the schema itself, when it
        needs the 2020-12 dialect), and whether it is Draft 07 compatible."""
        if schema is None:
            schema = ANY_DATA
        if draft07_compatible(schema):
            self.built.schemas[schema_id] = schema
            return {"$ref": f"#/components/schemas/{schema_id}"}, True
        return schema, False

    def _message(self, key: str, body: dict[str, Any]) -> str:
        self.built.messages[key] = body
        return key

    def inputs(self, bindings: dict[str, Any]) -> list[str]:
        """The component ids of the messages the pipeline receives."""
        name, spec = self.spec.name, self.spec
        data, ok = self._data(f"{name}.input", spec.input_schema)
        title = " or ".join(spec.on.types) or "any event"
        types = literal_types(spec)
        common: dict[str, Any] = {"title": title}
        if types is not None and len(types) == 1:
            common["name"] = types[0]
        if bindings:
            common["bindings"] = bindings
        keys = [
            self._message(f"{name}.input.structured", {**common, **self._structured(data, ok)}),
            self._message(f"{name}.input.binary", {**common, **self._binary(data, ok)}),
        ]
        if spec.plain is not None:
            keys.append(self._message(f"{name}.input.plain", {**common, **self._plain(data, ok)}))
        return keys

    def _structured(self, data: Any, ok: bool) -> dict[str, Any]:
        props: dict[str, Any] = {}
        for attr in CloudEventModel.model_fields:
            props[attr] = dict(CLOUDEVENT.get(attr, {"type": "string"}))
        props.update(specversion={**props["specversion"], "const": "1.0"}, type=self._type())
        props["data"] = data if ok else nested(data, "#/properties/data")
        props["data_base64"] = {
            "type": "string",
            "description": "The data, base64 (instead of `data`), decoded by `datacontenttype`.",
        }
        props.update({t: dict(CLOUDEVENT[t]) for t in TRACE_HEADERS})
        required = [a for a, f in CloudEventModel.model_fields.items() if f.is_required()]
        envelope = {"type": "object", "required": required, "properties": props}
        return {
            "summary": "A structured-mode CloudEvent: the whole event is the JSON body.",
            "contentType": STRUCTURED_CONTENT_TYPE,
            "payload": payload(envelope, compatible=ok),
            **self._headers([self._input_sample("structured", full=f) for f in (False, True)], {}),
        }

    def _type(self) -> dict[str, Any]:
        return _type_schema(self.spec)

    def _input_sample(self, mode: str, *, full: bool) -> BusMessage:
        """What a domain service may send: the required attributes (binary mode), or every
        attribute, the trace headers and a content type (optional, in every mode)."""
        attrs = ["specversion", "id", "source", "type"]
        if full:
            attrs += ["subject", "time", "datacontenttype", "dataschema", PARTITION_KEY]
        headers = {f"{CE_PREFIX}{a}": a for a in attrs} if mode == "binary" else {}
        if full:
            headers.update(
                {t: t for t in (*TRACE_HEADERS, ROUTING_KEY_HEADER, REPLAYED_FROM_HEADER)}
            )
        content = {"structured": STRUCTURED_CONTENT_TYPE}.get(mode, "application/json")
        return BusMessage(b"{}", "key", headers, None, content if full else None)

    def _headers(
        self, samples: list[BusMessage], overrides: Overrides, *, incoming: bool = True
    ) -> dict[str, Any]:
        # SQS: a service that sends straight to the queue gives the routing key in
        # ``x-outrigger-routing-key`` instead of the publisher's own attribute.
        optional = frozenset({ROUTING_KEY}) if incoming and self.kind == "sqs" else frozenset()
        schema = headers_schema(self.kind, samples, overrides, optional)
        return {} if schema is None else {"headers": schema}

    def _binary(self, data: Any, ok: bool) -> dict[str, Any]:
        samples = [self._input_sample("binary", full=f) for f in (False, True)]
        consts: dict[str, Any] = {f"{CE_PREFIX}specversion": {"const": "1.0"}}
        type_schema = self._type()
        if "const" in type_schema:
            consts[f"{CE_PREFIX}type"] = {"const": type_schema["const"]}
        return {
            "summary": "A binary-mode CloudEvent: attributes in headers, the data in the body "
            "(JSON for `application/json` and `+json` types, else text).",
            "contentType": "application/json",
            "payload": payload(data, compatible=ok),
            **self._headers(samples, consts),
        }

    def _plain(self, data: Any, ok: bool) -> dict[str, Any]:
        plain = self.spec.plain
        assert plain is not None
        fields: dict[str, Any] = {plain.type_field: {**self._type(), "minLength": 1}}
        required = [plain.type_field]
        if plain.id_field is not None:
            fields[plain.id_field] = {"type": ["string", "integer"], "description": "The id."}
            required.append(plain.id_field)
        own = {"type": "object", "required": required, "properties": fields}
        body = {"allOf": [own, data if ok else nested(data, "#/allOf/1")]}
        return {
            "summary": f"Plain JSON (no CloudEvents envelope): the type in `{plain.type_field}`"
            + (
                f", the id in `{plain.id_field}`."
                if plain.id_field
                else "; the id is the SHA-256 of the bytes."
            ),
            "contentType": "application/json",
            "payload": payload(body, compatible=ok),
            **self._headers([self._input_sample("plain", full=f) for f in (False, True)], {}),
        }

    def result(self, bindings: dict[str, Any]) -> str:
        """The component id of the result message."""
        name, publish = self.spec.name, self.publish
        data, ok = self._data(f"{name}.result", self._result_data())
        samples = [_result_sample(publish, full=f) for f in (False, True)]
        overrides: dict[str, Any] = {
            ROUTING_KEY: {"const": publish.routing_key},
            CONTENT_TYPE: {"const": samples[0].content_type},
            MESSAGE_ID: {"description": f"The result's CloudEvent id. {RESULT_ID}"},
            f"{CE_PREFIX}id": {"description": RESULT_ID},
        }
        body: dict[str, Any] = {
            "name": publish.type,
            "title": publish.type,
            "summary": f"The result event, a {publish.mode}-mode CloudEvent. {RESULT_ID}",
            "contentType": samples[0].content_type,
        }
        if publish.mode == "structured":
            body.update(self._structured_result(samples, data, ok))
        else:
            body.update(self._binary_result(samples, data, ok, overrides))
        body.update(self._headers(samples, overrides, incoming=False))
        if bindings:
            body["bindings"] = bindings
        return self._message(f"{name}.result", body)

    def _structured_result(self, samples: list[BusMessage], data: Any, ok: bool) -> dict[str, Any]:
        """The envelope's attributes are the keys ``encode_result`` wrote: those of the
        plainest cause are required, those only a richer cause adds are optional."""
        envelope = json.loads(samples[0].body)
        keys = {k for s in samples for k in json.loads(s.body)}
        props = {k: dict(CLOUDEVENT[k]) for k in sorted(keys - {"data"})}
        props["id"]["description"] = RESULT_ID
        for k in _RESULT_CONSTS:
            props[k]["const"] = envelope[k]
        props["data"] = data if ok else nested(data, "#/properties/data")
        schema = {"type": "object", "required": sorted(envelope), "properties": props}
        return {
            "payload": payload(schema, compatible=ok),
            "correlationId": {"location": "$message.payload#/correlationid"},
        }

    def _binary_result(
        self, samples: list[BusMessage], data: Any, ok: bool, overrides: dict[str, Any]
    ) -> dict[str, Any]:
        for k in _RESULT_CONSTS:
            overrides[f"{CE_PREFIX}{k}"] = {"const": samples[0].headers[f"{CE_PREFIX}{k}"]}
        out: dict[str, Any] = {"payload": payload(data, compatible=ok)}
        wire = wire_name(self.kind, samples, f"{CE_PREFIX}correlationid")
        if wire is not None:  # on SQS it may fold into the JSON attribute: no fixed place
            out["correlationId"] = {"location": f"$message.header#/{_escape(wire)}"}
        return out

    def _result_data(self) -> dict[str, Any]:
        ctx = StepContext(Event("id", "type", "source", {}, "structured"), "key")
        runner = PublishRunner(self.publish, self.spec.name, self.spec.version)
        plain_keys = runner.payload(ctx)
        ctx.flags.append("flag")
        props: dict[str, Any] = {}
        for key in runner.payload(ctx):
            if key in self.publish.data:
                props[key] = {"description": f"From `{self.publish.data[key]}` (null if absent)."}
            else:
                props[key] = dict(ADDED[key])
        props["pipeline"]["const"] = self.spec.name
        props["pipeline_version"]["const"] = str(self.spec.version)
        added = {"type": "object", "required": list(plain_keys), "properties": props}
        declared = self.publish.result_schema
        return added if declared is None else {"allOf": [declared, added]}


def _escape(name: str) -> str:
    return name.replace("~", "~0").replace("/", "~1")


def _result_sample(publish: PublishStep, *, full: bool) -> BusMessage:
    """A result as the worker builds it, for a plain cause or (``full``) one with a subject,
    a partition key and a trace context."""
    extra: dict[str, Any] = {}
    if full:
        extra = {
            "subject": "subject",
            "extensions": {PARTITION_KEY: "key"},
            "trace": {t: t for t in TRACE_HEADERS},
        }
    cause = Event("cause", "type", "source", {}, "structured", **extra)
    return encode_result(
        event_id="id",
        event_type=publish.type,
        source=publish.source,
        routing_key=publish.routing_key,
        data={},
        cause=cause,
        mode=publish.mode,
    )


def dead_letter_message(kind: str, queue: str, bindings: dict[str, Any]) -> dict[str, Any]:
    """The dead letter: the original bytes and headers plus the reason headers."""
    samples = []
    for n in (0, 12):  # 12 domain headers: past SQS's 10 attributes, what folds shows
        original = BusMessage(b"", "key", {f"x-domain-{i}": "v" for i in range(n)}, "id", "t")
        samples.append(encode_letter(DeadLetter(original, "code", "why", 1, queue, "p"), queue))
    body: dict[str, Any] = {
        "name": "DeadLetter",
        "title": "Dead letter",
        "summary": "A message Outrigger could not handle, with the reason.",
        "description": "The body is the original message's bytes as they arrived (possibly "
        "not JSON, not UTF-8, or a whole CloudEvent); the original headers are kept beside the "
        "reason headers.",
        "payload": {"description": "The original body, unchanged."},
    }
    schema = headers_schema(kind, samples, {})
    if schema is not None:
        body["headers"] = schema
    if bindings:
        body["bindings"] = bindings
    return body
