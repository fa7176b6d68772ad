"""What the hit verifier reads in a text: tokens, quantities, ids, dates, names, roles.

``analyse`` turns one text into ``TextFeatures`` with plain rules (no model): words are
lower-cased, contractions split (``didn't`` -> ``did n't``), inflections folded onto the
lexicon's lemmas and synonyms onto one canonical word, numbers parsed with their unit
(``$1,200`` -> 1200 usd, ``5kg`` -> 5 kg, ``9:30 pm``), ``from X`` / ``to Y``
recorded as the source and destination of the request, and the text cut into clauses,
each with its content words and its number of negations.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field

from outrigger.cache import lexicon as lx
from outrigger.cache import quantities as qty
from outrigger.cache.lexicon import _w

_TOKEN = re.compile(r"[$€£₹¥%]|[A-Za-z0-9]+(?:[-'.:,/][A-Za-z0-9]+)*|[.?!;,]")
_SENTENCE_END = frozenset(".?!;")
#: Words that open a new clause (commas and sentence ends do too); "and" and "or" do not,
#: as they join nouns as often as clauses.
_CLAUSE_WORDS = frozenset(_w("but because although though whereas"))


@dataclass(frozen=True, slots=True)
class Clause:
    """A clause's content words (numbers and ids included) and its number of negations."""

    words: frozenset[str]
    negations: int


@dataclass(frozen=True)
class TextFeatures:
    canon: tuple[str, ...]  # every token, canonical form (numbers as "#value", ids "@ID")
    quantities: tuple[qty.Quantity, ...]
    ids: frozenset[str]
    temporal: frozenset[str]
    entities: frozenset[str]  # capitalised or all-caps words, lower-cased and canonical
    asks_reason: bool
    clauses: tuple[Clause, ...]  # in order; polarity is compared clause by clause
    roles: dict[str, frozenset[str]] = field(default_factory=dict)  # "source"/"dest" -> heads


class Vocabulary:
    """A lexicon compiled for look-ups: inflected forms -> lemma -> canonical word."""

    def __init__(self, lexicon: lx.Lexicon) -> None:
        self.lexicon = lexicon
        lemmas = set(lexicon.synonyms) | set(lexicon.verbs)
        for group in lexicon.contrasts:
            lemmas |= group
        self._forms: dict[str, str] = {}
        for lemma in sorted(lemmas):
            for form in _inflections(lemma):
                self._forms.setdefault(form, lemma)
        for lemma in lemmas:
            self._forms[lemma] = lemma
        self._forms.update(lexicon.irregular)
        self.verbs = frozenset(self.canonical(v) for v in lexicon.verbs | set(lexicon.synonyms))
        self.contrasts = tuple(frozenset(self.canonical(w) for w in g) for g in lexicon.contrasts)
        self.stopwords = lexicon.stopwords
        self.phrases = frozenset(w for w in self._forms if "_" in w)

    def join_phrases(self, tokens: list[_Token]) -> list[_Token]:
        """Adjacent words that form a lexicon phrase ("sign up") become one token."""
        out: list[_Token] = []
        for token in tokens:
            if out and f"{out[-1].text}_{token.text}" in self.phrases:
                last = out[-1]
                joined = f"{last.text}_{token.text}"
                out[-1] = _Token(joined, last.original, last.sentence_start, last.clause_start)
            else:
                out.append(token)
        return out

    def canonical(self, word: str) -> str:
        lemma = self._forms.get(word)
        if lemma is None:
            lemma = _singular(word)
            lemma = self._forms.get(lemma, lemma)
        return self.lexicon.synonyms.get(lemma, lemma)


def _inflections(lemma: str) -> Iterable[str]:
    yield from (lemma + "s", lemma + "es", lemma + "ed", lemma + "ing")
    if lemma.endswith("e"):
        yield from (lemma + "d", lemma[:-1] + "ing")
    if len(lemma) > 2 and lemma[-1] == "y" and lemma[-2] not in "aeiou":
        yield from (lemma[:-1] + "ies", lemma[:-1] + "ied")
    if len(lemma) > 2 and lemma[-1] not in "aeiouwxy" and lemma[-2] in "aeiou":
        yield from (lemma + lemma[-1] + "ed", lemma + lemma[-1] + "ing")


