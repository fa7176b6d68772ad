"""Classification for ``outrigger survey``: sensitive (PII found or field names that say
so), AI candidate (free text, numeric features), low value (ids, enums, timestamps)."""

from __future__ import annotations

import random

import pytest

from outrigger.privacy import RegexDetector
from outrigger.survey.classify import classify, kind_of
from outrigger.survey.model import TypeSurvey
from outrigger.survey.names import sensitive_name
from outrigger.survey.schema import SchemaInference

pytestmark = pytest.mark.timeout(30)

WORDS_TEXT = (
    "the refund never arrived although the agent promised it twice and my statement still "
    "shows the fee charged on the closed account which is unacceptable"
)
WORDS = WORDS_TEXT.split()


def infer(payloads: list[dict[str, object]]) -> TypeSurvey:
    t = TypeSurvey("t")
    inference = SchemaInference(RegexDetector())
    for payload in payloads:
        t.count += 1
        inference.add(t, payload)
    t.classification = classify(t)
    return t


def complaint(r: random.Random, i: int) -> dict[str, object]:
    return {
        "ticket_id": f"T-{i}",
        "channel": r.choice(["web", "phone", "branch"]),
        "opened_at": f"2026-03-0{1 + i % 9}T10:00:00Z",
        "text": " ".join(r.choice(WORDS) for _ in range(30)),
    }


def test_free_text_makes_an_ai_candidate() -> None:
    r = random.Random(3)
    t = infer([complaint(r, i) for i in range(20)])
    c = t.classification
    assert c is not None
    assert c.labels == ("ai-candidate",)
    assert c.text_fields == ("text",)
    assert any("free text" in reason and "text" in reason for reason in c.reasons)
    assert kind_of(t.fields["ticket_id"]) == "id"
    assert kind_of(t.fields["channel"]) == "enum"
    assert kind_of(t.fields["opened_at"]) == "timestamp"


def test_pii_and_sensitive_names_make_it_sensitive() -> None:
    t = infer([
        {"customer": {"full_name": f"Person {i}", "email": f"p{i}@example.com"},
         "account_number": f"00{i:07d}9", "status": "active"}
        for i in range(10)
    ])  # fmt: skip
    c = t.classification
    assert c is not None
    assert c.labels == ("sensitive",)
    assert set(c.sensitive_fields) == {"customer.full_name", "customer.email", "account_number"}
    assert c.sensitive_fields["customer.email"].startswith("PII: EMAIL_ADDRESS")
    assert c.sensitive_fields["customer.full_name"] == "name: person's name"


def test_sensitive_and_candidate_at_once() -> None:
    r = random.Random(4)
    payloads = [{**complaint(r, i), "email": f"c{i}@example.net"} for i in range(10)]
    c = infer(payloads).classification
    assert c is not None
    assert c.labels == ("sensitive", "ai-candidate")


def test_ids_enums_and_timestamps_only_are_low_value() -> None:
    t = infer([
        {"order_id": f"O-{i}", "status": ["new", "shipped"][i % 2],
         "shipped_at": "2026-01-01T00:00:00Z", "event_uuid": "7f1b7f6e-8a56-4d6b-9f0e-1e2d3c4b5a69"}
        for i in range(12)
    ])  # fmt: skip
    c = t.classification
    assert c is not None
    assert c.labels == ("low-value",)
    assert "id (event_uuid, order_id)" in c.reasons[0]


def test_numeric_features_make_a_scoring_candidate() -> None:
    r = random.Random(5)
    t = infer([
        {"loan_id": f"L{i}", "amount": r.randint(1000, 9000), "income": r.random() * 1e5,
         "term_months": r.choice([12, 24, 36, 48])}
        for i in range(20)
    ])  # fmt: skip
    c = t.classification
    assert c is not None
    assert c.labels == ("ai-candidate",)
    assert set(c.numeric_fields) == {"amount", "income", "term_months"}


def test_short_repeated_strings_are_not_free_text() -> None:
    t = infer([{"note": "see attached document for the details please"} for _ in range(10)])
    assert t.classification is not None
    assert t.classification.text_fields == ()  # wordy, but one value repeated


@pytest.mark.parametrize(
    ("path", "sensitive"),
    [
        ("customer.name", True),
        ("firstName", True),
        ("applicant.dob", True),
        ("iban", True),
        ("card_number", True),
        ("home_address", True),
        ("pan", True),
        ("product.name", False),
        ("merchant_name", False),
        ("card_type", False),
        ("account_type", False),
        ("amount", False),
    ],
)
def test_field_names_that_say_personal_data(path: str, sensitive: bool) -> None:
    assert (sensitive_name(path) is not None) is sensitive
