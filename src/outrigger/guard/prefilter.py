"""Necessary literals of a regular expression: a cheap test that rules out most searches.

``required_literals(pattern)`` reads the pattern with the ``re`` module's own parser and
returns a set of strings such that every match contains at least one of them (``None`` when
no such set can be told). ``rule.regex.search(text)`` can only succeed when one of them is
``in text``; substring tests are far cheaper than the search itself, whose leading
alternations (``\\b(?:ignore|disregard|...)``) ``re`` tries at every position. So the verdict
is the same, with or without the filter; only the work differs.

Only plain, case-sensitive literals are collected: a pattern (or a group) with IGNORECASE, or
anything else the parser gives (classes, categories, back-references), contributes no
requirement and never makes the filter skip a search it should run.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Callable, Sequence
from typing import Any

# The parser and opcodes of CPython's own re package (typeshed does not describe them).
sre_parse: Any = importlib.import_module("re._parser")
sre: Any = importlib.import_module("re._constants")

_MAX_STRINGS = 256  # cap on the strings an exact run may expand to
_MAX_RANGE = 16  # a character range expands to its characters up to this size
_PREFIX = 8  # literals are tested by their first characters only
_GRAM = 3  # substrings indexed per text
_ZERO_WIDTH = (sre.AT, sre.ASSERT, sre.ASSERT_NOT)
_REPEATS = (sre.MAX_REPEAT, sre.MIN_REPEAT, getattr(sre, "POSSESSIVE_REPEAT", sre.MAX_REPEAT))

Strings = frozenset[str]


class LiteralFilter:
    """Which of several patterns can match a text, from the literals each one needs.

    The text's three-character substrings are collected once and intersected with an index
    of the literals' first three characters (set operations in C); the few patterns left are
    confirmed with substring tests. A pattern without known literals is always possible.
    """

    def __init__(self, needs: Sequence[Strings | None]) -> None:
        self._always = frozenset(i for i, literals in enumerate(needs) if literals is None)
        self._literals = {i: tuple(lits) for i, lits in enumerate(needs) if lits is not None}
        self._by_start: dict[str, set[int]] = {}
        self._short: list[tuple[int, tuple[str, ...]]] = []  # literals under _GRAM characters
        for i, literals in self._literals.items():
            for literal in literals:
                if len(literal) >= _GRAM:
                    self._by_start.setdefault(literal[:_GRAM], set()).add(i)
            short = tuple(s for s in literals if len(s) < _GRAM)
            if short:
                self._short.append((i, short))

    def possible(self, text: str) -> set[int]:
        """The indexes of the patterns that may match ``text``."""
        grams = {text[i : i + _GRAM] for i in range(len(text) - _GRAM + 1)}
        found = set(self._always)
        for i, short in self._short:
            if any(map(text.__contains__, short)):
                found.add(i)
        maybe: set[int] = set()
        for gram in grams.intersection(self._by_start):
            maybe |= self._by_start[gram]
        for i in maybe - found:
            if any(map(text.__contains__, self._literals[i])):
                found.add(i)
        return found


def required_literals(pattern: str, flags: int = 0) -> Strings | None:
    """Strings of which every match of ``pattern`` contains one, or ``None`` (unknown)."""
    try:
        parsed = sre_parse.parse(pattern, flags)
    except (re.error, RecursionError):
        return None
    if parsed.state.flags & re.IGNORECASE:
        return None
    return _required(list(parsed))


def _best(candidates: list[Strings]) -> Strings | None:
    """The most selective set: the longest shortest string, then the fewest strings."""
    if not candidates:
        return None
    return max(map(_minimal, candidates), key=_selectivity)


def _selectivity(strings: Strings) -> tuple[bool, int, int]:
    """Rare enough (four characters or more), then cheap (few tests), then longer."""
    shortest = min(len(s) for s in strings)
    return shortest >= 4, -len(strings), shortest


def _minimal(strings: Strings) -> Strings:
    """Fewer tests for the same condition or a weaker one: each string cut to its first
    ``_PREFIX`` characters, and none kept that contains another (a text holding it holds
    the other)."""
    kept: list[str] = []
    for s in sorted({s[:_PREFIX] for s in strings}, key=len):
        if not any(k in s for k in kept):
            kept.append(s)
    return frozenset(kept)


def _required(items: list[Any]) -> Strings | None:
    candidates: list[Strings] = []
    run: set[str] = {""}

    def close() -> None:
        if "" not in run:
            candidates.append(frozenset(run))

    for item in items:
        exact = _exact(item)
        if exact is not None:
            if len(run) * len(exact) <= _MAX_STRINGS:
                run = {a + b for a in run for b in exact}
            else:
                close()
                run = set(exact)
            continue
        close()
        run = {""}
        inner = _required_item(item)
        if inner is not None:
            candidates.append(inner)
    close()
    return _best(candidates)


def _required_item(item: Any) -> Strings | None:
    op, av = item
    if op is sre.SUBPATTERN:
        sub = _case_sensitive_group(av)
        return None if sub is None else _required(sub)
    if op is sre.BRANCH:
        return _union(av[1], _required)
    if op in _REPEATS:
        low, _high, sub = av
        return _required(list(sub)) if low >= 1 else None
    if op is sre.ATOMIC_GROUP:
        return _required(list(av))
    return None


def _exact(item: Any) -> Strings | None:
    """Every string ``item`` can match, when that is a small finite set (else ``None``)."""
    op, av = item
    if op is sre.LITERAL:
        return frozenset({chr(av)})
    if op in _ZERO_WIDTH:
        return frozenset({""})
    if op is sre.IN:
        return _exact_class(av)
    if op is sre.SUBPATTERN:
        sub = _case_sensitive_group(av)
        return None if sub is None else _exact_sequence(sub)
    if op is sre.BRANCH:
        union = _union(av[1], _exact_sequence)
        return union if union is not None and len(union) <= _MAX_STRINGS else None
    if op in _REPEATS:
        return _exact_repeat(*av)
    return None


def _case_sensitive_group(av: Any) -> list[Any] | None:
    """A group's items, or None when the group changes case sensitivity (its literals
    would not be what the text holds)."""
    _group, add_flags, del_flags, sub = av
    return None if (add_flags | del_flags) & re.IGNORECASE else list(sub)


def _union(branches: list[Any], analyse: Callable[[list[Any]], Strings | None]) -> Strings | None:
    """The union of ``analyse`` over every branch; None when any branch gives None."""
    union: set[str] = set()
    for branch in branches:
        found = analyse(list(branch))
        if found is None:
            return None
        union |= found
    return frozenset(union)


def _exact_repeat(low: int, high: int, sub: Any) -> Strings | None:
    body = _exact_sequence(list(sub))
    if body is None:
        return None
    if (low, high) == (0, 1):
        return body | {""}
    if low == high and low <= 3:
        return _exact_sequence_of([body] * low)
    return None


def _exact_class(members: list[Any]) -> Strings | None:
    chars: set[str] = set()
    for op, av in members:
        if op is sre.LITERAL:
            chars.add(chr(av))
        elif op is sre.RANGE and av[1] - av[0] < _MAX_RANGE:
            chars.update(chr(c) for c in range(av[0], av[1] + 1))
        else:  # NEGATE, categories, wide ranges
            return None
    return frozenset(chars)


def _exact_sequence(items: list[Any]) -> Strings | None:
    parts = []
    for item in items:
        exact = _exact(item)
        if exact is None:
            return None
        parts.append(exact)
    return _exact_sequence_of(parts)


def _exact_sequence_of(parts: list[Strings]) -> Strings | None:
    strings = {""}
    for part in parts:
        if len(strings) * len(part) > _MAX_STRINGS:
            return None
        strings = {a + b for a in strings for b in part}
    return frozenset(strings)
