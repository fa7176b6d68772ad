"""Channel addresses and AsyncAPI bindings per broker kind.

Every name comes from the function the bus itself addresses with (``kafka.naming.topic_for``,
``nats.naming.binding_subject``, ``redis.entries.Keys``, ``sqs.codec.queue_name`` ...), so the
document says what the worker really subscribes and publishes to (docs/brokers.md).
Where AsyncAPI has a binding (AMQP, Kafka, SQS) it is filled in; what it has none for
(JetStream streams and consumers, Redis consumer groups) goes into ``x-outrigger-*`` fields.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

from outrigger.bus.settings import BusSettings
from outrigger.contracts.servers import host_of
from outrigger.errors import ConfigError

AMQP = {"bindingVersion": "0.3.0"}
KAFKA = {"bindingVersion": "0.5.0"}
SQS = {"bindingVersion": "0.2.0"}


@dataclass(frozen=True, slots=True)
class Channel:
    address: str | None
    description: str
    bindings: dict[str, Any] = field(default_factory=dict)
    extensions: dict[str, Any] = field(default_factory=dict)


def _pattern_words(pattern: str) -> bool:
    return bool({"*", "#"} & set(pattern.split(".")))


class Broker:
    """The embedded buses (memory, SQLite): AMQP's model kept in-process."""

    def __init__(self, bus: BusSettings) -> None:
        self.bus = bus

    def input(self, pattern: str) -> Channel:
        return Channel(
            pattern,
            f"Events published to the exchange `{self.bus.exchange}` with a routing key "
            f"matching `{pattern}` (`*` one word, `#` any number), delivered to Outrigger's "
            f"queue `{self.bus.queue}`.",
        )

    def result(self, key: str, exchange: str) -> Channel:
        return Channel(
            key,
            f"Result events, published to the exchange `{exchange}` with routing key `{key}`.",
        )

    def dead_letters(self) -> Channel:
        where = (
            "in the Outrigger process's memory"
            if self.bus.kind == "memory"
            else "in the table `dead_letters` of the bus file"
        )
        return Channel(
            None,
            f"Not a channel on this bus: dead letters are kept {where}; "
            "`outrigger dlq list` shows them and `outrigger dlq replay` sends them back.",
        )

    def receive_bindings(self) -> dict[str, Any]:
        return {}

    def send_bindings(self) -> dict[str, Any]:
        return {}

    def message_bindings(self, key: str | None) -> dict[str, Any]:
        """``key``: what the Kafka record key is, for the brokers that have one."""
        return {}


class Rabbit(Broker):
    def _exchange(self, name: str) -> dict[str, Any]:
        _, _, path = host_of(self.bus.rabbitmq.resolved_url())
        vhost = unquote(path[1:]) if len(path) > 1 else "/"
        kind = self.bus.rabbitmq.exchange_type
        return {"name": name, "type": kind, "durable": True, "autoDelete": False, "vhost": vhost}

    def input(self, pattern: str) -> Channel:
        channel = super().input(pattern)
        bindings = {"amqp": {"is": "routingKey", "exchange": self._exchange(self.bus.exchange)}}
        bindings["amqp"].update(AMQP)
        queue = {"queue": self.bus.queue, "type": self.bus.rabbitmq.queue_type}
        return Channel(channel.address, channel.description, bindings, {"x-outrigger-queue": queue})

    def result(self, key: str, exchange: str) -> Channel:
        channel = super().result(key, exchange)
        amqp = {"is": "routingKey", "exchange": self._exchange(exchange), **AMQP}
        return Channel(channel.address, channel.description, {"amqp": amqp})

    def dead_letters(self) -> Channel:
        name = self.bus.dead_letter_queue
        queue = {"name": name, "durable": True, "exclusive": False, "autoDelete": False}
        _, _, path = host_of(self.bus.rabbitmq.resolved_url())
        queue["vhost"] = unquote(path[1:]) if len(path) > 1 else "/"
        return Channel(
            name,
            "Outrigger's durable dead-letter queue (through the default exchange): the original "
            "body and headers plus the `x-outrigger-*` reason headers.",
            {"amqp": {"is": "queue", "queue": queue, **AMQP}},
        )

    def receive_bindings(self) -> dict[str, Any]:
        return {"amqp": {"ack": True, **AMQP}}

    def send_bindings(self) -> dict[str, Any]:
        # Persistent, mandatory (an unroutable result is refused, not dropped), confirmed.
        return {"amqp": {"deliveryMode": 2, "mandatory": True, **AMQP}}