def _singular(word: str) -> str:
    if len(word) <= 3 or not word.isalpha():
        return word
    if word.endswith("ies"):
        return word[:-3] + "y"
    if word.endswith(("xes", "ches", "shes", "sses")):
        return word[:-2]
    if word.endswith("s") and not word.endswith(("ss", "us", "is")):
        return word[:-1]
    return word


@dataclass
class _Token:
    text: str  # lower-cased
    original: str
    sentence_start: bool
    clause_start: bool
    quantity: qty.Quantity | None = None
    ident: str | None = None


def tokenize(text: str) -> list[_Token]:
    """Word tokens with contractions split; punctuation only marks where sentences and
    clauses start."""
    text = unicodedata.normalize("NFKC", text).replace("\u2019", "'").replace("\u2018", "'")
    out: list[_Token] = []
    start = clause = True
    previous = ""
    for match in _TOKEN.finditer(text):
        raw = match.group(0)
        if raw == ",":
            clause = True
            continue
        if raw in _SENTENCE_END:
            start = start or raw != "." or previous not in lx.ABBREVIATIONS
            clause = clause or start
            continue
        for piece in _split_contraction(raw):
            low = piece.lower()
            out.append(_Token(low, piece, start, clause or low in _CLAUSE_WORDS))
            start = clause = False
        previous = raw.lower()
    return out


def _split_contraction(raw: str) -> list[str]:
    low = raw.lower()
    if low.endswith("n't") and len(low) > 3:
        base = {"ca": "can", "wo": "will", "sha": "shall"}.get(low[:-3], raw[:-3])
        return [base, "n't"]
    if "'" in raw and not raw[0].isdigit():
        return [raw.split("'", 1)[0]]
    return [raw]


def analyse(text: str, vocab: Vocabulary) -> TextFeatures:
    tokens = vocab.join_phrases(tokenize(text))
    words = [t.text for t in tokens]
    quantities, ids = _quantities(tokens, words)
    canon = tuple(_canonical_token(t, vocab) for t in tokens)
    return TextFeatures(
        canon=canon,
        quantities=tuple(quantities),
        ids=frozenset(ids),
        temporal=_temporal(words),
        entities=_entities(tokens, vocab),
        asks_reason=any(w in lx.REASON_WORDS for w in words),
        roles=_roles(tokens, canon, vocab),
        clauses=_clauses(tokens, canon, vocab),
    )


def _clauses(tokens: list[_Token], canon: tuple[str, ...], vocab: Vocabulary) -> tuple[Clause, ...]:
    """The text cut at commas, sentence ends and clause words ("but", "because" ...)."""
    negations = vocab.lexicon.negations
    skip = negations | vocab.stopwords | lx.FRAMING | lx.QUESTION_WORDS
    spans: list[list[int]] = []
    for i, token in enumerate(tokens):
        if token.clause_start or not spans:
            spans.append([])
        spans[-1].append(i)
    return tuple(
        Clause(
            frozenset(canon[i] for i in span if canon[i] and canon[i] not in skip),
            sum(tokens[i].text in negations for i in span),
        )
        for span in spans
    )


def _quantities(tokens: list[_Token], words: list[str]) -> tuple[list[qty.Quantity], set[str]]:
    found: list[qty.Quantity] = []
    ids: set[str] = set()
    for i, token in enumerate(tokens):
        parsed = qty.parse_number(token.text)
        if parsed is None:
            value = qty.word_number(words, i)
            parsed = (value, None) if value is not None else None
        if parsed is not None:
            value, unit = parsed
            before = words[i - 1] if i else ""
            unit = unit or qty.unit_after(words, i) or lx.CURRENCY_SYMBOLS.get(before)
            token.quantity = qty.Quantity(value, unit)
            found.append(token.quantity)
            continue
        ident = qty.identifier(token.text)
        if ident is not None:
            token.ident = ident
            ids.add(ident)
    return found, ids


