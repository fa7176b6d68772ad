"""Misspellings, so that the hit verifier does not read a typo as a different word.

"How do I cancle an order?" asks what "How do I cancel an order?" asks, but to the
verifier's near-duplicate check ``cancle`` -> ``cancel`` is a substituted word like
``flood`` -> ``fire``. ``Spelling.same_word`` says when two differing words are one word
misspelt: at least one of them is not an English word, and they are a short edit apart
(one edit for words under six letters, two from six; adjacent letters swapped count as
one). Two real words never count as a typo of each other, however close (``debt`` and
``debit``, ``card`` and ``cart``): a typo that makes another real word stays a difference,
which errs towards a miss.

The word list is pyspellchecker's English frequency list (MIT, about 160,000 words, read
from the installed package, nothing downloaded; extra ``embeddings``). Without it the
verifier treats every differing word as a difference, as it did before.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

log = logging.getLogger("outrigger.cache")


@dataclass(frozen=True)
class Spelling:
    words: frozenset[str]

    def same_word(self, a: str, b: str) -> bool:
        if a == b:
            return True
        if (a in self.words and b in self.words) or not (a.isalpha() and b.isalpha()):
            return False
        shorter = min(len(a), len(b))
        if shorter < 4:
            return False
        return edit_distance(a, b, limit=2) <= (1 if shorter < 6 else 2)


def english() -> Spelling | None:
    """The English word list, or None (and a log line) when pyspellchecker is missing."""
    try:
        from spellchecker import SpellChecker
    except ImportError:
        log.info(
            "pyspellchecker is not installed (pip install 'outrigger[embeddings]'): the "
            "cache's verifier reads a misspelt word as a different word"
        )
        return None
    return Spelling(frozenset(SpellChecker().word_frequency.keys()))


def edit_distance(a: str, b: str, *, limit: int) -> int:
    """Optimal string alignment distance (insert, delete, substitute, swap two adjacent
    letters), or ``limit + 1`` as soon as it is certain to exceed ``limit``."""
    if abs(len(a) - len(b)) > limit:
        return limit + 1
    before: list[int] = []
    previous = list(range(len(b) + 1))
    for i, x in enumerate(a, 1):
        current = [i] + [0] * len(b)
        for j, y in enumerate(b, 1):
            current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (x != y))
            if i > 1 and j > 1 and x == b[j - 2] and a[i - 2] == y:
                current[j] = min(current[j], before[j - 2] + 1)
        if min(current) > limit:
            return limit + 1
        before, previous = previous, current
    return previous[-1]