class Kafka(Broker):
    def input(self, pattern: str) -> Channel:
        from outrigger.bus.base import Subscription
        from outrigger.bus.kafka.naming import subscription_topics, topic_for

        exchange = self.bus.exchange
        if not _pattern_words(pattern):
            topic = topic_for(exchange, pattern)
            return Channel(
                topic,
                f"The topic `{topic}` (exchange `{exchange}`, routing key `{pattern}`).",
                {"kafka": {"topic": topic, **KAFKA}},
            )
        sub = Subscription(self.bus.queue, exchange, (pattern,), temporary=True)
        _, regex = subscription_topics(sub)
        return Channel(
            regex,
            f"Every topic matching `{pattern}` under the exchange prefix `{exchange}.`: the "
            "consumer subscribes with this regular expression (librdkafka re-reads the topic "
            "list as topics appear).",
        )

    def result(self, key: str, exchange: str) -> Channel:
        from outrigger.bus.kafka.naming import topic_for

        topic = topic_for(exchange, key)
        return Channel(
            topic,
            f"The topic `{topic}` (exchange `{exchange}`, routing key `{key}`); "
            "publishing to a topic that does not exist is refused, never auto-created.",
            {"kafka": {"topic": topic, **KAFKA}},
        )

    def dead_letters(self) -> Channel:
        topic = self.bus.dead_letter_queue
        binding = {"topic": topic, "partitions": 1, "topicConfiguration": {"retention.ms": -1}}
        return Channel(
            topic,
            "Outrigger's dead-letter topic (one partition, unlimited retention): the original "
            "value and headers plus the `x-outrigger-*` reason headers.",
            {"kafka": {**binding, **KAFKA}},
        )

    def _client(self) -> dict[str, Any]:
        return {"type": "string", "enum": [self.bus.kafka.client_id]}

    def receive_bindings(self) -> dict[str, Any]:
        group = {"type": "string", "enum": [f"{self.bus.kafka.group_prefix}{self.bus.queue}"]}
        return {"kafka": {"groupId": group, "clientId": self._client(), **KAFKA}}

    def send_bindings(self) -> dict[str, Any]:
        return {"kafka": {"clientId": self._client(), **KAFKA}}

    def message_bindings(self, key: str | None) -> dict[str, Any]:
        if key is None:
            return {}
        return {"kafka": {"key": {"type": "string", "description": key}, **KAFKA}}


class Nats(Broker):
    def _stream(self, exchange: str) -> str:
        from outrigger.bus.nats.naming import entity_name

        if self.bus.nats.create_streams:
            return f"the stream capturing `{exchange}.>` (`{entity_name(exchange)}` if created)"
        return f"the stream capturing `{exchange}.>`"

    def input(self, pattern: str) -> Channel:
        from outrigger.bus.nats.naming import NamingError, binding_subject, entity_name

        try:
            subject = binding_subject(self.bus.exchange, pattern)
        except NamingError as exc:
            raise ConfigError(str(exc)) from exc
        return Channel(
            subject,
            f"Subjects matching `{subject}` in {self._stream(self.bus.exchange)}, read by the "
            f"durable pull consumer `{entity_name(self.bus.queue)}`.",
            extensions={"x-outrigger-consumer": entity_name(self.bus.queue)},
        )

    def result(self, key: str, exchange: str) -> Channel:
        from outrigger.bus.nats.naming import subject_for

        subject = subject_for(exchange, key)
        return Channel(
            subject,
            f"The subject `{subject}` in {self._stream(exchange)}; a subject no "
            "stream captures, or no consumer's filter matches, is refused as unroutable.",
        )

    def dead_letters(self) -> Channel:
        from outrigger.bus.nats.naming import DLQ_PREFIX, check_subject_words, entity_name

        name = self.bus.dead_letter_queue
        subject = f"{DLQ_PREFIX}.{check_subject_words(name, 'dead-letter queue')}"
        return Channel(
            subject,
            f"Outrigger's dead-letter stream `{entity_name(name)}` (limits retention): the "
            "original body and headers plus the `x-outrigger-*` reason headers.",
            extensions={"x-outrigger-stream": entity_name(name)},
        )


