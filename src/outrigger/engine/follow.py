"""Following events on a bus without taking them from anyone (``outrigger events tail``).

A follower declares its own temporary subscription (``Subscription.temporary``): the broker
gives it a copy of every message its bindings match, while Outrigger's worker and the core
services' consumers keep receiving theirs. The subscription is gone when the follower stops.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import fnmatch
import time
import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Any

from outrigger.bus.base import BusMessage, EventBus, Subscription
from outrigger.engine.envelope import Event, PlainRule, parse_event
from outrigger.errors import MalformedEvent

#: Followers show events of any size the bus carries; the worker's limit does not apply.
NO_LIMIT = 1 << 62


@dataclass(frozen=True)
class Followed:
    message: BusMessage
    event: Event | None  # None: not an event Outrigger can read (``error`` says why)
    error: str | None = None

    def as_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"routing_key": self.message.domain_routing_key}
        if self.event is None:
            out["error"] = self.error
            out["body_base64"] = base64.b64encode(self.message.body).decode("ascii")
            return out
        e = self.event
        out.update(id=e.id, type=e.type, source=e.source, subject=e.subject, time=e.time)
        out.update(mode=e.mode, data=e.data)
        if e.extensions:
            out["extensions"] = dict(e.extensions)
        return out


def follower(exchange: str, patterns: Sequence[str], name: str) -> Subscription:
    """A temporary subscription named after ``name`` (unique per follower)."""
    return Subscription(
        f"{name}.tail.{uuid.uuid4().hex[:8]}", exchange, tuple(patterns), temporary=True
    )


def read(message: BusMessage, rules: Sequence[PlainRule]) -> Followed:
    try:
        return Followed(message, parse_event(message, rules, NO_LIMIT))
    except MalformedEvent as exc:
        return Followed(message, None, f"{exc.code}: {exc}")


async def follow(
    bus: EventBus,
    subscription: Subscription,
    *,
    types: Sequence[str] = (),
    rules: Sequence[PlainRule] = (),
    count: int | None = None,
    timeout_s: float | None = None,
) -> AsyncIterator[Followed]:
    """Events on ``subscription`` whose type matches one of ``types`` (globs; all when
    empty), until ``count`` were yielded or ``timeout_s`` passed."""
    deadline = None if timeout_s is None else time.monotonic() + timeout_s
    seen = 0
    stream = bus.consume(subscription, prefetch=100)
    try:
        while count is None or seen < count:
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                return
            try:
                delivery = await asyncio.wait_for(anext(stream), left)
            except (TimeoutError, StopAsyncIteration):
                return
            followed = read(delivery.message, rules)
            await delivery.ack()  # our own copy: nobody else was waiting for it
            if types and not _type_matches(followed, types):
                continue
            seen += 1
            yield followed
    finally:
        with contextlib.suppress(Exception):
            await stream.aclose()  # type: ignore[attr-defined]


def _type_matches(followed: Followed, types: Sequence[str]) -> bool:
    event = followed.event
    return event is not None and any(fnmatch.fnmatchcase(event.type, t) for t in types)
