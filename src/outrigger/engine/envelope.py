"""Reading incoming events and writing result events: CloudEvents 1.0 and plain JSON.

Accepted on input:
- structured mode: the body is a CloudEvent JSON object (``specversion`` present, or
  content type ``application/cloudevents+json``);
- binary mode: CloudEvent attributes in message headers (``cloudEvents_``/``cloudEvents:``
  prefixes of the AMQP binding, and ``ce_``/``ce-`` as used by Kafka and HTTP), the body is the
  data;
- plain JSON: an object without ``specversion``, when a pipeline names the field carrying the
  event type (and optionally the id; without one the id is the SHA-256 of the bytes, so a
  redelivery keeps its id).

Anything else raises ``MalformedEvent`` with a stable code and a readable reason.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError, field_validator

from outrigger.bus.base import PARTITION_KEY_HEADER, BusMessage
from outrigger.errors import MalformedEvent

BINARY_PREFIXES = ("cloudEvents_", "cloudEvents:", "ce_", "ce-")
STRUCTURED_CONTENT_TYPE = "application/cloudevents+json"
TRACE_HEADERS = ("traceparent", "tracestate")
#: The CloudEvents partitioning extension: results keep their cause's key.
PARTITION_KEY = "partitionkey"


@dataclass(frozen=True, slots=True)
class PlainRule:
    """How to read a plain JSON event: the field with its type, optionally the id field."""

    type_field: str
    id_field: str | None = None


@dataclass(frozen=True, slots=True)
class Event:
    id: str
    type: str
    source: str
    data: Any
    mode: str  # structured | binary | plain
    subject: str | None = None
    time: str | None = None
    extensions: Mapping[str, Any] = field(default_factory=dict)
    trace: Mapping[str, str] = field(default_factory=dict)

    def as_context(self) -> dict[str, Any]:
        """The ``event`` root that pipeline path expressions see."""
        return {
            "id": self.id,
            "type": self.type,
            "source": self.source,
            "subject": self.subject,
            "time": self.time,
            **dict(self.extensions),
        }


class CloudEventModel(BaseModel):
    """CloudEvents 1.0 required and optional context attributes (extensions allowed)."""

    model_config = ConfigDict(extra="allow")

    specversion: str
    id: str
    source: str
    type: str
    subject: str | None = None
    time: str | None = None
    datacontenttype: str | None = None
    dataschema: str | None = None
    data: Any = None
    data_base64: str | None = None

    @field_validator("specversion")
    @classmethod
    def _v1(cls, value: str) -> str:
        if value != "1.0":
            raise ValueError(f"unsupported specversion {value!r}; only '1.0' is understood")
        return value

    @field_validator("id", "source", "type")
    @classmethod
    def _non_empty(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must be a non-empty string")
        return value


def parse_event(message: BusMessage, plain_rules: Sequence[PlainRule], max_bytes: int) -> Event:
    """Decode ``message`` into an ``Event`` or raise ``MalformedEvent``."""
    size = len(message.body)
    if size > max_bytes:
        raise MalformedEvent("oversized", f"event is {size} bytes; the limit is {max_bytes}")
    return _keyed(_decode(message, plain_rules), message)


def _decode(message: BusMessage, plain_rules: Sequence[PlainRule]) -> Event:
    trace = {k: message.headers[k] for k in TRACE_HEADERS if k in message.headers}
    binary = _binary_attributes(message.headers)
    if binary:
        return _from_binary(binary, message, trace)
    obj = _json_object(message.body)
    content_type = (message.content_type or "").split(";")[0].strip().lower()
    if "specversion" in obj or content_type == STRUCTURED_CONTENT_TYPE:
        return _from_structured(obj, trace)
    return _from_plain(obj, message, plain_rules, trace)


def _keyed(event: Event, message: BusMessage) -> Event:
    """The broker's partition key (a Kafka record key) as the CloudEvents ``partitionkey``
    extension when the event has none, so its results are keyed the same way."""
    key = message.headers.get(PARTITION_KEY_HEADER)
    if not key or PARTITION_KEY in event.extensions:
        return event
    return replace(event, extensions={**event.extensions, PARTITION_KEY: key})


def _json_object(body: bytes) -> dict[str, Any]:
    if not body.strip():
        raise MalformedEvent("empty", "event body is empty")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise MalformedEvent(
            "not_utf8", f"body is not valid UTF-8 ({exc.reason} at byte {exc.start})"
        ) from exc
    value = _loads(text, "body")
    if not isinstance(value, dict):
        raise MalformedEvent(
            "not_object", f"event must be a JSON object, got {type(value).__name__}"
        )
    return value


def _validated(attrs: Mapping[str, Any]) -> CloudEventModel:
    try:
        return CloudEventModel.model_validate(attrs)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'event'}: {e['msg']}" for e in exc.errors()
        )
        raise MalformedEvent("invalid_cloudevent", f"not a valid CloudEvent: {problems}") from exc


def _from_structured(obj: dict[str, Any], trace: dict[str, str]) -> Event:
    ce = _validated(obj)
    data = ce.data
    if ce.data_base64 is not None:
        try:
            raw = base64.b64decode(ce.data_base64, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise MalformedEvent("invalid_cloudevent", "data_base64 is not valid base64") from exc
        data = _decode_data(raw, ce.datacontenttype)
    return _event(ce, data, "structured", trace)


def _from_binary(attrs: dict[str, str], message: BusMessage, trace: dict[str, str]) -> Event:
    attrs.setdefault("datacontenttype", message.content_type or "application/json")
    ce = _validated(attrs)
    return _event(ce, _decode_data(message.body, ce.datacontenttype), "binary", trace)


def _decode_data(raw: bytes, content_type: str | None) -> Any:
    ctype = (content_type or "application/json").split(";")[0].strip().lower()
    if ctype == "application/json" or ctype.endswith("+json"):
        return _json_any(raw)
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise MalformedEvent("not_utf8", f"{ctype} data is not valid UTF-8") from exc


def _json_any(raw: bytes) -> Any:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise MalformedEvent("not_utf8", f"body is not valid UTF-8 ({exc.reason})") from exc
    return _loads(text, "data")


def _loads(text: str, what: str) -> Any:
    """JSON, or ``MalformedEvent`` for every way the text can fail to be JSON we can hold:
    syntax, nesting deeper than the parser's recursion limit, integers too long to convert."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise MalformedEvent(
            "not_json", f"{what} is not JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
        ) from exc
    except RecursionError:
        raise MalformedEvent("too_deep", f"{what} is JSON nested too deeply to parse") from None
    except ValueError as exc:  # e.g. an integer of more than 4,300 digits
        raise MalformedEvent(
            "not_json", f"{what} holds a value that cannot be read: {exc}"
        ) from exc


