"""RabbitMQ deliveries as bus messages: headers as text, attempts from the broker's count."""

from __future__ import annotations

from typing import Any

from aio_pika.abc import AbstractIncomingMessage

from outrigger.bus.base import BusMessage

#: Set by quorum queues on a redelivery: the broker's, reported as ``Delivery.attempt`` and
#: kept out of the message's headers (a dead letter replayed with it would start counting
#: from the stale value).
DELIVERY_COUNT = "x-delivery-count"


def header_text(value: Any) -> str:
    if isinstance(value, bytes | bytearray):  # pamqp: invalid UTF-8 longstr, byte arrays
        return bytes(value).decode("utf-8", errors="replace")
    return str(value)


def to_bus_message(raw: AbstractIncomingMessage) -> BusMessage:
    headers = {k: header_text(v) for k, v in (raw.headers or {}).items() if k != DELIVERY_COUNT}
    return BusMessage(
        bytes(raw.body), raw.routing_key or "", headers, raw.message_id, raw.content_type
    )


def delivery_attempt(raw: AbstractIncomingMessage) -> int:
    """1 on first delivery; quorum queues count deliveries, classic ones only flag them."""
    count = (raw.headers or {}).get(DELIVERY_COUNT)
    if isinstance(count, int) and not isinstance(count, bool):
        return count + 1
    return 2 if raw.redelivered else 1
