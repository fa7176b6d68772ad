"""``outrigger asyncapi``'s document: valid AsyncAPI 3.0.0 for every broker kind, with the
addresses the bus really uses, the pipelines' schemas as payloads, and no credentials.

Validity is checked against the official JSON Schema (tests/data/asyncapi/, offline). The
addresses are compared with the names the bus objects themselves compute (``open_bus`` builds
them unstarted: no broker is contacted)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from jsonschema import Draft202012Validator

from outrigger.bus.base import BusMessage, Subscription
from outrigger.bus.kinds import KINDS
from outrigger.bus.registry import open_bus
from outrigger.bus.settings import BusSettings
from outrigger.config.load import default_pipelines_file, load_pipelines, parse_pipelines
from outrigger.config.pipelines import PipelinesFile
from outrigger.config.settings import Settings
from outrigger.contracts import asyncapi_document
from outrigger.contracts.schemas import DRAFT_2020_12
from outrigger.engine.envelope import Event
from outrigger.engine.pipeline import Pipeline, PipelineSet
from outrigger.engine.results import encode_result
from outrigger.engine.steps.base import StepContext
from outrigger.engine.steps.publish import PublishRunner
from outrigger.errors import ConfigError
from outrigger.runtime.loading import subscription
from outrigger.survey import survey_document
from tests.asyncapi_schema import asyncapi_errors

pytestmark = pytest.mark.timeout(60)

ROOT = Path(__file__).resolve().parents[2]
#: The example pipelines shipped with Outrigger: the bundled demo and the Helm chart's.
EXAMPLES = [default_pipelines_file(), ROOT / "deploy/helm/outrigger/files/pipelines.yaml"]
SECRET = "s3cr3t-Pa55"


def doc_for(spec: PipelinesFile, kind: str, tmp_path: Path, **bus: Any) -> dict[str, Any]:
    return asyncapi_document(spec, BusSettings(kind=kind, **bus), data_dir=tmp_path)


def pipelines_of(text: str) -> PipelinesFile:
    return parse_pipelines(text, "test.yaml")


def pipeline_set(spec: PipelinesFile) -> PipelineSet:
    """The worker's view of the file (bindings, result keys) without loading any model."""
    return PipelineSet(
        [
            Pipeline(p, [], PublishRunner(p.steps[-1].publish, p.name, p.version))  # type: ignore[arg-type]
            for p in spec.pipelines
        ]
    )


@pytest.mark.parametrize("kind", list(KINDS))
@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.parent.name)
def test_examples_are_valid_asyncapi_on_every_broker(
    kind: str, example: Path, tmp_path: Path
) -> None:
    doc = doc_for(load_pipelines(example), kind, tmp_path)
    assert doc["asyncapi"] == "3.0.0"
    assert asyncapi_errors(doc) == []
    assert list(doc["servers"]) in ([kind], ["kafka"])


@pytest.mark.parametrize(
    "break_it",
    [
        lambda d: d["operations"]["sendDeadLetter"].update(action="publish"),
        lambda d: d["info"].pop("version"),
        lambda d: d["channels"]["deadLetters"].update(address=42),
        lambda d: d["servers"]["rabbitmq"].pop("protocol"),
        lambda d: d["channels"]["deadLetters"]["bindings"]["amqp"].update(**{"is": "exchange"}),
        lambda d: d["components"]["messages"]["deadLetter"].update(payload="bytes"),
    ],
    ids=["action", "info.version", "address", "server.protocol", "amqp.is", "payload"],
)
def test_validator_rejects_a_broken_document(break_it: Any, tmp_path: Path) -> None:
    doc = doc_for(load_pipelines(default_pipelines_file()), "rabbitmq", tmp_path)
    assert asyncapi_errors(doc) == []
    break_it(doc)
    assert asyncapi_errors(doc), "the validator accepted a broken document"


