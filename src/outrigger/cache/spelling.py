"""Misspellings, so that the hit verifier does not read a typo as a different word.

"How do I cancle an order?" asks what "How do I cancel an order?" asks, but to the
verifier's near-duplicate check ``cancle`` -> ``cancel`` is a substituted word like
``flood`` -> ``fire``. ``Spelling.same_word`` says when two differing words are one word
misspelt: exactly one of them is an English word, they are a short edit apart (one edit
for words under six letters, two from six; adjacent letters swapped count as one), and of
the English words one edit from the misspelling, the other is at least twice as common as
any rival. Everything else stays a difference, which errs towards a miss: two real words
however close (``debt``/``debit``), two unknown words (drug or brand names:
``prednisone``/``prednisolone``), and a misspelling that may mean either of two words.

The word list is pyspellchecker's English frequency list (MIT, about 160,000 words with
their counts, read
from the installed package, nothing downloaded; extra ``embeddings``). Without it the
verifier treats every differing word as a difference, as it did before.
"""

from __future__ import annotations

import functools
import logging
import string
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

log = logging.getLogger("outrigger.cache")


@dataclass(frozen=True)
class Spelling:
    words: Mapping[str, int]  # English words and how common each is

    def same_word(self, a: str, b: str) -> bool:
        if a == b:
            return True
        if (a in self.words) == (b in self.words) or not (a.isalpha() and b.isalpha()):
            return False
        shorter = min(len(a), len(b))
        if shorter < 4:
            return False
        known, typo = (a, b) if a in self.words else (b, a)
        if edit_distance(a, b, limit=2) > (1 if shorter < 6 else 2):
            return False
        count = self.words[known]
        rivals = (self.words.get(w, 0) for w in one_edit(typo) if w != known)
        return all(2 * rival <= count for rival in rivals)


def one_edit(word: str) -> set[str]:
    """Every string one deletion, swap, replacement or insertion (a-z) from ``word``."""
    splits = [(word[:i], word[i:]) for i in range(len(word) + 1)]
    letters = string.ascii_lowercase
    return (
        {a + b[1:] for a, b in splits if b}
        | {a + b[1] + b[0] + b[2:] for a, b in splits if len(b) > 1}
        | {a + c + b[1:] for a, b in splits if b for c in letters}
        | {a + c + b for a, b in splits for c in letters}
    )


@functools.cache
def english() -> Spelling | None:
    """The English word list (read once per process: it is immutable), or None (and a log
    line) when pyspellchecker is missing."""
    try:
        from spellchecker import SpellChecker
    except ImportError:
        log.info(
            "pyspellchecker is not installed (pip install 'outrigger[embeddings]'): the "
            "cache's verifier reads a misspelt word as a different word"
        )
        return None
    return Spelling(MappingProxyType(dict(SpellChecker().word_frequency.dictionary)))


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