class Redis(Broker):
    def _keys(self) -> Any:
        from outrigger.bus.redis.entries import Keys

        return Keys(self.bus.redis.key_prefix)

    def input(self, pattern: str) -> Channel:
        stream = self._keys().stream(self.bus.exchange, self.bus.queue)
        return Channel(
            stream,
            f"The stream `{stream}`: entries whose `routing_key` field matches `{pattern}`, "
            f"read by the consumer group `{self.bus.queue}` (it acknowledges the others "
            "unseen).",
            extensions={"x-outrigger-routing-key": pattern, "x-outrigger-group": self.bus.queue},
        )

    def result(self, key: str, exchange: str) -> Channel:
        stream = self._keys().stream(exchange, "")
        return Channel(
            stream,
            f"The stream `{stream}`, entries with the field `routing_key` = `{key}`; refused "
            "as unroutable while no consumer group binds that key.",
            extensions={"x-outrigger-routing-key": key},
        )

    def dead_letters(self) -> Channel:
        stream = self._keys().dlq(self.bus.dead_letter_queue)
        return Channel(
            stream,
            "Outrigger's dead-letter stream (never trimmed): the original body and headers "
            "plus the `x-outrigger-*` reason headers.",
        )


class Sqs(Broker):
    def _name(self, queue: str) -> str:
        from outrigger.bus.sqs.codec import queue_name

        s = self.bus.sqs
        return queue_name(queue, prefix=s.queue_prefix, fifo=s.fifo)

    def input(self, pattern: str) -> Channel:
        from outrigger.bus.sqs.bus import RETENTION_S
        from outrigger.bus.sqs.routes import binding_tags

        s, name = self.bus.sqs, self._name(self.bus.queue)
        queue = {
            "name": name,
            "fifoQueue": s.fifo,
            "visibilityTimeout": s.visibility_timeout_s,
            "receiveMessageWaitTime": s.wait_time_s,
            "messageRetentionPeriod": RETENTION_S,
            "tags": binding_tags(self.bus.exchange, (pattern,)),
        }
        dlq = {"name": self._name(self.bus.dead_letter_queue), "fifoQueue": s.fifo}
        return Channel(
            name,
            f"Outrigger's queue `{name}`, bound (by a queue tag) to routing keys matching "
            f"`{pattern}` on the exchange `{self.bus.exchange}`.",
            {"sqs": {"queue": queue, "deadLetterQueue": dlq, **SQS}},
        )

    def result(self, key: str, exchange: str) -> Channel:
        prefix = self.bus.sqs.queue_prefix
        queues = f"Every queue named `{prefix}…`" if prefix else "Every queue"
        return Channel(
            None,
            f"{queues} tagged with a binding of the exchange `{exchange}` that "
            f"matches `{key}` gets a copy (the address depends on who binds); a result no "
            "queue binds is refused as unroutable.",
            extensions={"x-outrigger-routing-key": key},
        )

    def dead_letters(self) -> Channel:
        name = self._name(self.bus.dead_letter_queue)
        queue = {"name": name, "fifoQueue": self.bus.sqs.fifo}
        return Channel(
            name,
            "Outrigger's dead-letter queue: the original body and attributes plus the "
            "`x-outrigger-*` reason attributes.",
            {"sqs": {"queue": queue, **SQS}},
        )


_KINDS: dict[str, type[Broker]] = {
    "memory": Broker,
    "sqlite": Broker,
    "rabbitmq": Rabbit,
    "kafka": Kafka,
    "nats": Nats,
    "redis": Redis,
    "sqs": Sqs,
}


def broker_for(bus: BusSettings) -> Broker:
    return _KINDS[bus.kind](bus)
