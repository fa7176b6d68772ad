"""The hit verifier: checks what a sentence embedding blurs before a cached answer is served.

A similarity threshold alone cannot tell "transfer 500 from savings to checking" from
"... from checking to savings" (cosine 0.96 with all-MiniLM). ``RuleVerifier`` compares the
new request's text with the cached one and refuses the hit when any of these differ:

* quantities: numbers, amounts and times with their units (``$35`` vs ``$25``), in order
  among those that could trade places ("$35 to A, $25 to B"; "3 years at 8%" is "8% for
  3 years"; ``quantities.same_quantities``);
* identifiers (``CLM-20931`` vs ``CLM-20913``) and dates (weekdays, months, "tomorrow");
* polarity: the number of negations (``did`` vs ``didn't``, ``with`` vs ``without``), in
  the whole text and in each negated clause against its counterpart in the other text
  (the clause sharing most of its words);
* whether a reason is asked for ("why ...", "explain your reasoning" vs "will ...");
* names: capitalised words and acronyms must appear in both texts;
* alternatives of one kind (credit/debit, block/unblock, left/right, before/after ...);
* direction: the source (``from X``) and destination (``to Y``) of the request;
* near-duplicates: two texts made of the same words in another order (a swap), or one
  with a few words substituted by non-synonyms (``flood`` -> ``fire``); a long block both
  texts share at their start or end (a pasted statement) does not count towards "near";
  a misspelt word is not a substitution (``cancle`` -> ``cancel``; ``spelling.py``).

It errs towards a miss: a refused paraphrase costs one upstream call, a wrong hit gives a
user the wrong answer. Texts of more than 2,000 tokens, or more than 400 that are not a
shared block, are refused outright: the word-by-word alignment grows faster than the text.
"""

from __future__ import annotations

import threading
from collections import Counter, OrderedDict
from dataclasses import dataclass
from difflib import SequenceMatcher
from typing import Protocol, runtime_checkable

from outrigger.cache.lexicon import FRAMING, PERSONS, QUESTION_WORDS, REASON_WORDS, Lexicon
from outrigger.cache.quantities import same_quantities
from outrigger.cache.spelling import Spelling, english
from outrigger.cache.text import TextFeatures, Vocabulary, analyse


@dataclass(frozen=True, slots=True)
class Verdict:
    ok: bool
    reason: str = ""  # why a hit was refused, for logs and tuning


@runtime_checkable
class HitVerifier(Protocol):
    def verify(self, query: str, cached: str) -> Verdict:
        """May the answer cached for ``cached`` be served for ``query``?"""
        ...


class AcceptAll:
    """No verification: the similarity threshold decides alone (for comparison only)."""

    def verify(self, query: str, cached: str) -> Verdict:
        return Verdict(True)


