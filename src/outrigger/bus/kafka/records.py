"""A ``BusMessage`` as a Kafka record and back, with the CloudEvents Kafka protocol binding.

- Binary-mode CloudEvent attributes are ``ce_<attr>`` headers on the wire (the Kafka binding)
  and ``cloudEvents_<attr>`` inside Outrigger (the AMQP binding the engine reads and writes):
  mapped both ways here, at the bus edge.
- ``content_type`` is the ``content-type`` header (structured mode:
  ``application/cloudevents+json``), which is also where binary mode's ``datacontenttype``
  goes; ``message_id`` is the ``x-outrigger-message-id`` header.
- The record key is the CloudEvents ``partitionkey`` (binding: the key maps to it), else the
  key a consumed record carried (kept in the ``x-outrigger-partition-key`` header so a replay
  or a re-publish lands in the same partition), else none.
- Header values are text: bytes that are not UTF-8 are replaced, as on RabbitMQ.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from outrigger.bus.base import PARTITION_KEY_HEADER, BusMessage

WIRE_PREFIX = "ce_"  # the Kafka binding
INNER_PREFIX = "cloudEvents_"  # the AMQP binding, which the engine writes
CONTENT_TYPE = "content-type"
MESSAGE_ID = "x-outrigger-message-id"
KEY_HEADER = PARTITION_KEY_HEADER
KEY_B64_HEADER = "x-outrigger-partition-key-b64"  # a key that is not UTF-8
STRUCTURED = "application/cloudevents+json"
_RESERVED = (CONTENT_TYPE, MESSAGE_ID, KEY_HEADER, KEY_B64_HEADER)
#: The binding maps ``datacontenttype`` to the ``content-type`` header, never to ``ce_``.
_DATACONTENTTYPE = (f"{INNER_PREFIX}datacontenttype", f"{WIRE_PREFIX}datacontenttype")

Headers = list[tuple[str, str | bytes | None]]
#: Headers as librdkafka hands them over.
RawHeaders = Sequence[tuple[str, str | bytes | None]] | dict[str, str | bytes | None]


@dataclass(frozen=True, slots=True)
class Record:
    """What the producer sends: value, key and headers (the topic is chosen by the bus)."""

    value: bytes
    key: bytes | None
    headers: Headers


def to_record(message: BusMessage) -> Record:
    headers: Headers = []
    for name, value in message.headers.items():
        if name in _RESERVED or name in _DATACONTENTTYPE:
            continue
        wire = WIRE_PREFIX + name[len(INNER_PREFIX) :] if name.startswith(INNER_PREFIX) else name
        headers.append((wire, value.encode("utf-8")))
    content_type = message.content_type or _datacontenttype(message.headers)
    if content_type is not None:
        headers.append((CONTENT_TYPE, content_type.encode("utf-8")))
    if message.message_id is not None:
        headers.append((MESSAGE_ID, message.message_id.encode("utf-8")))
    return Record(message.body, record_key(message), headers)


def _datacontenttype(headers: Mapping[str, str]) -> str | None:
    return next((headers[n] for n in _DATACONTENTTYPE if n in headers), None)


def record_key(message: BusMessage) -> bytes | None:
    """``partitionkey`` (binary headers, or a structured body), else the consumed key."""
    h = message.headers
    for name in (f"{INNER_PREFIX}partitionkey", f"{WIRE_PREFIX}partitionkey"):
        if name in h:
            return h[name].encode("utf-8")
    structured = (message.content_type or "").split(";")[0].strip().lower() == STRUCTURED
    if structured:
        key = _structured_partitionkey(message.body)
        if key is not None:
            return key.encode("utf-8")
    if KEY_B64_HEADER in h:
        try:
            return base64.b64decode(h[KEY_B64_HEADER], validate=True)
        except (binascii.Error, ValueError):
            return None
    return h[KEY_HEADER].encode("utf-8") if KEY_HEADER in h else None


def _structured_partitionkey(body: bytes) -> str | None:
    try:
        envelope = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return None
    key = envelope.get("partitionkey") if isinstance(envelope, dict) else None
    return key if isinstance(key, str) and key else None


def from_record(
    value: bytes | None,
    key: bytes | None,
    headers: RawHeaders | None,
    routing_key: str,
) -> BusMessage:
    """The message a consumer sees; ``routing_key`` comes from the topic (``naming``)."""
    inner: dict[str, str] = {}
    pairs = headers.items() if isinstance(headers, dict) else headers or ()
    for name, raw in pairs:
        text = raw.decode("utf-8", errors="replace") if isinstance(raw, bytes) else raw or ""
        inner_name = (
            INNER_PREFIX + name[len(WIRE_PREFIX) :] if name.startswith(WIRE_PREFIX) else name
        )
        inner[inner_name] = text
    content_type = inner.pop(CONTENT_TYPE, None)
    message_id = inner.pop(MESSAGE_ID, None)
    inner.pop(KEY_HEADER, None)
    inner.pop(KEY_B64_HEADER, None)
    if key is not None:
        inner.update(key_headers(key))
    return BusMessage(value or b"", routing_key, inner, message_id, content_type)


def key_headers(key: bytes) -> Mapping[str, str]:
    try:
        return {KEY_HEADER: key.decode("utf-8")}
    except UnicodeDecodeError:
        return {KEY_B64_HEADER: base64.b64encode(key).decode("ascii")}
