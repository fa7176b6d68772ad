"""How the bus's AMQP addressing maps onto JetStream (docs/brokers.md, "NATS JetStream").

- A message published to exchange ``E`` with routing key ``K`` goes to subject ``E.K``; one
  stream per exchange captures ``E.>``. Two deployments are isolated by names alone.
- A binding becomes a subject filter: ``*`` stays ``*`` (one token), ``#`` becomes ``>``
  (one or more tokens). NATS has no multi-token wildcard in the middle of a subject, so a
  ``#`` anywhere but last is refused at declare with a clear error; and ``loans.#`` does not
  match the bare key ``loans`` (AMQP's ``#`` may match zero words, NATS's ``>`` may not).
- A queue is a durable pull consumer named after the queue (``.`` becomes ``_``: consumer
  names cannot hold dots). Its bindings are its filter subjects when the server takes
  several (NATS 2.10+) and they do not overlap (a server rule). Otherwise (NATS 2.9, or
  overlapping bindings) it filters on ``E.>`` and the bus drops what no binding matches
  client-side (acks it for this queue only); ``depth`` then counts those too, until the
  consumer has passed them.
- ``exchange=""`` (straight to the queue named by the routing key: dead-letter replays) goes
  to ``_outrigger.direct.<queue>`` in Outrigger's own direct stream, read by a second durable
  consumer of the queue: nobody else's consumer sees a replay.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from outrigger.bus.base import Subscription

DIRECT_PREFIX = "_outrigger.direct"
DLQ_PREFIX = "_outrigger.dlq"
_BAD_TOKEN = re.compile(r"[\s*>]")
_NAME_BAD = re.compile(r"[^A-Za-z0-9_-]")


class NamingError(ValueError):
    """A name or binding NATS cannot express."""


def check_subject_words(name: str, what: str) -> str:
    """``name`` as literal subject tokens: no empty token, no wildcard, no whitespace."""
    if not name or any(not t or _BAD_TOKEN.search(t) for t in name.split(".")):
        raise NamingError(f"{what} {name!r} cannot be a NATS subject (empty token, * > or space)")
    return name


def entity_name(name: str) -> str:
    """A stream or consumer name for ``name`` (dots and other illegal characters -> ``_``)."""
    out = _NAME_BAD.sub("_", name)
    if not out:
        raise NamingError(f"{name!r} cannot name a NATS stream or consumer")
    return out


def subject_for(exchange: str, routing_key: str) -> str:
    return f"{exchange}.{routing_key}"


def direct_subject(queue: str) -> str:
    return f"{DIRECT_PREFIX}.{check_subject_words(queue, 'queue name')}"


def binding_subject(exchange: str, pattern: str) -> str:
    """The NATS filter for the AMQP topic ``pattern`` on ``exchange`` (see the module doc)."""
    words = pattern.split(".")
    for i, word in enumerate(words):
        if word == "#" and i != len(words) - 1:
            raise NamingError(
                f"binding {pattern!r}: NATS has no multi-word wildcard except at the end"
                " (use '*' for one word, or end the pattern with '#')"
            )
        if word not in ("*", "#"):
            check_subject_words(word, f"binding {pattern!r}: word")
    return subject_for(exchange, ".".join(">" if w == "#" else w for w in words))


def subject_matches(pattern: str, subject: str) -> bool:
    """NATS subject matching: ``*`` one token, ``>`` one or more trailing tokens."""
    ptoks, stoks = pattern.split("."), subject.split(".")
    for i, p in enumerate(ptoks):
        if p == ">":
            return len(stoks) > i
        if i >= len(stoks) or (p != "*" and p != stoks[i]):
            return False
    return len(ptoks) == len(stoks)


def overlap(a: str, b: str) -> bool:
    """Whether some subject matches both NATS patterns."""
    atoks, btoks = a.split("."), b.split(".")
    for i, (x, y) in enumerate(zip(atoks, btoks, strict=False)):
        if ">" in (x, y):
            return True
        if x != y and "*" not in (x, y):
            return False
        if i == len(atoks) - 1 or i == len(btoks) - 1:
            return len(atoks) == len(btoks)
    return False


@dataclass(frozen=True, slots=True)
class QueueSpec:
    """What a queue's consumers carry in their description, for every process to read."""

    queue: str
    exchange: str
    filters: tuple[str, ...]  # the NATS form of each binding

    @classmethod
    def of(cls, subscription: Subscription) -> QueueSpec:
        check_subject_words(subscription.exchange, "exchange")
        filters = tuple(binding_subject(subscription.exchange, b) for b in subscription.bindings)
        return cls(subscription.queue, subscription.exchange, filters)

    def filter_subjects(self, *, several: bool) -> list[str]:
        """The consumer's filters: the bindings themselves when the server takes ``several``
        and they are disjoint, else the whole exchange (``E.>``, filtered client-side).

        Not the narrowest cover of the bindings: NATS 2.9 moves a consumer that has not
        delivered yet to the stream's end when its filter changes, so a filter that depends
        on the bindings would skip what waits when a deployment adds a binding."""
        unique = sorted(set(self.filters))
        disjoint = all(not overlap(a, b) for i, a in enumerate(unique) for b in unique[i + 1 :])
        return unique if several and disjoint else [subject_for(self.exchange, ">")]

    def wants(self, subject: str) -> bool:
        return any(subject_matches(f, subject) for f in self.filters)

    def describe(self) -> str:
        body = {"queue": self.queue, "exchange": self.exchange, "bindings": self.filters}
        return json.dumps({"outrigger": body}, separators=(",", ":"))

    @classmethod
    def parse(cls, description: str | None) -> QueueSpec | None:
        try:
            body = json.loads(description or "")["outrigger"]
            return cls(body["queue"], body["exchange"], tuple(body["bindings"]))
        except (ValueError, KeyError, TypeError):
            return None  # a consumer someone else made


def routing_key_of(subject: str, exchange: str) -> str:
    prefix = f"{exchange}."
    return subject[len(prefix) :] if subject.startswith(prefix) else subject