def _canonical_token(token: _Token, vocab: Vocabulary) -> str:
    if token.text in lx.CURRENCY_SYMBOLS:
        return ""
    if token.quantity is not None:
        return "#" + token.quantity.value
    if token.ident is not None:
        return "@" + token.ident
    return vocab.canonical(token.text)


def _temporal(words: list[str]) -> frozenset[str]:
    found: set[str] = set()
    for i, word in enumerate(words):
        if word in lx.TEMPORAL:
            found.add(lx.TEMPORAL[word])
        nxt = words[i + 1] if i + 1 < len(words) else ""
        if word in lx.RELATIVE and qty.parse_number(nxt) is None:
            period = nxt[:-1] if nxt.endswith("s") else nxt
            if period in lx.PERIODS or nxt in lx.TEMPORAL:
                found.add(f"{lx.RELATIVE[word]}-{lx.TEMPORAL.get(nxt, period)}")
    return frozenset(found)


def _entities(tokens: list[_Token], vocab: Vocabulary) -> frozenset[str]:
    found: set[str] = set()
    for token in tokens:
        word = token.original
        if token.quantity is not None or token.ident is not None or len(word) < 2:
            continue
        if token.text in lx.TEMPORAL or (token.text in lx.FRAMING and word.isupper()):
            continue  # "Is it OK to ..." ("Best Buy" stays a name)
        all_caps = word.isupper() and word.isalpha()
        if all_caps or (word[0].isupper() and not token.sentence_start):
            found.add(vocab.canonical(token.text))
    return frozenset(found)


def _roles(
    tokens: list[_Token], canon: tuple[str, ...], vocab: Vocabulary
) -> dict[str, frozenset[str]]:
    roles: dict[str, set[str]] = {"source": set(), "dest": set()}
    words = [t.text for t in tokens]
    for i, word in enumerate(words):
        if word == "out" and i + 1 < len(words) and words[i + 1] == "of":
            role, start = "source", i + 2
        elif word in lx.SOURCE_WORDS:
            role, start = "source", i + 1
        elif word in lx.DEST_WORDS and not _infinitive(words, canon, i, vocab):
            role, start = "dest", i + 1
        else:
            continue
        head = _head(tokens, canon, start, vocab)
        if head is not None:
            roles[role].add(head)
    return {role: frozenset(heads) for role, heads in roles.items() if heads}


def _infinitive(words: list[str], canon: tuple[str, ...], i: int, vocab: Vocabulary) -> bool:
    if words[i] != "to":
        return False
    before = words[i - 1] if i else ""
    after = canon[i + 1] if i + 1 < len(canon) else ""
    return before in lx.INFINITIVE_BEFORE or before in lx.FRAMING or after in vocab.verbs


_DETERMINERS = frozenset(_w("the a an my your our their his its this that these those some any"))
_OBJECTS = {"me": "me", "us": "us", "you": "you", "him": "him", "her": "her", "them": "them"}


def _head(
    tokens: list[_Token], canon: tuple[str, ...], start: int, vocab: Vocabulary
) -> str | None:
    """The first content word of the phrase starting at ``start``: determiners are
    skipped, an object pronoun counts ("to me"), numbers and other function words end it."""
    for j in range(start, min(start + 3, len(tokens))):
        token = tokens[j]
        if token.quantity is not None or token.ident is not None:
            return None
        if token.text in _OBJECTS and (
            j + 1 >= len(tokens)
            or tokens[j + 1].sentence_start
            or tokens[j + 1].text in vocab.stopwords
        ):
            return _OBJECTS[token.text]
        if token.text in _DETERMINERS:
            continue
        return None if token.text in vocab.stopwords else canon[j]
    return None
