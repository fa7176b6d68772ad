"""The digit bound read from a pattern: a true lower bound for every match, and a detector
that skips the patterns a text has too few digits for finds exactly what it found before."""

from __future__ import annotations

import json
import random
import re
from pathlib import Path

import pytest

from outrigger.privacy.base import resolve_overlaps
from outrigger.privacy.digits import count_digits, min_digits
from outrigger.privacy.fast import RegexDetector, match_spec
from outrigger.privacy.patterns import ALL_SPECS

DATA = Path(__file__).resolve().parents[2] / "benchmarks" / "data"
DIGIT = re.compile(r"\d")


@pytest.mark.parametrize(
    ("pattern", "needs"),
    [
        (r"\d{3}-\d{2}-\d{4}", 9),
        (r"(?<![\d+])\d{3}([- .])[0-9]{2}\1\d{4}", 9),  # lookbehind and back-reference: 0
        (r"\d{1,2}/(?:\d{4}|\d{2})", 3),  # an alternation counts its smallest branch
        (r"[0-9a-f]{8}", 0),  # not only digits
        (r"[^0-9]{3}", 0),
        (r"x0y", 1),
        (r"(?>\d{2})\d*?\d++", 3),  # atomic group, lazy and possessive repeats
        (r"\d(?:[ -]?\d){12,18}", 13),
        (r"(?=\d{5})\w+", 0),  # a lookahead consumes nothing
        ("[\u0660-\u0669]{2}", 2),  # Arabic-Indic digits are digits too
    ],
)
def test_the_bound_is_read_from_the_pattern(pattern: str, needs: int) -> None:
    assert min_digits(re.compile(pattern)) == needs


def test_counting_stops_at_the_cap() -> None:
    assert count_digits("a1b2c3", 10) == 3
    assert count_digits("1" * 1_000_000, 13) == 13
    assert count_digits("no digits", 5) == 0


@pytest.fixture(scope="module")
def texts() -> list[str]:
    """Our labelled PII sets and random strings dense in digits and separators."""
    found = [
        json.loads(line)["text"]
        for name in ("synthetic", "handwritten", "holdout")
        for line in (DATA / f"pii_{name}.jsonl").read_text().splitlines()
        if line.strip()
    ]
    rng = random.Random(7)
    alphabet = "0123456789 -./+()@:abcdefXYZ"
    found += ["".join(rng.choice(alphabet) for _ in range(rng.randint(5, 60))) for _ in range(3000)]
    return found


def test_every_match_of_every_pattern_holds_at_least_its_bound(texts: list[str]) -> None:
    checked = 0
    for spec in ALL_SPECS:
        needs = min_digits(spec.regex)
        for text in texts:
            for match in spec.regex.finditer(text):
                assert len(DIGIT.findall(match.group(0))) >= needs, (spec.entity, match.group(0))
                checked += 1
    assert checked > 1000  # the sets exercise the patterns


def test_skipping_patterns_changes_no_finding(texts: list[str]) -> None:
    detector = RegexDetector()
    assert any(min_digits(s.regex) >= 9 for s in ALL_SPECS)  # something is skipped at all
    for text in texts:
        every = [s for spec in ALL_SPECS for s in match_spec(spec, text) if s.score >= 0.5]
        assert detector.detect(text) == resolve_overlaps(every), text
