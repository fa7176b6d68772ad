"""Validation of LLM output against a JSON Schema.

``OutputValidator(schema).check_text(text)`` parses the answer as JSON (a ```json fenced block
or prose around one object is tolerated), validates it, and returns an ``OutputCheck`` with
short, human-readable errors (``$.score: 1.7 is greater than the maximum of 1``). The caller
decides: retry once with ``repair_prompt(errors)``, then dead-letter or answer the feature's
fallback. An invalid output is never returned as valid.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError, ValidationError, relevance

from outrigger.errors import ConfigError
from outrigger.validation import SchemaCheck

_FENCE: Final = re.compile(r"```(?:json|JSON)?\s*\n?(.*?)```", re.DOTALL)
_MAX_VALUE_CHARS: Final = 60


class NotJson(ValueError):
    """The text holds no JSON value."""


@dataclass(frozen=True)
class OutputCheck:
    ok: bool
    value: Any
    errors: tuple[str, ...]

    @property
    def message(self) -> str:
        """One line for logs, audit records and dead letters."""
        return "valid" if self.ok else "; ".join(self.errors)


def parse_json_text(text: str) -> Any:
    """The JSON value in an LLM answer: the whole text, a fenced block, or the outermost
    ``{…}``/``[…]`` within prose. Raises ``NotJson``."""
    stripped = text.strip()
    candidates = [stripped]
    candidates += [m.strip() for m in _FENCE.findall(text)]
    for open_, close in ("{}", "[]"):
        start, end = stripped.find(open_), stripped.rfind(close)
        if 0 <= start < end:
            candidates.append(stripped[start : end + 1])
    for candidate in candidates:
        try:
            return json.loads(candidate)
        except ValueError:
            continue
    raise NotJson("the output is not JSON" if stripped else "the output is empty")


def _location(error: ValidationError) -> str:
    path = "$"
    for step in error.absolute_path:
        path += f"[{step}]" if isinstance(step, int) else f".{step}"
    return path


def _short(error: ValidationError) -> str:
    message = error.message
    if len(message) > 160:
        message = message[:157] + "..."
    return f"{_location(error)}: {message}"


class OutputValidator:
    def __init__(self, schema: Mapping[str, Any], max_errors: int = 5) -> None:
        try:
            Draft202012Validator.check_schema(schema)
        except SchemaError as exc:
            raise ConfigError(f"output schema is not a valid JSON Schema: {exc.message}") from exc
        self.schema = dict(schema)
        self._validator = SchemaCheck(self.schema)
        self._max = max_errors

    def check(self, value: Any) -> OutputCheck:
        if self._validator.is_valid(value):
            return OutputCheck(True, value, ())
        errors = sorted(self._validator.iter_errors(value), key=relevance, reverse=True)
        if not errors:
            return OutputCheck(True, value, ())
        shown = [_short(e) for e in errors[: self._max]]
        if len(errors) > self._max:
            shown.append(f"... and {len(errors) - self._max} more")
        return OutputCheck(False, value, tuple(shown))

    def check_text(self, text: str) -> OutputCheck:
        try:
            value = parse_json_text(text)
        except NotJson as exc:
            return OutputCheck(False, None, (str(exc),))
        return self.check(value)


def repair_prompt(errors: Sequence[str], schema: Mapping[str, Any] | None = None) -> str:
    """The user message for the one retry: what was wrong, and to answer with JSON only."""
    lines = ["Your previous answer was rejected because it does not match the required format:"]
    lines += [f"- {e}" for e in errors]
    if schema is not None:
        lines.append("The answer must be JSON matching this JSON Schema:")
        lines.append(json.dumps(schema, separators=(",", ":")))
    lines.append("Reply again with only the corrected JSON value, no prose and no code fence.")
    return "\n".join(lines)