def test_input_schema_is_the_payload(tmp_path: Path) -> None:
    spec = load_pipelines(default_pipelines_file())
    doc = doc_for(spec, "kafka", tmp_path)
    pipeline = spec.pipelines[0]
    schemas, messages = doc["components"]["schemas"], doc["components"]["messages"]
    assert schemas[f"{pipeline.name}.input"] == pipeline.input_schema
    ref = {"$ref": f"#/components/schemas/{pipeline.name}.input"}
    assert messages[f"{pipeline.name}.input.binary"]["payload"] == ref
    structured = messages[f"{pipeline.name}.input.structured"]["payload"]
    assert structured["properties"]["data"] == ref
    assert structured["properties"]["type"]["const"] == pipeline.on.types[0]
    plain = messages[f"{pipeline.name}.input.plain"]["payload"]
    assert plain["allOf"][1] == ref
    assert pipeline.plain is not None
    assert plain["allOf"][0]["required"] == [pipeline.plain.type_field, pipeline.plain.id_field]


def test_result_payload_is_the_publish_schema_and_what_outrigger_adds(tmp_path: Path) -> None:
    spec = load_pipelines(default_pipelines_file())
    doc = doc_for(spec, "sqlite", tmp_path)
    for p in spec.pipelines:
        publish = p.steps[-1].publish
        assert publish is not None
        declared, added = doc["components"]["schemas"][f"{p.name}.result"]["allOf"]
        assert declared == publish.result_schema
        ctx = StepContext(Event("e-1", "t", "s", {}, "structured"), "k")
        sent = PublishRunner(publish, p.name, p.version).payload(ctx)
        assert added["required"] == list(sent)
        assert added["properties"]["pipeline"]["const"] == p.name
        message = doc["components"]["messages"][f"{p.name}.result"]
        assert message["payload"]["properties"]["type"]["const"] == publish.type
        assert message["payload"]["properties"]["source"]["const"] == publish.source


def test_a_pipeline_without_schemas_gets_generic_ones(tmp_path: Path) -> None:
    spec = pipelines_of(
        """
pipelines:
  - name: echo
    on: {routing_keys: ["orders.#"]}
    steps:
      - publish: {type: com.acme.Echoed, routing_key: ai.echoed, data: {order: data.id}}
"""
    )
    doc = doc_for(spec, "redis", tmp_path)
    assert asyncapi_errors(doc) == []
    schemas = doc["components"]["schemas"]
    assert "description" in schemas["echo.input"] and "type" not in schemas["echo.input"]
    assert "allOf" not in schemas["echo.result"]
    assert schemas["echo.result"]["properties"]["order"]["description"].startswith("From `data.id`")
    structured = doc["components"]["messages"]["echo.input.structured"]["payload"]
    assert "const" not in structured["properties"]["type"]  # no types: any


def _subscription(kind: str, spec: PipelinesFile, **bus: Any) -> tuple[Settings, Subscription]:
    settings = Settings(bus=BusSettings(kind=kind, **bus))
    return settings, subscription(settings, pipeline_set(spec))


@pytest.mark.parametrize("kind", list(KINDS))
def test_addresses_are_the_ones_the_bus_uses(kind: str, tmp_path: Path) -> None:
    spec = load_pipelines(default_pipelines_file())
    extra = {"result_exchange": "acme.results"}
    settings, sub = _subscription(kind, spec, **extra)
    doc = doc_for(spec, kind, tmp_path, **extra)
    try:
        bus, dlq = open_bus(settings.bus, tmp_path)  # unstarted: nothing is contacted
    except ImportError as exc:  # MissingExtraError
        pytest.skip(f"the {kind} extra is not installed: {exc}")
    channels = doc["channels"]
    for p in spec.pipelines:
        (key,) = p.on.routing_keys
        publish = p.steps[-1].publish
        assert publish is not None
        address = channels[f"{p.name}.input"]["address"]
        result = channels[f"{p.name}.result"]["address"]
        expected_in, expected_out = _bus_names(kind, bus, sub, key, publish.routing_key)
        assert (address, result) == (expected_in, expected_out)
    assert channels["deadLetters"]["address"] == _dlq_name(kind, bus, dlq)


