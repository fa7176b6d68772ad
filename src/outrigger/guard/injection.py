"""Prompt-injection screening of untrusted text (user content, event free text).

``InjectionDetector.screen(text)`` returns a ``Verdict``: a score in [0, 1] and the rules that
matched. The score combines the weights of the distinct matched rules as independent evidence
(``1 - Π(1 - w)``). The text is checked as given (normalised), with letter-spacing and
leetspeak undone, and inside base64/hex blobs that decode to text. What to do with a verdict
is the feature's ``InjectionPolicy`` (``guard/policy.py``); ``guard/screen.py`` combines
these rules with the learned classifier.
"""

from __future__ import annotations

import base64
import binascii
import re
import unicodedata
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Final

from outrigger.guard.injection_rules import RULES, Rule
from outrigger.guard.prefilter import LiteralFilter, required_literals

_INVISIBLE: Final = re.compile("[\u200b-\u200f\u202a-\u202e\u2060-\u2064\ufeff\u00ad]")
_SPACED: Final = re.compile(r"\b(?:[a-z][ .\-_*]){2,}[a-z]\b")
_DOTTED: Final = re.compile(r"\b(?:[a-z][.\-_*]){2,}[a-z]\b")
_LEET: Final = str.maketrans(
    {"0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "7": "t", "@": "a", "$": "s"}
)
_BASE64: Final = re.compile(r"[A-Za-z0-9+/]{24,}={0,2}")
_HEX: Final = re.compile(r"\b(?:[0-9a-fA-F]{2}){16,}\b")
_ENCODED_WEIGHT: Final = 0.8
_INVISIBLE_WEIGHT: Final = 0.3


@dataclass(frozen=True)
class RuleHit:
    rule: str
    category: str
    weight: float
    excerpt: str


#: The classifier's score from which it counts as having fired (the flag point of the scale).
CLASSIFIER_FIRES: Final = 0.5


@dataclass(frozen=True)
class Verdict:
    """The screen's answer for one text: ``score`` is the higher of the rules' score and the
    classifier's (None: no classifier ran)."""

    score: float
    hits: tuple[RuleHit, ...]
    classifier: float | None = None

    @property
    def rules(self) -> tuple[str, ...]:
        return tuple(h.rule for h in self.hits)

    @property
    def fired(self) -> tuple[str, ...]:
        """``rules`` and/or ``classifier``: what made the score."""
        out: tuple[str, ...] = ("rules",) if self.hits else ()
        if self.classifier is not None and self.classifier >= CLASSIFIER_FIRES:
            out += ("classifier",)
        return out


def _clean(text: str) -> str:
    return _INVISIBLE.sub("", unicodedata.normalize("NFKC", text)).lower()


def _blanks(text: str) -> str:
    return re.sub(r"[ \t\r\f\v]+", " ", text)


def normalise(text: str) -> str:
    """NFKC, invisible characters removed, lower case, runs of blanks collapsed."""
    return _blanks(_clean(text))


def _unspaced(text: str) -> str:
    """``i g n o r e  a l l`` -> ``ignore all``, ``1gn0re`` -> ``ignore`` (on ``_clean`` text:
    a run of two or more blanks separates words)."""
    text = _DOTTED.sub(lambda m: re.sub(r"[.\-_*]", "", m[0]), text)
    words = re.split(r"[ \t]{2,}", text)
    joined = " ".join(_SPACED.sub(lambda m: re.sub(r"[ .\-_*]", "", m[0]), w) for w in words)
    return _blanks(joined.translate(_LEET))


def _dehyphenated(text: str) -> str:
    """``ignore-all-previous-instructions`` -> ``ignore all previous instructions``."""
    return re.sub(r"(?<=[a-z])[-_](?=[a-z])", " ", text)


def _decoded_blobs(text: str) -> Iterator[str]:
    for match in _BASE64.finditer(text):
        blob = match[0]
        try:
            raw = base64.b64decode(blob + "=" * (-len(blob) % 4), validate=True)
        except (binascii.Error, ValueError):
            continue
        yield from _printable(raw)
    for match in _HEX.finditer(text):
        yield from _printable(bytes.fromhex(match[0]))


def _printable(raw: bytes) -> Iterator[str]:
    try:
        decoded = raw.decode("utf-8")
    except UnicodeDecodeError:
        return
    if decoded and sum(ch.isprintable() or ch.isspace() for ch in decoded) / len(decoded) > 0.9:
        yield decoded


class InjectionDetector:
    def __init__(self, rules: Sequence[Rule] = RULES) -> None:
        self._rules = tuple(rules)
        # Per rule, literals one of which every match contains: most searches are skipped.
        self._filter = LiteralFilter(
            [required_literals(r.regex.pattern, r.regex.flags) for r in self._rules]
        )

    def _match(self, text: str, prefix: str = "") -> dict[str, RuleHit]:
        hits: dict[str, RuleHit] = {}
        clean = _clean(text)
        normal = _blanks(clean)  # normalise(text), from the text already cleaned
        unspaced = _unspaced(clean)
        squashed = re.sub(r"[^a-z]", "", unspaced)
        variants = (normal, unspaced, _dehyphenated(normal), squashed)
        for variant in dict.fromkeys(variants):
            possible = self._filter.possible(variant)
            for i, rule in enumerate(self._rules):
                name = prefix + rule.name
                if i not in possible or name in hits:
                    continue
                found = rule.regex.search(variant)
                if found:
                    weight = max(rule.weight, _ENCODED_WEIGHT) if prefix else rule.weight
                    hits[name] = RuleHit(name, rule.category, weight, found[0][:80])
        return hits

    def screen(self, text: str) -> Verdict:
        hits = self._match(text)
        for decoded in _decoded_blobs(unicodedata.normalize("NFKC", text)):
            for name, hit in self._match(decoded, prefix="encoded:").items():
                hits.setdefault(name, hit)
        if _INVISIBLE.search(text) and hits:
            hits["invisible_characters"] = RuleHit(
                "invisible_characters", "obfuscation", _INVISIBLE_WEIGHT, ""
            )
        remaining = 1.0
        for hit in hits.values():
            remaining *= 1.0 - hit.weight
        return Verdict(round(1.0 - remaining, 4), tuple(hits.values()))