class RuleVerifier:
    def __init__(
        self,
        lexicon: Lexicon | None = None,
        *,
        near_duplicate: float = 0.55,
        swap_overlap: float = 0.85,
        max_substitution: int = 3,
        memo_size: int = 4096,
        typos: bool = True,
        spelling: Spelling | None = None,
    ) -> None:
        """``typos``: forgive misspelt words, with ``spelling`` or else the English word
        list (when pyspellchecker is installed)."""
        self._vocab = Vocabulary(lexicon or Lexicon())
        self._spelling = (spelling or english()) if typos else None
        self._near_duplicate = near_duplicate
        self._swap_overlap = swap_overlap
        self._max_substitution = max_substitution
        self._memo: OrderedDict[str, TextFeatures] = OrderedDict()
        self._memo_size = memo_size
        self._memo_lock = threading.Lock()

    def features(self, text: str) -> TextFeatures:
        with self._memo_lock:  # look-ups run in worker threads
            found = self._memo.get(text)
        if found is None:
            found = analyse(text, self._vocab)
            with self._memo_lock:
                self._memo[text] = found
                if len(self._memo) > self._memo_size:
                    self._memo.popitem(last=False)
        return found

    def verify(self, query: str, cached: str) -> Verdict:
        if query == cached:
            return Verdict(True)
        a, b = self.features(query), self.features(cached)
        longest = max(len(a.canon), len(b.canon))
        if longest > _MAX_TOKENS:  # the alignments below grow faster than the text
            return Verdict(False, f"too long to verify: {longest} tokens")
        checks = (
            _quantities, _identifiers, _temporal, _negation, _reason, _entities,
            self._contrasts, _roles, self._swapped, self._substituted,
        )  # fmt: skip
        for check in checks:
            reason = check(a, b)
            if reason:
                return Verdict(False, reason)
        return Verdict(True)

    def _contrasts(self, a: TextFeatures, b: TextFeatures) -> str | None:
        words_a, words_b = set(a.canon), set(b.canon)
        for group in self._vocab.contrasts:
            in_a, in_b = group & words_a, group & words_b
            if in_a and in_b and in_a != in_b:
                return f"alternatives differ: {sorted(in_a)} vs {sorted(in_b)}"
        return None

    def _content(self, features: TextFeatures) -> list[str]:
        stop = self._vocab.stopwords
        skip = _DIRECTIONS | QUESTION_WORDS | self._vocab.lexicon.negations
        return [w for w in features.canon if w and w not in stop and w not in skip]

    def _swapped(self, a: TextFeatures, b: TextFeatures) -> str | None:
        content_a, content_b = self._content(a), self._content(b)
        shared = set(content_a) & set(content_b)
        union = set(content_a) | set(content_b)
        if len(shared) < 2 or len(shared) / len(union) < self._swap_overlap:
            return None
        order_a = list(dict.fromkeys(w for w in content_a if w in shared))
        order_b = list(dict.fromkeys(w for w in content_b if w in shared))
        if order_a != order_b:
            return f"same words in another order: {order_a} vs {order_b}"
        return None

    def _substituted(self, a: TextFeatures, b: TextFeatures) -> str | None:
        tokens_a, tokens_b = [w for w in a.canon if w], [w for w in b.canon if w]
        rest_a, rest_b = _without_shared_block(tokens_a, tokens_b)
        if max(len(rest_a), len(rest_b)) > _MAX_ALIGNED:
            return f"too long to compare word by word: {max(len(rest_a), len(rest_b))} tokens"
        stripped = len(rest_a) < len(tokens_a)
        # the alignment of two token sequences depends on which comes first: both ways
        return self._aligned_change(rest_a, rest_b, stripped) or self._aligned_change(
            rest_b, rest_a, stripped
        )

    def _aligned_change(self, x: list[str], y: list[str], stripped: bool) -> str | None:
        """A changed slot where ``x`` and ``y`` are near-duplicates, or, beside a stripped
        shared block, when all that differs is short enough to be one slot."""
        matcher = SequenceMatcher(None, x, y, autojunk=False)
        if matcher.ratio() >= self._near_duplicate:
            slots = [
                (x[i1:i2], y[j1:j2])
                for op, i1, i2, j1, j2 in matcher.get_opcodes()
                if op == "replace"
            ]
        elif stripped:
            slots = [(x, y)]
        else:
            return None
        for segment_x, segment_y in slots:
            reason = self._slot_changed(segment_x, segment_y)
            if reason:
                return reason
        return None

    def _slot_changed(self, segment_a: list[str], segment_b: list[str]) -> str | None:
        """Why ``segment_b`` in place of ``segment_a`` changes the meaning, or None."""
        limit = self._max_substitution
        words_a, words_b = _slot_words(segment_a, segment_b, self._vocab.stopwords)
        if not words_a or not words_b or len(words_a) > limit or len(words_b) > limit:
            return None  # an insertion or deletion, or a rewording too long to be a slot
        words_a, words_b = self._misspelt(words_a, words_b)
        if words_a != words_b:
            return f"near-duplicate with {words_a} replaced by {words_b}"
        return None

    def _misspelt(self, words_a: list[str], words_b: list[str]) -> tuple[list[str], list[str]]:
        """Both word lists without the pairs that are one word, one of them misspelt."""
        if self._spelling is None:
            return words_a, words_b
        left, rest = [], list(words_b)
        for word in words_a:
            twin = next((w for w in rest if self._spelling.same_word(word, w)), None)
            if twin is None:
                left.append(word)
            else:
                rest.remove(twin)
        return left, rest


_DIRECTIONS = frozenset({"from", "to", "into", "onto", "out", "off", "towards", "toward"})


#: Texts longer than this (in tokens) are not verified: no semantic hit, exact hits only.
_MAX_TOKENS = 2000
#: Nor compared word by word (SequenceMatcher) beyond this, once a shared block is removed.
_MAX_ALIGNED = 400
#: A run of tokens this long, at the start or the end of both texts, is a pasted block (a
#: statement, a document): it does not make two differently worded requests near-duplicates.
_BLOCK = 20


