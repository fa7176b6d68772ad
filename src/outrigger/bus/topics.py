"""AMQP topic-pattern matching, shared by the embedded buses and pipeline routing.

``*`` matches exactly one dot-separated word, ``#`` matches zero or more words.
"""

from __future__ import annotations

from functools import lru_cache


def _match(pattern: tuple[str, ...], words: tuple[str, ...]) -> bool:
    # Iterative NFA over the pattern words: states are pattern positions.
    states = {0}
    for word in words:
        states = _closure(pattern, states)
        nxt: set[int] = set()
        for i in states:
            if i < len(pattern):
                token = pattern[i]
                if token == "#":
                    nxt.add(i)
                elif token in ("*", word):
                    nxt.add(i + 1)
        if not nxt:
            return False
        states = nxt
    return len(pattern) in _closure(pattern, states)


def _closure(pattern: tuple[str, ...], states: set[int]) -> set[int]:
    """Add the positions reachable by letting each '#' match zero words."""
    out = set(states)
    stack = list(states)
    while stack:
        i = stack.pop()
        if i < len(pattern) and pattern[i] == "#" and i + 1 not in out:
            out.add(i + 1)
            stack.append(i + 1)
    return out


@lru_cache(maxsize=4096)
def topic_matches(pattern: str, routing_key: str) -> bool:
    """True when ``routing_key`` matches the AMQP topic ``pattern``."""
    return _match(tuple(pattern.split(".")), tuple(routing_key.split(".")))


def any_topic_matches(patterns: tuple[str, ...] | list[str], routing_key: str) -> bool:
    return any(topic_matches(p, routing_key) for p in patterns)
