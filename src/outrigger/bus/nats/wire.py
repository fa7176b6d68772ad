"""A ``BusMessage`` as NATS headers and back, with the CloudEvents NATS protocol binding.

- Binary-mode CloudEvent attributes are ``ce-<attr>`` headers on the wire (the NATS binding)
  and ``cloudEvents_<attr>`` inside Outrigger (the AMQP binding the engine reads and writes):
  mapped both ways here, at the bus edge. Structured mode is the body with
  ``Content-Type: application/cloudevents+json``, passed through as is.
- ``content_type`` is the ``Content-Type`` header.
- ``message_id`` travels in ``x-outrigger-message-id``, never in ``Nats-Msg-Id``: JetStream
  drops a second message with the same ``Nats-Msg-Id`` within the duplicate window whatever
  its subject, and a forwarder or a replay that keeps the id must never be dropped. A
  domain service's own ``Nats-Msg-Id`` is read as the message id when ours is absent.
"""

from __future__ import annotations

from collections.abc import Mapping

from outrigger.bus.base import BusMessage

WIRE_PREFIX = "ce-"  # the NATS binding
INNER_PREFIX = "cloudEvents_"  # the AMQP binding, which the engine writes
CONTENT_TYPE = "Content-Type"
NATS_MSG_ID = "Nats-Msg-Id"
MESSAGE_ID = "x-outrigger-message-id"
_RESERVED = {CONTENT_TYPE.lower(), NATS_MSG_ID.lower(), MESSAGE_ID}


def to_headers(message: BusMessage) -> dict[str, str]:
    headers: dict[str, str] = {}
    for name, value in message.headers.items():
        if name.lower() in _RESERVED:
            continue
        wire_name = name
        if name.startswith(INNER_PREFIX):
            wire_name = WIRE_PREFIX + name[len(INNER_PREFIX) :]
        headers[wire_name] = _one_line(value)
    if message.content_type is not None:
        headers[CONTENT_TYPE] = _one_line(message.content_type)
    if message.message_id is not None:
        headers[MESSAGE_ID] = _one_line(message.message_id)
    return headers


def from_headers(body: bytes, routing_key: str, headers: Mapping[str, str] | None) -> BusMessage:
    inner: dict[str, str] = {}
    content_type = None
    ids: dict[str, str] = {}
    for name, value in (headers or {}).items():
        lowered = name.lower()
        if lowered == CONTENT_TYPE.lower():
            content_type = value
        elif lowered in (NATS_MSG_ID.lower(), MESSAGE_ID):
            ids[lowered] = value
        elif name.startswith(WIRE_PREFIX):
            inner[INNER_PREFIX + name[len(WIRE_PREFIX) :]] = value
        else:
            inner[name] = value
    # A dead letter's Nats-Msg-Id is the letter's id: the message's own id wins.
    message_id = ids.get(MESSAGE_ID, ids.get(NATS_MSG_ID.lower()))
    return BusMessage(body, routing_key, inner, message_id, content_type)


def _one_line(value: str) -> str:
    # A header line break would end the NATS header block early (and smuggle headers).
    return value.replace("\r", " ").replace("\n", " ")
