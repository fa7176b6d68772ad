"""Output validation against a JSON Schema, with short errors and a repair prompt."""

from __future__ import annotations

import json

import pytest

from outrigger.errors import ConfigError
from outrigger.guard import OutputValidator, parse_json_text, repair_prompt
from outrigger.guard.output import NotJson

SCHEMA = {
    "type": "object",
    "properties": {
        "score": {"type": "number", "minimum": 0, "maximum": 1},
        "label": {"enum": ["fraud", "legit"]},
        "reasons": {"type": "array", "items": {"type": "string"}},
    },
    "required": ["score", "label"],
    "additionalProperties": False,
}


@pytest.fixture
def validator() -> OutputValidator:
    return OutputValidator(SCHEMA)


@pytest.mark.parametrize(
    "text",
    [
        '{"score": 0.2, "label": "legit"}',
        '```json\n{"score": 0.2, "label": "legit"}\n```',
        'Here is the result:\n```\n{"score": 0.2, "label": "legit"}\n```\nAnything else?',
        'Sure! {"score": 0.2, "label": "legit"} Hope that helps.',
    ],
)
def test_valid_output_in_common_wrappings(validator: OutputValidator, text: str) -> None:
    check = validator.check_text(text)
    assert check.ok and check.errors == ()
    assert check.value == {"score": 0.2, "label": "legit"}
    assert check.message == "valid"


def test_score_outside_unit_interval_is_rejected(validator: OutputValidator) -> None:
    check = validator.check_text('{"score": 1.7, "label": "legit"}')
    assert not check.ok
    assert check.errors == ("$.score: 1.7 is greater than the maximum of 1",)


def test_errors_are_short_located_and_capped() -> None:
    validator = OutputValidator(SCHEMA, max_errors=2)
    check = validator.check({"score": "high", "label": "maybe", "reasons": [1], "x": 1})
    assert not check.ok
    assert len(check.errors) == 3 and check.errors[-1] == "... and 2 more"
    everything = OutputValidator(SCHEMA).check(
        {"score": "high", "label": "maybe", "reasons": [1], "x": 1}
    )
    joined = " | ".join(everything.errors)
    assert "$.score: 'high' is not of type 'number'" in joined
    assert "$.reasons[0]: 1 is not of type 'string'" in joined
    assert "$.label: 'maybe' is not one of ['fraud', 'legit']" in joined
    assert "$: Additional properties are not allowed ('x' was unexpected)" in joined
    missing = OutputValidator(SCHEMA).check({})
    assert "$: 'score' is a required property" in missing.message


def test_not_json(validator: OutputValidator) -> None:
    assert validator.check_text("I think it is fraud.").errors == ("the output is not JSON",)
    assert validator.check_text("   ").errors == ("the output is empty",)
    with pytest.raises(NotJson):
        parse_json_text("{broken")


def test_invalid_schema_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="not a valid JSON Schema"):
        OutputValidator({"type": "numbr"})


def test_repair_prompt_names_the_errors_and_the_schema(validator: OutputValidator) -> None:
    check = validator.check_text('{"score": 1.7, "label": "legit"}')
    prompt = repair_prompt(check.errors, SCHEMA)
    assert "$.score: 1.7 is greater than the maximum of 1" in prompt
    assert json.dumps(SCHEMA, separators=(",", ":")) in prompt
    assert prompt.endswith("no prose and no code fence.")
    assert "JSON Schema" not in repair_prompt(check.errors)
