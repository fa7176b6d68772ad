"""JSON Schema (draft 2020-12) checks: a compiled validator's quick yes, jsonschema's no.

jsonschema (pure Python) walks the schema for every instance: about 40 µs for a small
object, paid twice per event by a pipeline that declares an input and a result schema.
jsonschema-rs compiles the schema once and answers in under a microsecond. Its answer is
taken only when it says "valid". When it says "invalid", cannot take the value (a NumPy
scalar, a NaN) or could not compile the schema (a regular expression only Python's ``re``
reads), jsonschema decides and explains, so every rejection and every error message is
jsonschema's, as before. Both follow the 2020-12 specification (formats are annotations,
not checked); tests compare their verdicts on the shipped schemas.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any, Protocol

import jsonschema_rs
from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError


class _Quick(Protocol):
    def is_valid(self, instance: Any) -> bool: ...


def _compiled(schema: Mapping[str, Any]) -> _Quick | None:
    try:
        return jsonschema_rs.Draft202012Validator(dict(schema))
    except (ValueError, TypeError):  # e.g. a pattern in Python-only regex syntax
        return None


class SchemaCheck:
    """One schema, checked quickly when the instance is valid and in detail when not."""

    def __init__(self, schema: Mapping[str, Any]) -> None:
        self.detailed = Draft202012Validator(schema)
        self.quick = _compiled(schema)

    def is_valid(self, instance: Any) -> bool:
        if self.quick is not None:
            try:
                if self.quick.is_valid(instance):
                    return True
            except (ValueError, TypeError, OverflowError):  # a value it cannot convert
                pass
        return bool(self.detailed.is_valid(instance))

    def iter_errors(self, instance: Any) -> Iterator[ValidationError]:
        return self.detailed.iter_errors(instance)
