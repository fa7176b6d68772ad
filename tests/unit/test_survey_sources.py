"""Reading a JSON Lines capture for ``outrigger survey``: the worker's envelope parser,
unreadable lines counted by reason, plain JSON by a type field, PII-bearing sources withheld."""

from __future__ import annotations

import json

import pytest

from outrigger.engine.envelope import PlainRule
from outrigger.privacy import RegexDetector
from outrigger.survey.model import Survey
from outrigger.survey.schema import SchemaInference
from outrigger.survey.sources import Collector, read_jsonl

pytestmark = pytest.mark.timeout(30)


def event(i: int, source: str = "urn:acme:crm") -> bytes:
    body = {"specversion": "1.0", "id": str(i), "source": source, "type": "com.acme.T",
            "time": f"2026-01-01T00:00:{i:02d}Z", "data": {"n": i}}  # fmt: skip
    return json.dumps(body).encode()


def survey_of(lines: list[bytes], rules: list[PlainRule] | None = None) -> Survey:
    collector = Collector(Survey("jsonl", "test"), SchemaInference(RegexDetector()))
    read_jsonl(None, lines, collector, rules or [])
    return collector.survey


def test_unreadable_lines_are_counted_by_reason_and_the_rest_is_read() -> None:
    lines = [event(0), b"{oops", b"\xff\xfe", b"   ", b'{"kind": "Plain"}', event(10)]
    survey = survey_of(lines)
    assert survey.messages == 5  # the blank line is not a message
    assert dict(survey.malformed) == {"not_json": 1, "not_utf8": 1, "unrecognised_event": 1}
    assert survey.types["com.acme.T"].count == 2
    assert survey.window_s == 10.0


def test_plain_json_by_type_field() -> None:
    survey = survey_of([b'{"kind": "Plain", "a": 1}'], [PlainRule("kind")])
    t = survey.types["Plain"]
    assert t.plain_type_field == "kind"
    assert sorted(t.fields) == ["a", "kind"]


def test_a_source_holding_pii_is_withheld() -> None:
    survey = survey_of([event(1, "mailto:asha.k@example.org"), event(2)])
    assert sorted(survey.types["com.acme.T"].sources) == ["(withheld: holds PII)", "urn:acme:crm"]
