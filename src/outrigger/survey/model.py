"""What a survey finds, per event type and per field. Plain dataclasses: no values are kept
anywhere in them (distinct values are counted by their hashes), so nothing a report renders
can leak a payload's content."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field


@dataclass
class FieldStats:
    """One field (a dotted path; ``[*]`` for list items) of one event type."""

    path: str
    #: JSON type name -> how many times it was seen (string, integer, number, boolean,
    #: null, object, array).
    types: Counter[str] = field(default_factory=Counter)
    #: Events in which the field was present (a list item counts its event once).
    present: int = 0
    #: Non-empty strings seen, their total characters and words.
    strings: int = 0
    chars: int = 0
    words: int = 0
    #: Hashes of distinct scalar values (capped): how varied the field is.
    distinct: set[int] = field(default_factory=set)
    distinct_capped: bool = False
    timestamps: int = 0
    uuids: int = 0
    #: Integers of nine digits or more: account numbers and ids rather than quantities.
    long_numbers: int = 0
    #: Entity type -> values in which the privacy detector found it.
    pii: Counter[str] = field(default_factory=Counter)
    #: From a schema (AsyncAPI): required there, declared enum/format, max length.
    required: bool | None = None
    enum: bool = False
    format: str | None = None
    max_length: int | None = None

    @property
    def scalar_count(self) -> int:
        return sum(n for t, n in self.types.items() if t not in ("object", "array", "null"))


@dataclass(frozen=True)
class Classification:
    sensitive: bool
    candidate: bool
    reasons: tuple[str, ...]
    #: Field path -> why it is sensitive (PII found, or its name).
    sensitive_fields: dict[str, str] = field(default_factory=dict)
    #: Field path -> free text worth summarising or classifying.
    text_fields: tuple[str, ...] = ()
    #: Numeric fields worth scoring.
    numeric_fields: tuple[str, ...] = ()

    @property
    def labels(self) -> tuple[str, ...]:
        found: list[str] = ["sensitive"] if self.sensitive else []
        found += ["ai-candidate"] if self.candidate else []
        return tuple(found or ["low-value"])


@dataclass
class TypeSurvey:
    """One event type."""

    type: str
    count: int = 0
    sources: Counter[str] = field(default_factory=Counter)
    #: Routing keys (bus) or channel addresses (AsyncAPI) it was seen on.
    keys: Counter[str] = field(default_factory=Counter)
    fields: dict[str, FieldStats] = field(default_factory=dict)
    plain_type_field: str | None = None
    classification: Classification | None = None

    def field(self, path: str) -> FieldStats:
        found = self.fields.get(path)
        if found is None:
            found = self.fields[path] = FieldStats(path)
        return found


@dataclass
class Survey:
    """The whole report: where it came from, the sample window and every event type."""

    input: str  # bus | asyncapi | jsonl
    origin: str  # exchange and patterns, or the file
    types: dict[str, TypeSurvey] = field(default_factory=dict)
    window_s: float | None = None
    messages: int = 0
    malformed: Counter[str] = field(default_factory=Counter)
    pii_mode: str = "fast"
    notes: list[str] = field(default_factory=list)

    def of_type(self, event_type: str) -> TypeSurvey:
        found = self.types.get(event_type)
        if found is None:
            found = self.types[event_type] = TypeSurvey(event_type)
        return found

    def rate(self, t: TypeSurvey) -> float | None:
        if self.input == "asyncapi" or not self.window_s or self.window_s <= 0:
            return None
        return t.count / self.window_s

    def presence(self, t: TypeSurvey, f: FieldStats) -> float | None:
        """Percent of the type's events holding the field (None: unknown, from a schema
        that does not require it)."""
        if self.input == "asyncapi":
            return 100.0 if f.required else None
        return 100.0 * f.present / t.count if t.count else None

    def ordered(self) -> list[TypeSurvey]:
        return sorted(self.types.values(), key=lambda t: (-t.count, t.type))


def sorted_fields(t: TypeSurvey) -> list[FieldStats]:
    return sorted(t.fields.values(), key=lambda f: f.path)
