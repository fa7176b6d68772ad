"""Per-text results kept for texts seen again: a bounded, thread-safe LRU.

A chat client re-sends the whole conversation with every call, so the proxy's per-message
work (the injection screen's verdict, the PII detector's spans) is asked again, turn after
turn, for the same system prompt and earlier messages: a ten-turn conversation screens ten
user messages on its last call. Both are pure functions of the text (for one loaded model
and rule set), so their answer for a text already seen is looked up instead.

Keys are a 16-byte BLAKE2b digest of the text plus an extra key part, not the text: what
callers typed is not kept in memory by this; the values are the callers' (a verdict, with
the short excerpts its rules matched; offsets and entity types). The proxy's steps put the
tenant in the extra part: a text one tenant sent is answered faster, and a caller who can
time calls could otherwise learn what another tenant's users wrote. Look-ups take a lock, as
the proxy runs large texts in a worker thread (``offload.run_sized``) beside the event loop.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from hashlib import blake2b
from typing import Generic, TypeVar

V = TypeVar("V")

#: Entries kept by default: a few thousand short verdicts or span lists, well under a MB.
DEFAULT_ENTRIES = 4096


class TextMemo(Generic[V]):
    """``get(text, compute)``: ``compute(text)`` once per distinct (text, extra), then the
    kept value, for at most ``entries`` texts (least recently used out first)."""

    def __init__(self, entries: int = DEFAULT_ENTRIES) -> None:
        if entries < 1:
            raise ValueError("a memo keeps at least one entry")
        self.entries = entries
        self._values: OrderedDict[tuple[bytes, Hashable], V] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def get(self, text: str, compute: Callable[[str], V], extra: Hashable = None) -> V:
        key = (blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).digest(), extra)
        with self._lock:
            value = self._values.get(key, _MISSING)
            if value is not _MISSING:
                self._values.move_to_end(key)
                self.hits += 1
                return value  # type: ignore[return-value]
        value = compute(text)  # outside the lock: two threads may both compute a new text
        with self._lock:
            self.misses += 1
            self._values[key] = value
            self._values.move_to_end(key)
            while len(self._values) > self.entries:
                self._values.popitem(last=False)
        return value

    def __len__(self) -> int:
        return len(self._values)


_MISSING = object()
