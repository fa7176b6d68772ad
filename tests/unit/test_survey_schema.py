"""Schema inference for ``outrigger survey``: dotted paths (``[*]`` for list items), JSON
types, presence, and PII counted per field without keeping any value."""

from __future__ import annotations

import pytest

from outrigger.privacy import RegexDetector
from outrigger.survey.model import TypeSurvey
from outrigger.survey.schema import SchemaInference, child_path, walk

pytestmark = pytest.mark.timeout(30)


def infer(*payloads: object) -> TypeSurvey:
    t = TypeSurvey("t")
    inference = SchemaInference(RegexDetector())
    for payload in payloads:
        t.count += 1
        inference.add(t, payload)
    return t


def test_paths_cover_nested_objects_and_list_items() -> None:
    t = infer({"a": {"b": 1, "c": [{"d": "x"}, {"d": None}]}, "tags": ["p", "q"]})
    assert sorted(t.fields) == ["a", "a.b", "a.c", "a.c[*]", "a.c[*].d", "tags", "tags[*]"]
    assert dict(t.fields["a.c[*].d"].types) == {"string": 1, "null": 1}
    assert dict(t.fields["a"].types) == {"object": 1}
    assert dict(t.fields["tags"].types) == {"array": 1}


def test_presence_counts_each_event_once_and_types_accumulate() -> None:
    t = infer({"x": 1, "items": [{"y": 1}, {"y": 2}]}, {"x": 1.5}, {"x": "1"}, {"z": True})
    x, y = t.fields["x"], t.fields["items[*].y"]
    assert x.present == 3
    assert dict(x.types) == {"integer": 1, "number": 1, "string": 1}
    assert y.present == 1  # two list items, one event
    assert dict(t.fields["z"].types) == {"boolean": 1}


def test_pii_is_counted_per_entity_type_and_no_value_is_kept() -> None:
    t = infer(
        {"contact": {"email": "asha.k@example.org"}, "card": 4111111111111111},
        {"contact": {"email": "not an address"}, "card": 5500005555555559},
    )
    assert dict(t.fields["contact.email"].pii) == {"EMAIL_ADDRESS": 1}
    assert dict(t.fields["card"].pii) == {"CREDIT_CARD": 2}  # numbers are scanned too
    text = repr(t)
    for planted in ("asha.k@example.org", "4111111111111111", "not an address"):
        assert planted not in text


def test_keys_that_are_not_names_become_wildcards() -> None:
    # A map keyed by e-mail or by number must not put a value into a path.
    assert child_path("by_email", "asha@example.org") == "by_email.*"
    assert child_path("", "12345") == "*"
    assert child_path("a", "first_name") == "a.first_name"
    assert [p for p, _ in walk({"m": {"x@y.z": 1}})] == ["m", "m.*"]


def test_a_scalar_payload_is_one_field() -> None:
    t = infer("plain text data", "more")
    assert list(t.fields) == ["(data)"]
    assert t.fields["(data)"].present == 2
