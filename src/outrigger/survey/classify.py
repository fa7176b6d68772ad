"""Classifying an event type from its fields: *sensitive* (PII found, or field names that say
so: it needs a sanitise rule before any AI sees it), *AI candidate* (free text to summarise
or classify, numeric features to score) or *low value* (ids, enums, timestamps only). A type
can be sensitive and a candidate at once."""

from __future__ import annotations

from dataclasses import dataclass

from outrigger.survey.model import Classification, FieldStats, TypeSurvey
from outrigger.survey.names import (
    DEFAULT_ENTITY_HINT,
    ENTITY_HINTS,
    Hint,
    id_name,
    sensitive_name,
    text_name,
    time_name,
)

#: Free text: strings this long and wordy on average, and varied (mostly distinct).
TEXT_MIN_CHARS = 40
TEXT_MIN_WORDS = 6
TEXT_MIN_VARIETY = 0.5
#: A schema's string this long (maxLength) may hold free text.
TEXT_MAX_LENGTH = 200
#: Enums: at most this many distinct short values, each seen twice on average.
ENUM_MAX_DISTINCT = 12
#: Numeric features: at least this many varying numeric fields make a scoring candidate.
MIN_NUMERIC_FEATURES = 2


@dataclass(frozen=True)
class FieldVerdict:
    kind: str  # id, enum, timestamp, text, string, number, boolean, container, empty
    hint: Hint | None  # the sanitise rule it needs (None: not sensitive)
    why: str = ""  # why it is sensitive


def kind_of(f: FieldStats) -> str:
    scalars = f.scalar_count
    if not scalars:
        return "container" if f.types["object"] or f.types["array"] else "empty"
    if f.types["boolean"] == scalars:
        return "boolean"
    if f.types["string"] >= f.types["integer"] + f.types["number"]:
        return _string_kind(f)
    if id_name(f.path) or f.long_numbers * 2 > scalars:
        return "id"
    if time_name(f.path):
        return "timestamp"
    if f.enum or (len(f.distinct) == 1 and scalars > 1):
        return "enum"
    return "number"


def _string_kind(f: FieldStats) -> str:
    n = max(f.strings, 1)
    if f.format in ("date-time", "date", "time") or f.timestamps * 5 >= n * 4 > 0:
        return "timestamp"
    if f.format == "uuid" or f.uuids * 5 >= n * 4 > 0 or id_name(f.path):
        return "id"
    if f.enum:
        return "enum"
    if f.strings:
        avg_chars, avg_words = f.chars / n, f.words / n
        variety = 1.0 if f.distinct_capped or n < 2 else len(f.distinct) / n
        if avg_chars >= TEXT_MIN_CHARS and avg_words >= TEXT_MIN_WORDS:
            if variety >= TEXT_MIN_VARIETY:
                return "text"
        elif not f.pii and _few_short_values(f, n, avg_words):
            return "enum"
    elif (f.max_length or 0) >= TEXT_MAX_LENGTH or text_name(f.path):
        return "text"  # a schema without samples: its length or name says so
    return "string"


def _few_short_values(f: FieldStats, n: int, avg_words: float) -> bool:
    return len(f.distinct) <= ENUM_MAX_DISTINCT and n >= 2 * len(f.distinct) and avg_words <= 3


def judge(f: FieldStats) -> FieldVerdict:
    kind = kind_of(f)
    if f.pii:
        entity, _ = max(f.pii.items(), key=lambda kv: (kv[1], kv[0]))
        found = ", ".join(f"{e} in {n}" for e, n in sorted(f.pii.items()))
        return FieldVerdict(kind, ENTITY_HINTS.get(entity, DEFAULT_ENTITY_HINT), f"PII: {found}")
    if f.format == "email":
        return FieldVerdict(kind, ENTITY_HINTS["EMAIL_ADDRESS"], "format email")
    hint = sensitive_name(f.path) if kind != "boolean" else None
    if hint is not None and kind == "timestamp" and hint.why != "date of birth":
        hint = None  # email_sent_at, card_expires_at: when, not who
    if hint is not None and kind in ("container", "empty") and hint.action != "drop":
        hint = None  # an object called account: its fields say what is in it
    if hint is not None:
        return FieldVerdict(kind, hint, f"name: {hint.why}")
    return FieldVerdict(kind, None)


def classify(t: TypeSurvey) -> Classification:
    verdicts = {path: judge(f) for path, f in sorted(t.fields.items())}
    sensitive = {p: v.why for p, v in verdicts.items() if v.hint is not None}
    texts = tuple(p for p, v in verdicts.items() if v.kind == "text")
    numbers = tuple(p for p, v in verdicts.items() if v.kind == "number" and v.hint is None)
    reasons: list[str] = []
    if sensitive:
        listed = "; ".join(f"{p} ({why})" for p, why in sensitive.items())
        reasons.append(f"sensitive fields, sanitise before AI: {listed}")
    candidate = bool(texts) or len(numbers) >= MIN_NUMERIC_FEATURES
    if texts:
        reasons.append(f"free text to summarise or classify: {', '.join(texts)}")
    if len(numbers) >= MIN_NUMERIC_FEATURES:
        reasons.append(f"numeric features to score: {', '.join(numbers)}")
    if not sensitive and not candidate:
        reasons.append(_low_value_reason(verdicts))
    return Classification(bool(sensitive), candidate, tuple(reasons), sensitive, texts, numbers)


def _low_value_reason(verdicts: dict[str, FieldVerdict]) -> str:
    by_kind: dict[str, list[str]] = {}
    for path, v in verdicts.items():
        if v.kind not in ("container", "empty"):
            by_kind.setdefault(v.kind, []).append(path)
    if not by_kind:
        return "no fields"
    parts = [f"{kind} ({', '.join(paths)})" for kind, paths in sorted(by_kind.items())]
    return "no free text and too few numeric features: " + "; ".join(parts)


def classify_all(types: list[TypeSurvey]) -> None:
    for t in types:
        t.classification = classify(t)
