"""How messages and bindings are laid out in Redis: key names and stream entry fields.

An exchange is one stream named by the exchange itself, so a core service publishes with
``XADD domain.events * routing_key loans.application.submitted body '{...}'``. Entry fields:
``routing_key``, ``body``, optional ``message_id``, ``content_type``, ``queue`` (the entry is
for that queue alone: a dead-letter replay) and one ``h:<name>`` field per header.

Outrigger's own keys start with the configured prefix:
``<prefix>:bindings:<exchange>`` (hash: queue -> {"patterns": [...], "expires": ts|null}),
``<prefix>:queues`` (hash: queue -> its exchange), ``<prefix>:temporary`` (sorted set of
followers' queues by expiry), ``<prefix>:dlq:<name>`` (a dead-letter stream) and
``<prefix>:q:<queue>`` (the stream of a queue bound to no exchange).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from outrigger.bus.base import BusMessage
from outrigger.bus.topics import any_topic_matches

ROUTING_KEY, BODY, MESSAGE_ID, CONTENT_TYPE, QUEUE = (
    b"routing_key",
    b"body",
    b"message_id",
    b"content_type",
    b"queue",
)
HEADER = b"h:"

Fields = Mapping[bytes, bytes]


@dataclass(frozen=True, slots=True)
class Keys:
    prefix: str

    @property
    def queues(self) -> str:
        return f"{self.prefix}:queues"

    @property
    def temporary(self) -> str:
        return f"{self.prefix}:temporary"

    def bindings(self, exchange: str) -> str:
        return f"{self.prefix}:bindings:{exchange}"

    def dlq(self, name: str) -> str:
        return f"{self.prefix}:dlq:{name}"

    def stream(self, exchange: str, queue: str) -> str:
        """The stream a queue's group reads: its exchange's, or its own without one."""
        return exchange if exchange else f"{self.prefix}:q:{queue}"


def to_fields(message: BusMessage, queue: str | None = None) -> dict[bytes, bytes]:
    fields = {ROUTING_KEY: message.routing_key.encode(), BODY: message.body}
    if message.message_id is not None:
        fields[MESSAGE_ID] = message.message_id.encode()
    if message.content_type is not None:
        fields[CONTENT_TYPE] = message.content_type.encode()
    if queue is not None:
        fields[QUEUE] = queue.encode()
    for name, value in message.headers.items():
        fields[HEADER + name.encode()] = value.encode()
    return fields


def _text(raw: bytes | None) -> str | None:
    return None if raw is None else raw.decode("utf-8", errors="replace")


def to_message(fields: Fields) -> BusMessage:
    headers = {
        k[len(HEADER) :].decode("utf-8", errors="replace"): v.decode("utf-8", errors="replace")
        for k, v in fields.items()
        if k.startswith(HEADER)
    }
    return BusMessage(
        fields.get(BODY, b""),
        _text(fields.get(ROUTING_KEY)) or "",
        headers,
        _text(fields.get(MESSAGE_ID)),
        _text(fields.get(CONTENT_TYPE)),
    )


def addressed_to(fields: Fields) -> str | None:
    """The one queue an entry is for (a replay), or None for every bound queue."""
    return _text(fields.get(QUEUE))


@dataclass(frozen=True, slots=True)
class Binding:
    """A queue's binding to an exchange, as kept in the bindings hash."""

    patterns: tuple[str, ...]
    expires: float | None = None  # a follower's: removed once this time has passed

    def live(self, now: float) -> bool:
        return self.expires is None or self.expires > now

    def matches(self, routing_key: str) -> bool:
        return any_topic_matches(self.patterns, routing_key)

    def dump(self) -> str:
        return json.dumps({"patterns": list(self.patterns), "expires": self.expires})

    @classmethod
    def load(cls, raw: bytes | str | None) -> Binding | None:
        if raw is None:
            return None
        try:
            data = json.loads(raw)
            return cls(tuple(str(p) for p in data["patterns"]), data.get("expires"))
        except (ValueError, KeyError, TypeError):
            return None  # written by something else: not ours to route by

    def merged(self, patterns: Iterable[str], expires: float | None) -> Binding:
        """Declaring again adds bindings, like AMQP's queue.bind."""
        return Binding(tuple(dict.fromkeys([*self.patterns, *patterns])), expires)
