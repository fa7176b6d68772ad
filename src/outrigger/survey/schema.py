"""Schema inference from sampled payloads: every field as a dotted path (``[*]`` for list
items, the path syntax of ``privacy.events``), the JSON types seen, how often it is present,
how varied and how wordy its strings are, and the PII the detector finds in it.

Values are looked at and forgotten: only counts and hashes of distinct values are kept.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from outrigger.privacy.base import Detector
from outrigger.survey.model import FieldStats, TypeSurvey

#: Distinct values remembered per field (by hash) before it is simply "varied".
DISTINCT_CAP = 1000
#: Values per field given to the detector (the full detector takes milliseconds each).
PII_SCAN_CAP = 200
#: Nesting followed before a field is taken as a whole.
MAX_DEPTH = 12
#: Keys that are names; any other key (an e-mail, a number, free text used as a map key)
#: becomes ``*`` so that no value can reach a report as part of a path.
_SAFE_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_\-]{0,63}$")
_TIMESTAMP = re.compile(
    r"^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?)?$"
)
_UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")


def json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


def child_path(parent: str, key: str) -> str:
    name = key if _SAFE_KEY.match(key) else "*"
    return f"{parent}.{name}" if parent else name


def walk(value: Any, path: str = "", depth: int = 0) -> Iterator[tuple[str, Any]]:
    """``(path, value)`` for every field under ``value`` (objects and lists included)."""
    if depth > MAX_DEPTH:
        return
    if isinstance(value, dict):
        for key, child in value.items():
            sub = child_path(path, str(key))
            yield sub, child
            yield from walk(child, sub, depth + 1)
    elif isinstance(value, list):
        sub = f"{path}[*]" if path else "[*]"
        for item in value:
            yield sub, item
            yield from walk(item, sub, depth + 1)


class SchemaInference:
    """Feeds payloads into a ``TypeSurvey``'s field statistics."""

    def __init__(self, detector: Detector) -> None:
        self._detector = detector

    def has_pii(self, text: str) -> bool:
        """For metadata shown as it is (a CloudEvents source): withheld when it holds PII."""
        return bool(self._detector.detect(text))

    def add(self, survey: TypeSurvey, payload: Any) -> None:
        if not isinstance(payload, (dict, list)):
            self._value(survey.field("(data)"), payload)
            survey.field("(data)").present += 1
            return
        present: set[str] = set()
        for path, value in walk(payload):
            stats = survey.field(path)
            if path not in present:
                present.add(path)
                stats.present += 1
            self._value(stats, value)

    def _value(self, stats: FieldStats, value: Any) -> None:
        kind = json_type(value)
        stats.types[kind] += 1
        if kind in ("object", "array", "null"):
            return
        _remember(stats, value)
        if kind == "string":
            self._string(stats, value)
        elif kind == "integer" and len(str(abs(value))) >= 6:
            stats.long_numbers += len(str(abs(value))) >= 9
            self._scan(stats, str(value))  # account and card numbers sent as numbers

    def _string(self, stats: FieldStats, text: str) -> None:
        if not text.strip():
            return
        stats.strings += 1
        stats.chars += len(text)
        stats.words += len(text.split())
        if _TIMESTAMP.match(text):
            stats.timestamps += 1
        elif _UUID.match(text):
            stats.uuids += 1
        else:
            self._scan(stats, text)

    def _scan(self, stats: FieldStats, text: str) -> None:
        if stats.strings + stats.types["integer"] > PII_SCAN_CAP:
            return
        for entity in {span.entity_type for span in self._detector.detect(text)}:
            stats.pii[entity] += 1


def _remember(stats: FieldStats, value: Any) -> None:
    if len(stats.distinct) >= DISTINCT_CAP:
        stats.distinct_capped = True
        return
    stats.distinct.add(hash((type(value).__name__, value)))