def _without_shared_block(a: list[str], b: list[str]) -> tuple[list[str], list[str]]:
    """Both token lists without a long prefix or suffix they share (``_BLOCK`` or more)."""
    head = next(
        (i for i, (x, y) in enumerate(zip(a, b, strict=False)) if x != y), min(len(a), len(b))
    )
    if head >= _BLOCK:
        a, b = a[head:], b[head:]
    tail = next(
        (i for i, (x, y) in enumerate(zip(reversed(a), reversed(b), strict=False)) if x != y),
        min(len(a), len(b)),
    )
    if tail >= _BLOCK:
        a, b = a[: len(a) - tail], b[: len(b) - tail]
    return a, b


def _slot_words(
    segment_a: list[str], segment_b: list[str], stop: frozenset[str]
) -> tuple[list[str], list[str]]:
    """The words that differ between two substituted segments, sorted.

    Personal pronouns count, as their person ("the other driver" -> "I" is a change of
    who acted); words that ask for a reason count as one ("why" -> "the reasoning"); framing
    words do not ("can I" -> "is it possible to"); a direction word counts only when both
    segments have one ("to" -> "from").
    """
    directed = any(w in _DIRECTIONS for w in segment_a) and any(w in _DIRECTIONS for w in segment_b)

    def words(segment: list[str]) -> Counter[str]:
        kept = Counter(
            "<why>" if w in REASON_WORDS else PERSONS.get(w, w)
            for w in segment
            if w in PERSONS or (w not in stop and w not in FRAMING)
        )
        return (
            kept if directed else Counter({w: n for w, n in kept.items() if w not in _DIRECTIONS})
        )

    a, b = words(segment_a), words(segment_b)
    common = a & b
    return sorted((a - common).elements()), sorted((b - common).elements())


def _quantities(a: TextFeatures, b: TextFeatures) -> str | None:
    if same_quantities(a.quantities, b.quantities):
        return None
    show = [(q.value, q.unit) for q in a.quantities], [(q.value, q.unit) for q in b.quantities]
    return f"quantities differ: {show[0]} vs {show[1]}"


def _identifiers(a: TextFeatures, b: TextFeatures) -> str | None:
    if a.ids != b.ids:
        return f"identifiers differ: {sorted(a.ids)} vs {sorted(b.ids)}"
    return None


def _temporal(a: TextFeatures, b: TextFeatures) -> str | None:
    if a.temporal != b.temporal:
        return f"dates differ: {sorted(a.temporal)} vs {sorted(b.temporal)}"
    return None


def _negation(a: TextFeatures, b: TextFeatures) -> str | None:
    """Polarity: both texts hold as many negations ("did" vs "didn't", "with" vs
    "without"; "hasn't arrived and I haven't been refunded" vs "has arrived and I have been
    refunded"), and each negated clause as many as its counterpart in the other text, the
    clause sharing most of its content words (a text of one clause is its own
    counterpart): "I did not cancel it, but it was cancelled" is not "I cancelled it, but
    it was not cancelled", though both hold one negation."""
    count_a, count_b = (sum(c.negations for c in x.clauses) for x in (a, b))
    if count_a != count_b:
        return f"polarity differs: {count_a} vs {count_b} negations"
    for x, y in ((a, b), (b, a)):
        for clause in x.clauses:
            if not clause.negations:
                continue
            twin = max(y.clauses, key=lambda c: len(c.words & clause.words), default=None)
            if twin is None or not (twin.words & clause.words or len(y.clauses) == 1):
                continue  # no counterpart: the counts above decide
            if twin.negations != clause.negations:
                return f"polarity differs: {sorted(clause.words)} negated in one text only"
    return None


def _reason(a: TextFeatures, b: TextFeatures) -> str | None:
    if a.asks_reason != b.asks_reason:
        return "only one asks why"
    return None


def _entities(a: TextFeatures, b: TextFeatures) -> str | None:
    missing = (a.entities - set(b.canon)) | (b.entities - set(a.canon))
    if missing:
        return f"names not in both: {sorted(missing)}"
    return None


def _roles(a: TextFeatures, b: TextFeatures) -> str | None:
    for role in a.roles.keys() & b.roles.keys():
        if a.roles[role] != b.roles[role]:
            return f"{role} differs: {sorted(a.roles[role])} vs {sorted(b.roles[role])}"
    return None
