"""Header schemas of Outrigger's messages on one broker, from sample messages.

The samples are built by the engine's own code (``encode_result``, ``encode_letter``) and put
through the broker's codec (``wire.py``); a header present in every sample is required, one
present in some is optional. What each header means is described here, once.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from outrigger.bus import letters
from outrigger.bus.base import REPLAYED_FROM_HEADER, ROUTING_KEY_HEADER, BusMessage
from outrigger.contracts.wire import CONTENT_TYPE, MESSAGE_ID, ROUTING_KEY, wire_fields
from outrigger.engine.envelope import PARTITION_KEY

#: Per inner header: schema keywords that replace or add to its description (``const``).
Overrides = Mapping[str, Mapping[str, Any]]
#: The prefix the engine writes binary-mode CloudEvent attributes with (the AMQP binding).
CE_PREFIX = "cloudEvents_"

CLOUDEVENT: Mapping[str, dict[str, Any]] = {
    "specversion": {"type": "string", "description": "The CloudEvents version: `1.0`."},
    "id": {"type": "string", "description": "The event's id."},
    "source": {"type": "string", "description": "Where the event happened (a URI-reference)."},
    "type": {"type": "string", "description": "The event type."},
    "subject": {"type": "string", "description": "What the event is about."},
    "time": {"type": "string", "description": "When it happened (RFC 3339)."},
    "datacontenttype": {"type": "string", "description": "The media type of `data`."},
    "dataschema": {"type": "string", "description": "A URI of the schema `data` follows."},
    "correlationid": {
        "type": "string",
        "description": "Outrigger's extension: the id of the event this result answers.",
    },
    PARTITION_KEY: {
        "type": "string",
        "description": "The CloudEvents partitioning extension: kept from the cause, so a "
        "result is partitioned like the event it answers.",
    },
    "traceparent": {
        "type": "string",
        "description": "W3C Trace Context (the CloudEvents distributed-tracing extension).",
    },
    "tracestate": {"type": "string", "description": "W3C Trace Context vendor state."},
}

_LETTER: Mapping[str, str] = {
    letters.ID: "The dead letter's id (`outrigger dlq replay --id`).",
    letters.CODE: "The stable reason code: `not_json`, `invalid_cloudevent`, "
    "`unrecognised_event`, `invalid_payload`, `mapping_failed`, `invalid_output`, "
    "`output_withheld`, `retries_exhausted`, `result_unroutable`, `delivery_limit`, ... "
    "(docs/pipelines.md, 'Dead-letter reason codes').",
    letters.REASON: "The reason, readable (it may quote the event's values).",
    letters.ATTEMPTS: "How many attempts were made (a decimal number).",
    letters.SOURCE: "The queue the message was consumed from.",
    letters.PIPELINE: "The pipeline (`name@version`) that failed; empty when none matched.",
    letters.FAILED_AT: "When it was dead-lettered (ISO 8601).",
    letters.ROUTING: "The routing key the message was published with.",
}

_REPLAY: Mapping[str, str] = {
    ROUTING_KEY_HEADER: "The domain's routing key of a message sent straight to Outrigger's "
    "queue (a replay from the dead letters, or a service that sends to the queue directly).",
    REPLAYED_FROM_HEADER: "On a replay: the id of the dead letter it came from.",
}

_PSEUDO: Mapping[str, str] = {
    ROUTING_KEY: "The routing key.",
    MESSAGE_ID: "The message id (a result's: its CloudEvent id).",
    CONTENT_TYPE: "The media type of the body.",
}


def inner_schema(name: str, overrides: Overrides) -> dict[str, Any] | None:
    """The schema of the inner header (or pseudo-header) ``name``, with ``overrides[name]``
    (a ``const``, a closer description); None when it is not one of Outrigger's (a domain
    header kept on a dead letter)."""
    attr = name.removeprefix(CE_PREFIX)
    if attr in CLOUDEVENT:
        schema = dict(CLOUDEVENT[attr])
    elif name in _LETTER or name in _REPLAY:
        schema = {"type": "string", "description": {**_LETTER, **_REPLAY}[name]}
    elif name in _PSEUDO:
        schema = {"type": "string", "description": _PSEUDO[name]}
    else:
        return None
    schema.update(overrides.get(name, {}))
    return schema


def _folded(carries: set[str]) -> dict[str, Any]:
    ours = sorted(n for n in carries if inner_schema(n, {}) is not None)
    listed = ", ".join(f"`{n}`" for n in ours) or "other headers"
    return {
        "type": "string",
        "description": "A JSON object of the headers that did not fit as attributes of their "
        f"own (SQS allows 10 per message); it can hold {listed}.",
    }


def headers_schema(
    kind: str,
    samples: Sequence[BusMessage],
    overrides: Overrides,
    optional: frozenset[str] = frozenset(),
) -> dict[str, Any] | None:
    """The headers of ``samples`` as they travel on a ``kind`` bus (None: none at all); a
    field carrying an ``optional`` inner header is never required."""
    carried: dict[str, set[str]] = {}
    folded: set[str] = set()
    present: list[set[str]] = []
    for sample in samples:
        fields = wire_fields(kind, sample)
        present.append({f.name for f in fields if not f.folded})
        for f in fields:
            carried.setdefault(f.name, set()).update(f.carries)
            if f.folded:
                folded.add(f.name)
    properties: dict[str, Any] = {}
    for name, carries in carried.items():
        if name in folded:
            properties[name] = _folded(carries)
            continue
        schema = inner_schema(next(iter(carries)), overrides)
        if schema is not None:
            properties[name] = schema
    if not properties:
        return None
    never = {n for n, carries in carried.items() if carries & optional}
    required = sorted((set.intersection(*present) & properties.keys()) - never)
    out: dict[str, Any] = {"type": "object", "properties": properties}
    if required:
        out["required"] = required
    return out


def wire_name(kind: str, samples: Sequence[BusMessage], inner: str) -> str | None:
    """The wire field that carries the inner header ``inner`` alone, in every sample."""
    names = [{f.name for f in wire_fields(kind, s) if f.carries == (inner,)} for s in samples]
    common = set.intersection(*names) if names else set()
    return min(common) if common else None