def _bus_names(
    kind: str, bus: Any, sub: Subscription, key: str, result_key: str
) -> tuple[Any, Any]:
    results = "acme.results"
    if kind in ("memory", "sqlite", "rabbitmq"):
        assert key in sub.bindings
        return key, result_key
    if kind == "kafka":
        from outrigger.bus.kafka.naming import subscription_topics, topic_for

        names, _ = subscription_topics(sub)
        assert topic_for(sub.exchange, key) in names
        return topic_for(sub.exchange, key), topic_for(results, result_key)
    if kind == "nats":
        from outrigger.bus.nats.naming import QueueSpec, subject_for

        filters = QueueSpec.of(sub).filters
        return filters[sub.bindings.index(key)], subject_for(results, result_key)
    if kind == "redis":
        return bus.keys.stream(sub.exchange, sub.queue), results
    assert kind == "sqs"
    return bus.name(sub.queue), None  # results go to every queue bound by tags


def _dlq_name(kind: str, bus: Any, dlq: Any) -> str | None:
    return {
        "memory": None,
        "sqlite": None,
        "rabbitmq": getattr(dlq, "queue", None),
        "kafka": getattr(dlq, "topic", None),
        "nats": getattr(dlq, "subject", None),
        "redis": getattr(dlq, "key", None),
        "sqs": bus.name(getattr(dlq, "queue", "")) if kind == "sqs" else None,
    }[kind]


def test_amqp_bindings_name_the_exchanges_and_queues(tmp_path: Path) -> None:
    spec = load_pipelines(default_pipelines_file())
    doc = doc_for(spec, "rabbitmq", tmp_path, result_exchange="acme.results")
    name = spec.pipelines[0].name
    inbound = doc["channels"][f"{name}.input"]["bindings"]["amqp"]
    assert inbound["is"] == "routingKey"
    assert inbound["exchange"]["name"] == "domain.events"
    assert doc["channels"][f"{name}.result"]["bindings"]["amqp"]["exchange"]["name"] == (
        "acme.results"
    )
    dlq = doc["channels"]["deadLetters"]["bindings"]["amqp"]
    assert dlq["is"] == "queue" and dlq["queue"]["name"] == "outrigger.dlq"
    assert doc["operations"][f"{name}.receive"]["bindings"]["amqp"]["ack"] is True


def test_patterns_become_the_consumers_own_filters(tmp_path: Path) -> None:
    spec = pipelines_of(
        """
pipelines:
  - name: loans
    on: {types: ["com.acme.loans.*"], routing_keys: ["loans.*.submitted", "loans.#"]}
    steps:
      - publish: {type: com.acme.ai.Done, routing_key: ai.done}
"""
    )
    from outrigger.bus.kafka.naming import topic_for
    from outrigger.bus.nats.naming import subject_matches

    kafka = doc_for(spec, "kafka", tmp_path)
    assert asyncapi_errors(kafka) == []
    first, second = (kafka["channels"][f"loans.input.{i}"]["address"] for i in (1, 2))
    topic = topic_for("domain.events", "loans.application.submitted")
    assert re.match(first, topic) and re.match(second, topic)
    assert not re.match(first, topic_for("domain.events", "loans.application.approved"))
    assert re.match(second, topic_for("domain.events", "loans.application.approved"))
    nats = doc_for(spec, "nats", tmp_path)
    assert subject_matches(nats["channels"]["loans.input.2"]["address"], "domain.events.loans.x")
    types = nats["components"]["messages"]["loans.input.structured"]["payload"]["properties"]
    assert "const" not in types["type"] and "com.acme.loans.*" in types["type"]["description"]


