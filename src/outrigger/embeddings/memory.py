"""A dependency-free embedder for tests: hashed word and character-trigram features.

It knows nothing about meaning (``refund`` and ``reimbursement`` are unrelated to it) but
shares vocabulary sensibly, is deterministic across processes, and costs microseconds, so
cache and vector-store tests that do not measure quality need no model file.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence

import numpy as np

from outrigger.embeddings.base import Vectors, l2_normalise

_WORD = re.compile(r"\w+")


class HashingEmbedder:
    def __init__(self, dim: int = 384) -> None:
        if dim < 8:
            raise ValueError("dim must be at least 8")
        self._dim = dim

    @property
    def model_id(self) -> str:
        return f"hashing-{self._dim}"

    @property
    def dim(self) -> int:
        return self._dim

    def embed(self, texts: Sequence[str]) -> Vectors:
        out = np.zeros((len(texts), self._dim), dtype=np.float32)
        for row, text in enumerate(texts):
            for feature, weight in _features(text.lower()):
                digest = hashlib.blake2b(feature.encode(), digest_size=8).digest()
                slot = int.from_bytes(digest[:4], "little") % self._dim
                sign = 1.0 if digest[4] & 1 else -1.0
                out[row, slot] += sign * weight
        return l2_normalise(out)


def _features(text: str) -> list[tuple[str, float]]:
    words = _WORD.findall(text)
    features = [(f"w:{w}", 1.0) for w in words]
    for word in words:
        padded = f"#{word}#"
        features.extend((f"c:{padded[i : i + 3]}", 0.3) for i in range(len(padded) - 2))
    return features
