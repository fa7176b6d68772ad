"""Fast mode: regular expressions and checksums only, no model and no optional dependency.

For high-volume event fields. It finds every structured identifier the full mode finds (with
its own patterns) and person names only where a cue introduces them (``Dr. …``, ``Name: …``).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from functools import lru_cache

from outrigger.privacy.base import Span, resolve_overlaps
from outrigger.privacy.digits import count_digits, min_digits
from outrigger.privacy.patterns import ALL_SPECS, CONTEXT_BOOST, PatternSpec


def has_context(
    text: str, start: int, words: Sequence[str], window: int, clear: bool = False
) -> bool:
    """Whether one of ``words`` occurs in the ``window`` characters before ``start``; with
    ``clear``, as a whole word, and the last one found with no digit between it and
    ``start``."""
    before = text[max(0, start - window) : start].lower()
    if not clear:
        return any(word in before for word in words)
    found = list(_whole_words(tuple(words)).finditer(before))
    return bool(found) and not any(c.isdigit() for c in before[found[-1].end() :])


@lru_cache(maxsize=64)
def _whole_words(words: tuple[str, ...]) -> re.Pattern[str]:
    """``words`` not inside a longer Latin word (longest first, so "birthday" wins)."""
    alternatives = "|".join(re.escape(w) for w in sorted(words, key=len, reverse=True))
    return re.compile(rf"(?<![a-z])(?:{alternatives})(?![a-z])")


def match_spec(spec: PatternSpec, text: str) -> Iterator[Span]:
    """The spans ``spec`` finds in ``text``, validated and context-scored."""
    for match in spec.regex.finditer(text):
        start, end = match.span(spec.group)
        value = text[start:end]
        if spec.validator is not None and not spec.validator(value):
            continue
        if spec.anti_context and has_context(text, start, spec.anti_context, 20):
            continue
        score = spec.score
        if spec.context and has_context(text, start, spec.context, spec.window, spec.context_clear):
            score = min(1.0, round(score + CONTEXT_BOOST, 2))
        elif spec.needs_context:
            continue
        yield Span(start, end, spec.entity, score)


class RegexDetector:
    """A ``Detector`` over ``PatternSpec``s (all of them by default)."""

    def __init__(
        self, specs: Sequence[PatternSpec] = ALL_SPECS, score_threshold: float = 0.5
    ) -> None:
        self._specs = tuple(specs)
        self._threshold = score_threshold
        #: Per spec, the digits a match needs at least (privacy/digits.py).
        self._needs = tuple(min_digits(spec.regex) for spec in self._specs)
        self._cap = max(self._needs, default=0)

    def detect(self, text: str, entities: frozenset[str] | None = None) -> list[Span]:
        found: list[Span] = []
        digits = count_digits(text, self._cap)
        for spec, needs in zip(self._specs, self._needs, strict=True):
            if needs > digits or (entities is not None and spec.entity not in entities):
                continue  # cannot match with fewer digits than it needs
            found.extend(s for s in match_spec(spec, text) if s.score >= self._threshold)
        return resolve_overlaps(found)