def test_a_binding_nats_cannot_express_is_a_config_error(tmp_path: Path) -> None:
    spec = pipelines_of(
        """
pipelines:
  - name: loans
    on: {routing_keys: ["loans.#.submitted"]}
    steps:
      - publish: {type: com.acme.ai.Done, routing_key: ai.done}
"""
    )
    with pytest.raises(ConfigError, match="NATS has no multi-word wildcard"):
        doc_for(spec, "nats", tmp_path)


def _wire_names(kind: str, message: BusMessage) -> set[str]:
    """The header names of ``message`` as the bus's own codec puts them on the wire."""
    if kind == "kafka":
        from outrigger.bus.kafka.records import to_record

        return {name for name, _ in to_record(message).headers}
    if kind == "nats":
        from outrigger.bus.nats.wire import to_headers

        return set(to_headers(message))
    if kind == "redis":
        from outrigger.bus.redis.entries import BODY, to_fields

        return {k.decode() for k in to_fields(message) if k != BODY}
    if kind == "sqs":
        from outrigger.bus.sqs.codec import to_sqs

        return set(to_sqs(message)[1])
    return set(message.headers)


@pytest.mark.parametrize("kind", list(KINDS))
@pytest.mark.parametrize("mode", ["binary", "structured"])
def test_result_headers_are_what_the_worker_sends(kind: str, mode: str, tmp_path: Path) -> None:
    spec = pipelines_of(
        f"""
pipelines:
  - name: echo
    on: {{types: [com.acme.Ping]}}
    steps:
      - publish: {{type: com.acme.Pong, routing_key: ai.pong, mode: {mode}, source: urn:x}}
"""
    )
    doc = doc_for(spec, kind, tmp_path)
    assert asyncapi_errors(doc) == []
    message = doc["components"]["messages"]["echo.result"]
    declared = set(message.get("headers", {}).get("properties", {}))
    cause = Event("cause-1", "com.acme.Ping", "urn:y", {}, "binary")
    result = encode_result(
        event_id="r-1",
        event_type="com.acme.Pong",
        source="urn:x",
        routing_key="ai.pong",
        data={"a": 1},
        cause=cause,
        mode=mode,
    )
    sent = _wire_names(kind, result)
    assert sent <= declared, f"undeclared on the wire: {sent - declared}"
    assert set(message.get("headers", {}).get("required", [])) <= sent
    assert message["contentType"] == result.content_type
    if mode == "binary" and kind == "kafka":
        assert "ce_type" in declared and message["headers"]["properties"]["ce_type"]["const"] == (
            "com.acme.Pong"
        )
        assert message["correlationId"]["location"] == "$message.header#/ce_correlationid"


def test_dead_letters_carry_the_reason_headers(tmp_path: Path) -> None:
    from outrigger.bus import letters

    spec = load_pipelines(default_pipelines_file())
    for kind in ("rabbitmq", "kafka", "nats", "redis", "sqs"):
        headers = doc_for(spec, kind, tmp_path)["components"]["messages"]["deadLetter"]["headers"]
        text = json.dumps(headers)
        for name in (letters.CODE, letters.REASON, letters.ID, letters.ATTEMPTS):
            assert name in text, (kind, name)


