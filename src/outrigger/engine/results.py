"""Result events: deterministic ids and CloudEvents encoding (structured or binary)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from outrigger.bus.base import BusMessage
from outrigger.engine.envelope import PARTITION_KEY, STRUCTURED_CONTENT_TYPE, Event


def result_id(source_event_id: str, pipeline: str, version: str | int) -> str:
    """The same source event through the same pipeline version always gets the same id, so
    consumers can de-duplicate results of redelivered events."""
    key = f"{source_event_id}\x1f{pipeline}\x1f{version}".encode()
    return hashlib.sha256(key).hexdigest()[:32]


def encode_result(
    *,
    event_id: str,
    event_type: str,
    source: str,
    routing_key: str,
    data: dict[str, Any],
    cause: Event,
    mode: str = "structured",
    trace: Mapping[str, str] | None = None,
) -> BusMessage:
    """``trace``: the context to send on (the publish span's); default: the cause's."""
    trace = dict(cause.trace if trace is None else trace)
    attributes: dict[str, Any] = {
        "specversion": "1.0",
        "id": event_id,
        "type": event_type,
        "source": source,
        "time": datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "datacontenttype": "application/json",
        "correlationid": cause.id,
    }
    if cause.subject:
        attributes["subject"] = cause.subject
    key = cause.extensions.get(PARTITION_KEY)
    if isinstance(key, str) and key:  # the result is partitioned like its cause
        attributes[PARTITION_KEY] = key
    headers = dict(trace)
    if mode == "binary":
        for key, value in attributes.items():
            headers[f"cloudEvents_{key}"] = str(value)
        body = json.dumps(data, separators=(",", ":")).encode()
        return BusMessage(body, routing_key, headers, event_id, "application/json")
    envelope = {**attributes, **trace, "data": data}
    body = json.dumps(envelope, separators=(",", ":")).encode()
    return BusMessage(body, routing_key, headers, event_id, STRUCTURED_CONTENT_TYPE)
