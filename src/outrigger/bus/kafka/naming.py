"""How the bus's AMQP addressing maps onto Kafka topics (docs/brokers.md, "Kafka").

- A domain event published to exchange ``E`` with routing key ``K`` lives in topic ``E.K``;
  the exchange is a topic-name prefix, so two deployments are isolated by names alone.
- ``exchange=""`` addresses the queue named by the routing key: that is the topic of the
  same name (replays and anything sent straight to Outrigger's queue).
- A subscription's bindings become one regular expression over topic names: literal words,
  ``*`` = exactly one dot-separated word, ``#`` = zero or more words; plus the queue's own
  topic. Its queue is the consumer group.
- A temporary subscription (``events tail``) is a consumer group alone: no queue topic, no
  attempts log, and no topic created for its bindings; its group is deleted when it stops.
"""

from __future__ import annotations

import re

from outrigger.bus.base import Subscription

#: Characters Kafka allows in a topic name.
_LEGAL = re.compile(r"^[A-Za-z0-9._-]{1,249}$")
_WORD = "[^.]+"


def topic_for(exchange: str, routing_key: str) -> str:
    """The topic a message published to ``exchange`` with ``routing_key`` goes to."""
    return f"{exchange}.{routing_key}" if exchange else routing_key


def check_topic(name: str) -> str:
    if not _LEGAL.match(name) or name in (".", ".."):
        raise ValueError(f"{name!r} is not a legal Kafka topic name ([A-Za-z0-9._-], ≤249)")
    return name


def routing_key_of(topic: str, subscription: Subscription) -> str:
    """The routing key a record of ``topic`` was published with, as a subscriber sees it."""
    prefix = f"{subscription.exchange}."
    if subscription.exchange and topic.startswith(prefix):
        return topic[len(prefix) :]
    return topic


def pattern_regex(pattern: str) -> str:
    """An AMQP topic pattern as a regular expression over routing keys (no anchors).

    Only groups, classes, ``*`` and ``?`` are used: librdkafka's regex engine understands
    them too (it has no ``(?:``)."""
    words: list[str] = []
    for word in pattern.split("."):
        if not (word == "#" and words and words[-1] == "#"):  # "#.#" is "#"
            words.append(word)
    if words == ["#"]:
        return ".*"
    out = ""
    for i, word in enumerate(words):
        if word == "#":
            out += f"({_WORD}\\.)*" if i == 0 else f"(\\.{_WORD})*"
            continue
        token = _WORD if word == "*" else re.escape(word)
        glue = "" if i == 0 or (words[i - 1] == "#" and i - 1 == 0) else "\\."
        out += glue + token
    return out


def subscription_topics(subscription: Subscription) -> tuple[list[str], str | None]:
    """(exact topic names, one anchored regex or None) that the subscription reads.

    The queue's own topic is among the names (not a temporary subscription's: nothing is
    sent straight to a follower); bindings without wildcards are names, the others are joined
    into one regex (librdkafka takes a ``^``-prefixed name as a regex).
    """
    names = [] if subscription.temporary else [subscription.queue]
    regexes: list[str] = []
    for binding in subscription.bindings:
        if "*" in binding.split(".") or "#" in binding.split("."):
            prefix = re.escape(f"{subscription.exchange}.") if subscription.exchange else ""
            regexes.append(prefix + pattern_regex(binding))
        else:
            names.append(topic_for(subscription.exchange, binding))
    regex = f"^({'|'.join(regexes)})$" if regexes else None
    return sorted(set(names)), regex


def matches(subscription: Subscription, topic: str) -> bool:
    """Whether the subscription reads ``topic`` (the same rule the consumer subscribes with)."""
    names, regex = subscription_topics(subscription)
    return topic in names or (regex is not None and re.match(regex, topic) is not None)
