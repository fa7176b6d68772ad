"""The Kafka bus's pure parts: addressing, the record mapping, the partition window, leases."""

from __future__ import annotations

import itertools
import json
import re

from outrigger.bus.base import BusMessage, Subscription
from outrigger.bus.kafka import leases
from outrigger.bus.kafka.naming import (
    matches,
    pattern_regex,
    routing_key_of,
    subscription_topics,
    topic_for,
)
from outrigger.bus.kafka.records import KEY_B64_HEADER, KEY_HEADER, from_record, to_record
from outrigger.bus.kafka.window import Lease, PartitionWindow
from outrigger.bus.topics import topic_matches


def test_pattern_regex_agrees_with_amqp_matching() -> None:
    keys = [".".join(k) for n in range(1, 5) for k in itertools.product("abc", repeat=n)]
    for n in range(1, 5):
        for words in itertools.product(["a", "b", "*", "#"], repeat=n):
            pattern = ".".join(words)
            regex = re.compile(f"^{pattern_regex(pattern)}$")
            for key in keys:
                assert bool(regex.match(key)) == topic_matches(pattern, key), (pattern, key)


def test_addressing_prefixes_the_exchange_and_keeps_queues_apart() -> None:
    sub = Subscription("outrigger.pipelines", "domain.events", ("loans.#", "claims.filed"))
    names, regex = subscription_topics(sub)
    assert names == ["domain.events.claims.filed", "outrigger.pipelines"]
    assert topic_for("domain.events", "loans.x") == "domain.events.loans.x"
    assert topic_for("", "outrigger.pipelines") == "outrigger.pipelines"
    assert matches(sub, "domain.events.loans.application.submitted")
    assert not matches(sub, "domain.events.claims.other")
    assert not matches(sub, "other.events.loans.x"), "another deployment's exchange"
    assert regex is not None and not re.match(regex, "__outrigger-attempts.outrigger.pipelines")
    assert routing_key_of("domain.events.loans.x", sub) == "loans.x"
    assert routing_key_of("outrigger.pipelines", sub) == "outrigger.pipelines"


def test_cloudevents_headers_use_the_kafka_binding_on_the_wire() -> None:
    message = BusMessage(
        b"{}",
        "loans.x",
        {"cloudEvents_id": "e1", "cloudEvents_partitionkey": "loan-7", "traceparent": "t"},
        "e1",
        "application/json",
    )
    record = to_record(message)
    wire = dict(record.headers)
    assert wire["ce_id"] == b"e1" and "cloudEvents_id" not in wire
    assert wire["content-type"] == b"application/json"
    assert record.key == b"loan-7", "the partitionkey extension is the record key"
    typed = to_record(BusMessage(b"{}", "k", {"cloudEvents_datacontenttype": "text/plain"}))
    assert dict(typed.headers) == {"content-type": b"text/plain"}, "never ce_datacontenttype"
    back = from_record(record.value, record.key, record.headers, "loans.x")
    assert back.headers["cloudEvents_id"] == "e1"
    assert back.headers[KEY_HEADER] == "loan-7"
    assert (back.message_id, back.content_type) == ("e1", "application/json")


def test_keys_survive_a_round_trip_even_when_not_utf8() -> None:
    consumed = from_record(b"x", b"\xff\x00", [("ce_specversion", b"1.0")], "k")
    assert KEY_B64_HEADER in consumed.headers
    assert to_record(consumed).key == b"\xff\x00"
    structured = BusMessage(
        json.dumps({"specversion": "1.0", "partitionkey": "p9"}).encode(),
        "k",
        content_type="application/cloudevents+json",
    )
    assert to_record(structured).key == b"p9"
    assert to_record(BusMessage(b"x", "k")).key is None


def _window(*keys: str | None, prior: Lease | None = None) -> PartitionWindow:
    window = PartitionWindow(prior)
    for offset, key in enumerate(keys):
        window.add(offset, key.encode() if key else None, BusMessage(b"", "k"))
    return window


def test_same_key_waits_for_the_previous_record_other_keys_do_not() -> None:
    window = _window("a", "a", "b", None)
    window.lease()
    first = [window.take() for _ in range(3)]
    assert [e.offset for e in first] == [0, 2, 3]
    assert not window.has_eligible(), "offset 1 waits for offset 0 (same key)"
    window.settle(first[0], done=True)
    assert window.has_eligible() and window.take().offset == 1


def test_position_commits_only_contiguous_settled_records() -> None:
    window = _window(None, None, None)
    window.lease()
    a, b, c = (window.take() for _ in range(3))
    window.settle(b, done=True)
    window.settle(c, done=True)
    assert window.position() == 0, "offset 0 is still in flight"
    window.settle(a, done=True)
    assert window.position() == 3


def test_requeue_counts_and_needs_a_new_lease() -> None:
    window = _window("a")
    assert window.needs_lease()
    window.lease()
    entry = window.take()
    assert entry.delivered == 1
    window.settle(entry, done=False)
    assert window.needs_lease(), "attempt 2 must be logged before it is handed out"
    window.lease()
    assert window.take().delivered == 2


def test_a_prior_lease_continues_the_count_and_skips_settled_records() -> None:
    window = _window("a", "b", "c", prior=Lease({0: 3, 2: 1}, frozenset({1})))
    window.lease()
    taken = [window.take() for _ in range(2)]
    assert [(e.offset, e.delivered) for e in taken] == [(0, 4), (2, 2)]
    assert not window.has_eligible(), "offset 1 was settled before the restart"


def test_lease_encoding_round_trips() -> None:
    lease = Lease({5: 2, 9: 1}, frozenset({6, 7, 8, 12}))
    raw = leases.encode(lease)
    assert json.loads(raw)["d"] == [[6, 8], [12, 12]]
    assert leases.decode(raw) == lease
    assert leases.decode(b"not json") == Lease()
