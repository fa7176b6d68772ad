"""Field mapping from event payloads without code: paths, defaults, coercion, units, maps.

A path is dotted with optional list indexes, rooted in the pipeline context:
``data.applicant.income``, ``data.items[0].sku``, ``event.id``, ``steps.risk.score``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Final

from outrigger.config.fields import KINDS, UNITS, valid_path
from outrigger.errors import MappingError

__all__ = ["KINDS", "MISSING", "UNITS", "Field", "resolve", "valid_path"]

MISSING: Final = object()
_TOKEN = re.compile(r"([^.\[\]]+)|\[(\d+)\]")


@lru_cache(maxsize=4096)
def _steps(path: str) -> tuple[str | int, ...]:
    """A path parsed once: names as str, list indexes as int."""
    return tuple(name if name else int(index) for name, index in _TOKEN.findall(path))


def resolve(root: Mapping[str, Any], path: str) -> Any:
    """The value at ``path`` or ``MISSING``."""
    node: Any = root
    for step in _steps(path):
        if isinstance(step, str):  # run for every field of every event: exact dicts first
            if not (type(node) is dict or isinstance(node, Mapping)) or step not in node:
                return MISSING
            node = node[step]
        else:
            if not isinstance(node, list) or step >= len(node):
                return MISSING
            node = node[step]
    return node


@dataclass(frozen=True, slots=True)
class Field:
    """One mapped value: where it comes from and how it is made usable."""

    name: str
    path: str
    kind: str = "float"
    default: Any = MISSING
    unit: str | None = None
    scale: float | None = None
    values: Mapping[str, Any] | None = None  # categorical value map; "*" = any other
    lower: bool = False

    def extract(self, root: Mapping[str, Any]) -> Any:
        raw = resolve(root, self.path)
        if raw is MISSING or raw is None:
            if self.default is MISSING:
                raise MappingError(f"'{self.path}' is missing (needed for '{self.name}')")
            return self.default
        if self.values is not None:
            raw = self._map(raw)
        value = _coerce(raw, self.kind, self.path)
        if self.kind in ("float", "int") and (self.unit or self.scale is not None):
            factor = UNITS[self.unit] if self.unit else 1.0
            value = value * factor * (self.scale if self.scale is not None else 1.0)
        return value

    def _map(self, raw: Any) -> Any:
        assert self.values is not None
        key = str(raw).lower() if self.lower else str(raw)
        if key in self.values:
            return self.values[key]
        if "*" in self.values:
            return self.values["*"]
        allowed = ", ".join(sorted(k for k in self.values if k != "*"))
        raise MappingError(f"'{self.path}' has value {raw!r}, not one of: {allowed}")


def _coerce(raw: Any, kind: str, path: str) -> Any:
    if kind == "str":
        if isinstance(raw, (dict, list)):
            raise MappingError(f"'{path}' must be a scalar, got {type(raw).__name__}")
        return raw if isinstance(raw, str) else json_scalar(raw)
    if kind == "bool":
        return _to_bool(raw, path)
    number = _to_number(raw, path)
    if kind == "int":
        if not float(number).is_integer():
            raise MappingError(f"'{path}' must be a whole number, got {raw!r}")
        return int(number)
    return float(number)


def _to_number(raw: Any, path: str) -> float:
    if isinstance(raw, bool):
        raise MappingError(f"'{path}' must be a number, got a boolean")
    if isinstance(raw, (int, float)):
        value = float(raw)
    elif isinstance(raw, str):
        try:
            value = float(raw.strip().replace("_", ""))
        except ValueError:
            raise MappingError(f"'{path}' must be a number, got {raw!r}") from None
    else:
        raise MappingError(f"'{path}' must be a number, got {type(raw).__name__}")
    if not math.isfinite(value):
        raise MappingError(f"'{path}' must be a finite number, got {raw!r}")
    return value


def _to_bool(raw: Any, path: str) -> bool:
    if isinstance(raw, bool):
        return raw
    text = str(raw).strip().lower()
    if text in ("true", "yes", "1", "y"):
        return True
    if text in ("false", "no", "0", "n"):
        return False
    raise MappingError(f"'{path}' must be a boolean, got {raw!r}")


def json_scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
