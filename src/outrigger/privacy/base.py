"""The detector Protocol and the span it returns.

A ``Detector`` finds PII in one text. Two implementations: ``RegexDetector`` (fast mode: regular
expressions and checksums, no model, no optional dependency) and ``PresidioDetector`` (Presidio
with a spaCy model for person names, plus the same custom recognisers).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol, runtime_checkable


@dataclass(frozen=True, slots=True)
class Span:
    """``text[start:end]`` is an entity of ``entity_type``, with confidence ``score``."""

    start: int
    end: int
    entity_type: str
    score: float

    def overlaps(self, other: Span) -> bool:
        return self.start < other.end and other.start < self.end


@runtime_checkable
class Detector(Protocol):
    def detect(self, text: str, entities: frozenset[str] | None = None) -> list[Span]:
        """Non-overlapping spans sorted by start; only ``entities`` when given."""
        ...


def resolve_overlaps(spans: Iterable[Span], weakest: str = "PERSON") -> list[Span]:
    """Keep the best of overlapping spans, sorted by start.

    Best: not of type ``weakest`` (a pattern-matched identifier beats the NER model's guess
    that the same characters are a name), then higher score, then longer.
    """
    ranked = sorted(
        spans,
        key=lambda s: (s.entity_type == weakest, -s.score, -(s.end - s.start), s.start),
    )
    kept: list[Span] = []
    for span in ranked:
        if not any(span.overlaps(k) for k in kept):
            kept.append(span)
    return sorted(kept, key=lambda s: s.start)


@runtime_checkable
class VaultStore(Protocol):
    """Sealed (encrypted) vaults by id, each with an expiry; see ``PersistedVaults``."""

    async def put(self, vault_id: str, sealed: bytes, ttl_s: float) -> None:
        """Store ``sealed`` under ``vault_id`` for ``ttl_s`` seconds (replacing any)."""
        ...

    async def get(self, vault_id: str) -> bytes | None:
        """The sealed bytes, or None when missing or expired."""
        ...

    async def delete(self, vault_id: str) -> None: ...

    async def purge_expired(self) -> int:
        """Delete expired vaults; returns how many."""
        ...

    async def close(self) -> None: ...
