"""Event sanitisation: declared fields (drop, mask, hash, pseudonymise) and free text."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from pydantic import ValidationError

from outrigger.errors import ConfigError
from outrigger.privacy import (
    EventSanitizer,
    PrivacyConfig,
    PrivacyPolicy,
    RegexDetector,
    SaltedHasher,
    SanitizationConfig,
)
from outrigger.privacy.paths import parse_path
from outrigger.privacy.sanitize import mask

CONFIG = SanitizationConfig.model_validate(
    {
        "events": {
            "com.acme.loans.LoanApplicationSubmitted": {
                "fields": [
                    {"path": "applicant.aadhaar", "action": "drop"},
                    {"path": "applicant.card", "action": "mask"},
                    {"path": "applicant.pan", "action": "hash"},
                    {"path": "applicant.name", "action": "pseudonymize", "entity": "PERSON"},
                    {"path": "references[*].phone", "action": "mask", "keep_last": 2},
                    {
                        "path": "contacts.*.email",
                        "action": "pseudonymize",
                        "entity": "EMAIL_ADDRESS",
                    },
                ],
                "text_fields": ["notes", "references[*].comment"],
            }
        }
    }
)
EVENT = "com.acme.loans.LoanApplicationSubmitted"
PAYLOAD: dict[str, Any] = {
    "amount": 250000,
    "applicant": {
        "name": "Asha Rao",
        "aadhaar": "4991 1866 5246",
        "card": "4111 1111 1111 1111",
        "pan": "ABCPE1234F",
    },
    "references": [
        {"phone": "+91 98765 43210", "comment": "Knows Dr. Vikram Rao, vikram@rao.in"},
        {"phone": "+91 91234 56780", "comment": "colleague"},
    ],
    "contacts": {"home": {"email": "asha@rao.in"}, "work": {"email": "asha@acme.in"}},
    "notes": "Applicant Asha Rao asked us to call +91 98765 43210; PAN ABCPE1234F.",
}
RAW = [
    "Asha Rao",
    "4991 1866 5246",
    "4111 1111 1111 1111",
    "ABCPE1234F",
    "98765 43210",
    "Vikram Rao",
    "vikram@rao.in",
    "asha@rao.in",
    "asha@acme.in",
    "91234 56780",
]


@pytest.fixture
def sanitizer() -> EventSanitizer:
    return EventSanitizer(CONFIG, RegexDetector(), SaltedHasher(b"0123456789abcdef-salt"))


def test_every_action_and_no_raw_pii_left(sanitizer: EventSanitizer) -> None:
    before = copy.deepcopy(PAYLOAD)
    result = sanitizer.sanitize(EVENT, PAYLOAD)
    out = result.payload
    assert before == PAYLOAD  # the input is never modified
    assert "aadhaar" not in out["applicant"]
    assert out["applicant"]["card"] == "**** **** **** 1111"
    assert out["applicant"]["pan"].startswith("hmac:") and len(out["applicant"]["pan"]) == 37
    assert out["applicant"]["name"] == "<PERSON_1>"
    assert out["references"][0]["phone"] == "+** ***** ***10"
    assert out["contacts"]["home"]["email"] == "<EMAIL_1>"
    assert out["contacts"]["work"]["email"] == "<EMAIL_2>"
    assert out["notes"].startswith("Applicant <PERSON_1> asked us to call <PHONE_1>")
    assert out["references"][0]["comment"] == "Knows Dr. <PERSON_2>, <EMAIL_3>"
    assert out["amount"] == 250000
    flat = repr(out)
    for raw in RAW:
        assert raw not in flat, raw
    assert result.vault.rehydrate(out["notes"]) == PAYLOAD["notes"]


def test_hash_is_deterministic_per_salt(sanitizer: EventSanitizer) -> None:
    first = sanitizer.sanitize(EVENT, PAYLOAD).payload["applicant"]["pan"]
    again = sanitizer.sanitize(EVENT, PAYLOAD).payload["applicant"]["pan"]
    other = EventSanitizer(CONFIG, RegexDetector(), SaltedHasher(b"another-salt-0123456"))
    assert first == again
    assert other.sanitize(EVENT, PAYLOAD).payload["applicant"]["pan"] != first


def test_unlisted_event_types_pass_unless_a_default_is_set(sanitizer: EventSanitizer) -> None:
    assert sanitizer.sanitize("other.Event", PAYLOAD).payload == PAYLOAD
    config = SanitizationConfig.model_validate({"default": {"text_fields": ["notes"]}})
    scanned = EventSanitizer(config, RegexDetector()).sanitize("other.Event", PAYLOAD)
    assert "+91 98765 43210" not in scanned.payload["notes"]


def test_missing_paths_and_nulls_are_ignored(sanitizer: EventSanitizer) -> None:
    out = sanitizer.sanitize(EVENT, {"applicant": {"card": None}, "references": "n/a"}).payload
    assert out == {"applicant": {"card": None}, "references": "n/a"}


def test_configuration_errors() -> None:
    with pytest.raises(ConfigError, match="salt"):
        EventSanitizer(CONFIG, RegexDetector())
    with pytest.raises(ConfigError, match="16 bytes"):
        SaltedHasher(b"short")
    with pytest.raises(ValidationError, match="valid field path"):
        SanitizationConfig.model_validate(
            {"events": {"e": {"fields": [{"path": "a..b", "action": "drop"}]}}}
        )
    with pytest.raises(ValidationError):
        SanitizationConfig.model_validate(
            {"events": {"e": {"fields": [{"path": "a", "action": "encrypt"}]}}}
        )


def test_paths_and_mask() -> None:
    assert parse_path("a.b[2].c") == ("a", "b", 2, "c")
    assert parse_path("items[*].card") == ("items", "*", "card")
    assert parse_path("contacts.*.email") == ("contacts", "*", "email")
    assert mask("ABCPE1234F", 4) == "******234F"
    assert mask("12", 4) == "12"
    assert mask(12345678, 2) == "******78"


def test_policy_decides_who_gets_rehydrated_output() -> None:
    assert PrivacyPolicy().rehydrates_for([])
    assert not PrivacyPolicy(output="redacted").rehydrates_for(["clinician"])
    restricted = PrivacyPolicy(rehydrate_roles=frozenset({"clinician"}))
    assert restricted.rehydrates_for(["nurse", "clinician"])
    assert not restricted.rehydrates_for(["billing"])
    config = PrivacyConfig.model_validate(
        {"features": {"triage": {"output": "redacted", "mode": "fast"}}}
    )
    assert config.policy_for("triage").mode == "fast"
    assert config.policy_for("unknown") == PrivacyPolicy()
    with pytest.raises(ValidationError, match="unknown entity types"):
        PrivacyPolicy.model_validate({"entities": ["PERSON", "SHOE_SIZE"]})
