"""The per-request vault: placeholder <-> original, and the pseudonymiser that fills it.

Placeholders look like ``<PERSON_1>``, ``<EMAIL_2>``: the entity's tag (see ``entities.TAGS``)
and a counter per tag, both per request. The same original always gets the same placeholder
within one vault, so the model sees that two mentions are the same person.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Final

from outrigger.privacy.base import Detector
from outrigger.privacy.entities import tag_for
from outrigger.privacy.streaming import StreamRehydrator

PLACEHOLDER: Final = re.compile(r"<[A-Z][A-Z0-9_]*_[1-9][0-9]*>")


class Vault:
    """Placeholders and the originals they stand for. One per request; never logged."""

    def __init__(self) -> None:
        self._by_original: dict[str, str] = {}
        self._by_placeholder: dict[str, str] = {}
        self._counts: dict[str, int] = {}

    def placeholder(self, entity_type: str, original: str) -> str:
        """The placeholder for ``original`` (a new one the first time it is seen)."""
        found = self._by_original.get(original)
        if found is not None:
            return found
        tag = tag_for(entity_type)
        self._counts[tag] = self._counts.get(tag, 0) + 1
        made = f"<{tag}_{self._counts[tag]}>"
        self._by_original[original] = made
        self._by_placeholder[made] = original
        return made

    def original(self, placeholder: str) -> str | None:
        return self._by_placeholder.get(placeholder)

    def placeholders(self) -> Iterator[str]:
        return iter(self._by_placeholder)

    def replace_known(self, text: str) -> str:
        """``text`` with every original already in the vault replaced by its placeholder
        (whole words only; placeholders already in the text are left alone)."""
        originals = sorted((o for o in self._by_original if len(o) >= 3), key=len, reverse=True)
        if not originals:
            return text
        alternatives = "|".join(re.escape(o) for o in originals)
        pattern = re.compile(rf"({PLACEHOLDER.pattern})|(?<!\w)(?:{alternatives})(?!\w)")
        return pattern.sub(lambda m: m[1] or self._by_original[m[0]], text)

    def __len__(self) -> int:
        return len(self._by_placeholder)

    def __repr__(self) -> str:  # never the originals
        return f"Vault({len(self)} entries)"

    def rehydrate(self, text: str) -> str:
        """``text`` with every known placeholder replaced by its original."""
        if not self._by_placeholder:
            return text
        return PLACEHOLDER.sub(lambda m: self._by_placeholder.get(m[0], m[0]), text)

    def to_bytes(self) -> bytes:
        return json.dumps(self._by_placeholder, separators=(",", ":")).encode()

    @classmethod
    def from_bytes(cls, data: bytes) -> Vault:
        vault = cls()
        entries: dict[str, str] = json.loads(data)
        for placeholder, original in entries.items():
            tag, _, number = placeholder[1:-1].rpartition("_")
            vault._by_placeholder[placeholder] = original
            vault._by_original[original] = placeholder
            vault._counts[tag] = max(vault._counts.get(tag, 0), int(number))
        return vault


class Pseudonymizer:
    """Replaces detected PII with placeholders held in one vault, and puts them back.

    Build one per request (or per event) around the shared, long-lived detector.
    """

    def __init__(
        self,
        detector: Detector,
        vault: Vault | None = None,
        entities: frozenset[str] | None = None,
    ) -> None:
        self._detector = detector
        self.vault = vault if vault is not None else Vault()
        self._entities = entities

    def pseudonymize(self, text: str) -> str:
        """``text`` with detected PII replaced by placeholders; originals the vault already
        holds (from earlier messages or fields of the same request) are replaced too, even
        where the detector misses them."""
        spans = self._detector.detect(text, self._entities)
        parts: list[str] = []
        last = 0
        for span in spans:
            parts.append(text[last : span.start])
            parts.append(self.vault.placeholder(span.entity_type, text[span.start : span.end]))
            last = span.end
        parts.append(text[last:])
        return self.vault.replace_known("".join(parts))

    def rehydrate(self, text: str) -> str:
        return self.vault.rehydrate(text)

    def rehydrator(self) -> StreamRehydrator:
        """A re-hydrator for one streamed answer (placeholders may be split across chunks)."""
        return StreamRehydrator(self.vault)
