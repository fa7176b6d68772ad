"""What a message's headers are called on each broker, found by running the broker's own codec.

The engine writes headers in one vocabulary (CloudEvents' AMQP binding, ``cloudEvents_id``;
``x-outrigger-*`` for dead letters); each bus maps them at its edge: ``ce_id`` on Kafka,
``ce-id`` on NATS, ``h:cloudEvents_id`` stream fields on Redis, message attributes on SQS (the
eleventh and later fold into one JSON attribute). Instead of restating those rules, a sample
message whose every value is a token naming its inner header goes through the codec the bus
uses, and the tokens found in each wire field say which inner headers it carries.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, replace

from outrigger.bus.base import BusMessage

#: Pseudo-headers for what travels beside the headers on some brokers.
ROUTING_KEY, MESSAGE_ID, CONTENT_TYPE = "~routing_key", "~message_id", "~content_type"
_TOKEN = re.compile(r"<<([^<>]+)>>")


def _token(name: str) -> str:
    return f"<<{name}>>"


@dataclass(frozen=True, slots=True)
class WireField:
    """One field on the wire and the inner headers (or pseudo-headers) it carries."""

    name: str
    carries: tuple[str, ...]

    @property
    def folded(self) -> bool:
        return len(self.carries) != 1


def _tokenized(message: BusMessage) -> BusMessage:
    return replace(
        message,
        routing_key=_token(ROUTING_KEY),
        headers={k: _token(k) for k in message.headers},
        message_id=None if message.message_id is None else _token(MESSAGE_ID),
        content_type=None if message.content_type is None else _token(CONTENT_TYPE),
    )


def _amqp(message: BusMessage) -> dict[str, str]:
    # RabbitMQ (and the embedded buses, which keep the same model) carry the headers as
    # they are; message id, content type and routing key are protocol properties.
    return dict(message.headers)


def _kafka(message: BusMessage) -> dict[str, str]:
    from outrigger.bus.kafka.records import to_record

    headers = to_record(message).headers
    return {k: v.decode() if isinstance(v, bytes) else (v or "") for k, v in headers}


def _nats(message: BusMessage) -> dict[str, str]:
    from outrigger.bus.nats.wire import to_headers

    return to_headers(message)


def _redis(message: BusMessage) -> dict[str, str]:
    from outrigger.bus.redis.entries import BODY, to_fields

    return {k.decode(): v.decode() for k, v in to_fields(message).items() if k != BODY}


def _sqs(message: BusMessage) -> dict[str, str]:
    from outrigger.bus.sqs.codec import to_sqs

    return {k: v["StringValue"] for k, v in to_sqs(message)[1].items()}


_CODECS = {
    "memory": _amqp,
    "sqlite": _amqp,
    "rabbitmq": _amqp,
    "kafka": _kafka,
    "nats": _nats,
    "redis": _redis,
    "sqs": _sqs,
}


def wire_fields(kind: str, message: BusMessage) -> list[WireField]:
    """The fields ``message`` has on a ``kind`` bus, each with the inner headers it carries."""
    fields = _CODECS[kind](_tokenized(message))
    return [WireField(name, tuple(_TOKEN.findall(value))) for name, value in fields.items()]


def pseudo_values(message: BusMessage) -> Mapping[str, str | None]:
    """The values behind the pseudo-headers of ``message``."""
    return {
        ROUTING_KEY: message.routing_key,
        MESSAGE_ID: message.message_id,
        CONTENT_TYPE: message.content_type,
    }
