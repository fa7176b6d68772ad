"""Dead letters as ordinary bus messages, shared by the brokers that keep them on the broker.

A dead letter travels as the original body and headers plus ``x-outrigger-*`` headers with
the reason, so an operator sees everything with the broker's own tools (RabbitMQ's management
UI, ``kafka-console-consumer --property print.headers=true``). RabbitMQ's dead-letter queue and
Kafka's dead-letter topic both encode and decode with these two functions.
"""

from __future__ import annotations

from datetime import UTC, datetime

from outrigger.bus.base import BusMessage, DeadLetter

PREFIX = "x-outrigger-"
ID, CODE, REASON, ATTEMPTS = (
    f"{PREFIX}{k}" for k in ("dead-letter-id", "reason-code", "reason", "attempts")
)
SOURCE, PIPELINE, FAILED_AT, ROUTING = (
    f"{PREFIX}{k}" for k in ("source-queue", "pipeline", "failed-at", "original-routing-key")
)
LETTER_HEADERS = frozenset({ID, CODE, REASON, ATTEMPTS, SOURCE, PIPELINE, FAILED_AT, ROUTING})


def encode_letter(letter: DeadLetter, queue: str) -> BusMessage:
    """The message stored in the dead-letter queue ``queue``: original bytes and headers,
    plus the reason headers."""
    original = letter.message
    headers = dict(original.headers)
    headers.update(
        {
            ID: letter.id,
            CODE: letter.reason_code,
            REASON: letter.reason,
            ATTEMPTS: str(letter.attempts),
            SOURCE: letter.source_queue,
            PIPELINE: letter.pipeline or "",
            FAILED_AT: letter.failed_at.isoformat(),
            ROUTING: original.routing_key,
        }
    )
    return BusMessage(original.body, queue, headers, original.message_id, original.content_type)


def decode_letter(stored: BusMessage, fallback_id: str) -> DeadLetter:
    """The dead letter kept in ``stored``; ``fallback_id`` names a letter without an id header
    (one put there by another tool)."""
    h = stored.headers
    original = BusMessage(
        stored.body,
        h.get(ROUTING, ""),
        {k: v for k, v in h.items() if k not in LETTER_HEADERS},
        stored.message_id,
        stored.content_type,
    )
    return DeadLetter(
        message=original,
        reason_code=h.get(CODE, "unknown"),
        reason=h.get(REASON, ""),
        attempts=_int(h.get(ATTEMPTS)),
        source_queue=h.get(SOURCE, ""),
        pipeline=h.get(PIPELINE) or None,
        id=h.get(ID) or stored.message_id or fallback_id,
        failed_at=_when(h.get(FAILED_AT)),
    )


def _int(text: str | None) -> int:
    try:
        return int(text or 0)
    except ValueError:
        return 0


def _when(text: str | None) -> datetime:
    try:
        return datetime.fromisoformat(text) if text else datetime.now(UTC)
    except ValueError:
        return datetime.now(UTC)
