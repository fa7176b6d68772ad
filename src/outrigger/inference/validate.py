"""Checking request rows against a model's input signature, with errors that say which."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from outrigger.errors import OutriggerError
from outrigger.inference.base import TensorSpec

NUMERIC = {"float", "double", "int64", "int32"}


class InputError(OutriggerError):
    def __init__(self, param: str, message: str) -> None:
        super().__init__(message)
        self.param = param


def validate_rows(inputs: Sequence[TensorSpec], rows: Sequence[Any]) -> list[dict[str, Any]]:
    """Rows checked and coerced for the model: every input present, no unknown ones, numbers
    for numeric tensors (null = missing = NaN for float inputs), strings for string tensors."""
    if not rows:
        raise InputError("inputs", "give at least one row in 'inputs'")
    names = {spec.name for spec in inputs}
    out = []
    for i, row in enumerate(rows):
        if not isinstance(row, Mapping):
            raise InputError(f"inputs[{i}]", f"inputs[{i}] must be an object of input values")
        unknown = sorted(set(row) - names)
        if unknown:
            raise InputError(
                f"inputs[{i}].{unknown[0]}",
                f"unknown input(s) {', '.join(unknown)}; "
                f"the model takes: {', '.join(s.name for s in inputs)}",
            )
        out.append({spec.name: _value(spec, row, i) for spec in inputs})
    return out


def _value(spec: TensorSpec, row: Mapping[str, Any], i: int) -> Any:
    where = f"inputs[{i}].{spec.name}"
    if spec.name not in row:
        raise InputError(where, f"missing input {spec.name!r} ({spec.type})")
    value = row[spec.name]
    if spec.type == "string":
        if not isinstance(value, str):
            raise InputError(where, f"{spec.name!r} must be a string, got {type(value).__name__}")
        return value
    if spec.type in NUMERIC:
        if value is None and spec.type in ("float", "double"):
            return math.nan
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise InputError(where, f"{spec.name!r} must be a number, got {type(value).__name__}")
        if not math.isfinite(value):
            raise InputError(where, f"{spec.name!r} must be finite")
        return value
    if spec.type == "bool":
        if not isinstance(value, bool):
            raise InputError(where, f"{spec.name!r} must be true or false")
        return value
    raise InputError(where, f"input type {spec.type} is not supported over HTTP")
