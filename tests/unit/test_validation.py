"""JSON Schema checks: jsonschema-rs answers "valid", jsonschema decides everything else, and
the two together give jsonschema's verdict on every instance."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from jsonschema import Draft202012Validator

from outrigger.engine.steps.publish import PublishRunner
from outrigger.errors import OutputValidationError
from outrigger.validation import SchemaCheck

DEMO = Path(__file__).resolve().parents[2] / "src/outrigger/bundled/pipelines/demo.yaml"

#: Keywords of several kinds at once: types and bounds, arrays by position, references,
#: combinators, dependencies, unevaluated properties and a pattern.
RICH: dict[str, Any] = {
    "type": "object",
    "required": ["id", "amount"],
    "properties": {
        "id": {"type": "string", "minLength": 1, "maxLength": 4, "pattern": "^[a-z]+[0-9]*$"},
        "amount": {"type": "integer", "minimum": 0, "exclusiveMaximum": 100},
        "rate": {"type": "number", "multipleOf": 0.5},
        "kind": {"enum": ["a", 1, None]},
        "flag": {"const": True},
        "pair": {"type": "array", "prefixItems": [{"type": "string"}, {"type": "integer"}]},
        "tags": {"type": "array", "items": {"$ref": "#/$defs/tag"}, "uniqueItems": True},
        "either": {"oneOf": [{"type": "string"}, {"type": "integer", "minimum": 1}]},
        "nested": {"type": "object", "additionalProperties": False, "properties": {"x": {}}},
    },
    "dependentRequired": {"rate": ["kind"]},
    "not": {"required": ["forbidden"]},
    "unevaluatedProperties": {"type": ["string", "integer"]},
    "$defs": {"tag": {"type": "string", "maxLength": 2}},
}

POOL: list[Any] = [
    0, 1, -1, 2, 99, 100, 1.0, 1.5, 2.5, 0.3, True, False, None, "", "a", "ab", "abc1",
    "abcde", "A1", "1a", [], [1], ["a"], ["a", 1], [1, "a"], ["ab", "ab"], ["ab", "c"],
    ["abc"], {}, {"x": 1}, {"y": 1}, 10**20, "low", "high",
]  # fmt: skip
EXTRA_KEYS = ["forbidden", "other", "more"]


def demo_schemas() -> list[dict[str, Any]]:
    spec = yaml.safe_load(DEMO.read_text())
    found = []
    for pipeline in spec["pipelines"]:
        if "input_schema" in pipeline:
            found.append(pipeline["input_schema"])
        for step in pipeline["steps"]:
            if "publish" in step and "schema" in step["publish"]:
                found.append(step["publish"]["schema"])
    return found


class Instances:
    """Random instances for one schema: most values fit their property's own schema (judged by
    jsonschema, only to steer the draw), so both verdicts come up often."""

    def __init__(self, schema: dict[str, Any], rng: random.Random) -> None:
        self.rng = rng
        self.required: list[str] = schema.get("required", [])
        properties: dict[str, Any] = schema.get("properties", {})
        defs = schema.get("$defs", {})
        self.keys = [*properties, *self.required, *EXTRA_KEYS]
        self.fitting = {
            key: [v for v in POOL if Draft202012Validator({**sub, "$defs": defs}).is_valid(v)]
            for key, sub in properties.items()
        }

    def value(self, key: str) -> Any:
        fitting = self.fitting.get(key)
        if fitting and self.rng.random() < 0.85:
            return self.rng.choice(fitting)
        if self.rng.random() < 0.1:
            return self.draw(depth=1)
        return self.rng.choice(POOL)

    def draw(self, depth: int = 0) -> Any:
        rng = self.rng
        if depth == 0 and rng.random() < 0.05:
            return rng.choice(POOL)  # not an object at all
        keys = [k for k in self.keys if k not in EXTRA_KEYS or rng.random() < 0.1]
        chosen = rng.sample(keys, rng.randint(0, len(keys)))
        if rng.random() < 0.6:  # most of them with every required key
            chosen = list(dict.fromkeys([*self.required, *chosen]))
        if depth > 1:
            return {key: rng.choice(POOL) for key in chosen}
        return {key: self.value(key) for key in chosen}


@pytest.mark.parametrize("schema", [RICH, *demo_schemas()], ids=lambda s: str(sorted(s))[:40])
def test_verdicts_are_jsonschemas_on_random_instances(schema: dict[str, Any]) -> None:
    check = SchemaCheck(schema)
    assert check.quick is not None  # the compiled path is really taken
    draws = Instances(schema, random.Random(7))
    counts = {True: 0, False: 0}
    for _ in range(4000):
        value = draws.draw()
        expected = check.detailed.is_valid(value)
        assert check.is_valid(value) == expected, value
        counts[expected] += 1
    assert counts[True] > 100 and counts[False] > 100, counts  # both verdicts were exercised


def test_values_the_compiled_validator_cannot_take_are_judged_by_jsonschema() -> None:
    check = SchemaCheck({"type": "object", "properties": {"p": {"type": "number"}}})
    for value in (np.float32(0.25), np.float64(0.5), float("nan"), float("inf")):
        assert check.quick is not None and not check.quick.is_valid({"p": value})
        assert check.is_valid({"p": value})  # jsonschema: a number
    assert not check.is_valid({"p": "0.25"})


def test_a_pattern_only_python_reads_falls_back_to_jsonschema() -> None:
    check = SchemaCheck({"type": "string", "pattern": r"^(?P<c>[a-z])(?P=c)$"})
    assert check.quick is None
    assert check.is_valid("aa")
    assert not check.is_valid("ab")


def test_a_rejected_result_gets_jsonschemas_message() -> None:
    publish = yaml.safe_load(
        """
        type: t
        routing_key: k
        source: s
        data: {x: data.x}
        schema: {type: object, required: [x], properties: {x: {type: integer, minimum: 3}}}
        """
    )
    from outrigger.config.pipelines import PublishStep

    runner = PublishRunner(PublishStep.model_validate(publish), "p", 1)
    runner.validate({"x": 5})
    with pytest.raises(OutputValidationError, match=r"at x: 2 is less than the minimum of 3"):
        runner.validate({"x": 2})