def _event(ce: CloudEventModel, data: Any, mode: str, trace: dict[str, str]) -> Event:
    extensions = {k: v for k, v in (ce.model_extra or {}).items() if k not in TRACE_HEADERS}
    for key in TRACE_HEADERS:  # the distributed-tracing extension, when not in headers
        value = (ce.model_extra or {}).get(key)
        if isinstance(value, str):
            trace.setdefault(key, value)
    return Event(ce.id, ce.type, ce.source, data, mode, ce.subject, ce.time, extensions, trace)


def _binary_attributes(headers: Mapping[str, str]) -> dict[str, str]:
    found: dict[str, str] = {}
    for key, value in headers.items():
        for prefix in BINARY_PREFIXES:
            if key.startswith(prefix):
                found[key[len(prefix) :].lower()] = value
                break
    return found if "specversion" in found else {}


def _from_plain(
    obj: dict[str, Any], message: BusMessage, rules: Sequence[PlainRule], trace: dict[str, str]
) -> Event:
    for rule in rules:
        event_type = obj.get(rule.type_field)
        if event_type is None:
            continue
        if not isinstance(event_type, str) or not event_type:
            raise MalformedEvent(
                "invalid_plain_event", f"field '{rule.type_field}' must be a non-empty string"
            )
        event_id = _plain_id(obj, message.body, rule)
        source = f"plain:{message.domain_routing_key}"
        return Event(event_id, event_type, source, obj, "plain", trace=trace)
    fields = ", ".join(sorted({r.type_field for r in rules})) or "none configured"
    raise MalformedEvent(
        "unrecognised_event",
        "not a CloudEvent (no specversion) and no plain-JSON type field found "
        f"(looked for: {fields})",
    )


def _plain_id(obj: dict[str, Any], body: bytes, rule: PlainRule) -> str:
    if rule.id_field is None:
        return "sha256:" + hashlib.sha256(body).hexdigest()
    value = obj.get(rule.id_field)
    if isinstance(value, bool) or not isinstance(value, (str, int)) or value == "":
        raise MalformedEvent(
            "invalid_plain_event", f"id field '{rule.id_field}' is missing or not a string/integer"
        )
    return str(value)
