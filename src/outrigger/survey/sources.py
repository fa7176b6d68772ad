"""Where a survey's events come from: the configured bus (a temporary subscription that takes
nothing from any consumer, as ``outrigger events tail`` uses) or a JSON Lines capture. Both are
read with the worker's envelope parser, so structured, binary and plain-JSON events are
understood as the worker understands them; an unreadable message is counted by its reason."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterable, Sequence
from datetime import datetime
from pathlib import Path

from outrigger.bus.base import BusMessage, EventBus, Subscription
from outrigger.engine.envelope import Event, PlainRule
from outrigger.engine.follow import Followed, follow, follower, read
from outrigger.survey.model import Survey
from outrigger.survey.schema import SchemaInference

JSONL_CONTENT_TYPE = "application/json"


class Collector:
    """Adds followed messages to a ``Survey``."""

    def __init__(self, survey: Survey, inference: SchemaInference) -> None:
        self.survey = survey
        self._inference = inference
        self._times: list[datetime] = []

    def add(self, followed: Followed, plain_rules: Sequence[PlainRule] = ()) -> None:
        self.survey.messages += 1
        event = followed.event
        if event is None:
            code = (followed.error or "unreadable").split(":", 1)[0]
            self.survey.malformed[code] += 1
            return
        t = self.survey.of_type(event.type)
        t.count += 1
        source = "(withheld: holds PII)" if self._inference.has_pii(event.source) else event.source
        t.sources[source] += 1
        if self.survey.input == "bus" and followed.message.domain_routing_key:
            t.keys[followed.message.domain_routing_key] += 1
        if event.mode == "plain" and plain_rules:
            t.plain_type_field = plain_rules[0].type_field
        self._inference.add(t, event.data)
        self._note_time(event)

    def _note_time(self, event: Event) -> None:
        # An unreadable time attribute only leaves the window unknown.
        with contextlib.suppress(ValueError):
            if event.time:
                self._times.append(datetime.fromisoformat(event.time.replace("Z", "+00:00")))

    def time_window_s(self) -> float | None:
        """The span of the events' ``time`` attributes (a capture's own window)."""
        aware = [t for t in self._times if t.tzinfo is not None]
        if len(aware) < 2:
            return None
        span = (max(aware) - min(aware)).total_seconds()
        return span if span > 0 else None


def jsonl_messages(lines: Iterable[bytes], name: str) -> Iterable[BusMessage]:
    """One message per non-blank line (the routing key is the capture's name)."""
    for line in lines:
        body = line.strip()
        if body:
            yield BusMessage(body, name, {}, None, JSONL_CONTENT_TYPE)


def read_jsonl(
    path: Path | None, lines: Iterable[bytes], collector: Collector, rules: Sequence[PlainRule]
) -> None:
    """A JSON Lines capture: each line a CloudEvent object, or plain JSON with ``rules``."""
    name = path.name if path is not None else "stdin"
    for message in jsonl_messages(lines, name):
        collector.add(read(message, rules), rules)
    collector.survey.window_s = collector.time_window_s()


def sample_subscription(exchange: str, patterns: Sequence[str], queue: str) -> Subscription:
    """The survey's own temporary subscription (see ``engine.follow.follower``)."""
    return follower(exchange, patterns, f"{queue}.survey")


async def sample_bus(
    bus: EventBus,
    subscription: Subscription,
    collector: Collector,
    rules: Sequence[PlainRule],
    *,
    count: int | None,
    seconds: float | None,
) -> None:
    """Samples the bus until ``count`` messages or ``seconds`` passed; the window is the
    time the temporary subscription was receiving. Declare ``subscription`` first: from then
    on every matching event is copied to it."""
    started = time.monotonic()
    async for followed in follow(bus, subscription, rules=rules, count=count, timeout_s=seconds):
        collector.add(followed, rules)
    collector.survey.window_s = time.monotonic() - started