def test_no_credentials_in_the_document(tmp_path: Path) -> None:
    spec = load_pipelines(default_pipelines_file())
    url_file = tmp_path / "nats-url"
    url_file.write_text(f"tls://bob:{SECRET}@nats.internal:4443\n")
    bus = {
        "rabbitmq": {"url": f"amqps://alice:{SECRET}@rabbit.internal:5671/prod"},
        "redis": {"url": f"rediss://:{SECRET}@redis.internal:6380/2"},
        "nats": {"url_file": url_file},
        "kafka": {
            "bootstrap_servers": "k1.internal:9093,k2.internal:9093",
            "security_protocol": "SASL_SSL",
            "sasl_mechanism": "SCRAM-SHA-512",
            "sasl_username": "alice",
            "sasl_password": SECRET,
        },
        "sqs": {"endpoint_url": f"http://alice:{SECRET}@sqs.internal:4566"},
    }
    hosts = {
        "rabbitmq": ["rabbit.internal:5671"],
        "redis": ["redis.internal:6380"],
        "nats": ["nats.internal:4443"],
        "kafka": ["k1.internal:9093", "k2.internal:9093"],
        "sqs": ["sqs.internal:4566"],
    }
    for kind in ("rabbitmq", "redis", "nats", "kafka", "sqs"):
        doc = doc_for(spec, kind, tmp_path, **{kind: bus[kind]})
        assert asyncapi_errors(doc) == []
        text = json.dumps(doc)
        assert SECRET not in text and "alice" not in text and "bob" not in text, kind
        assert [s["host"] for s in doc["servers"].values()] == hosts[kind]
    kafka = doc_for(spec, "kafka", tmp_path, kafka=bus["kafka"])
    assert kafka["servers"]["kafka-1"]["protocol"] == "kafka-secure"
    assert kafka["components"]["securitySchemes"]["kafkaSasl"]["type"] == "scramSha512"
    rabbit = doc_for(spec, "rabbitmq", tmp_path, rabbitmq=bus["rabbitmq"])
    assert rabbit["servers"]["rabbitmq"]["protocol"] == "amqps"
    assert rabbit["servers"]["rabbitmq"]["pathname"] == "/prod"


def test_a_2020_12_schema_is_handed_over_in_its_own_dialect(tmp_path: Path) -> None:
    spec = pipelines_of(
        """
pipelines:
  - name: shapes
    on: {types: [com.acme.Shape]}
    input_schema:
      type: object
      required: [points]
      properties:
        points: {type: array, items: {$ref: "#/$defs/point"}}
      $defs:
        point: {type: array, prefixItems: [{type: number}, {type: number}], items: false}
    steps:
      - publish: {type: com.acme.Measured, routing_key: ai.measured}
"""
    )
    doc = doc_for(spec, "rabbitmq", tmp_path)
    assert asyncapi_errors(doc) == []
    messages = doc["components"]["messages"]
    assert "shapes.input" not in doc["components"]["schemas"]
    binary = messages["shapes.input.binary"]["payload"]
    assert binary["schemaFormat"] == DRAFT_2020_12
    structured = messages["shapes.input.structured"]["payload"]
    assert structured["schemaFormat"] == DRAFT_2020_12
    # The nested data schema's local references were moved with it: a 2020-12 validator
    # reads the envelope as the pipeline reads the data.
    envelope = Draft202012Validator(structured["schema"])
    event = {"specversion": "1.0", "id": "1", "source": "s", "type": "com.acme.Shape"}
    assert envelope.is_valid({**event, "data": {"points": [[1, 2], [3.5, 4]]}})
    assert not envelope.is_valid({**event, "data": {"points": [[1, 2, 3]]}})
    assert Draft202012Validator(binary["schema"]).is_valid({"points": [[0, 0]]})


def test_the_document_is_deterministic_and_has_no_yaml_aliases(tmp_path: Path) -> None:
    from outrigger.cli.asyncapi_cmd import Format, render

    spec = load_pipelines(default_pipelines_file())
    first, second = (doc_for(spec, "kafka", tmp_path) for _ in range(2))
    assert first == second
    text = render(first, Format.yaml)
    assert "&id" not in text and "*id" not in text
    assert yaml.safe_load(text) == first == json.loads(render(first, Format.json))


def test_survey_reads_the_document_back(tmp_path: Path) -> None:
    spec = load_pipelines(default_pipelines_file())
    survey = survey_document(doc_for(spec, "nats", tmp_path), "asyncapi.yaml")
    types = set(survey.types)
    assert {"com.acme.loans.LoanApplicationSubmitted", "com.acme.ai.AiAssessmentCompleted"} <= types
    assert "application_id" in survey.types["com.acme.loans.LoanApplicationSubmitted"].fields
    assert "risk_score" in survey.types["com.acme.ai.AiAssessmentCompleted"].fields
