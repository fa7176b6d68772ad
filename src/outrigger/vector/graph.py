"""The approximate-nearest-neighbour seam of the embedded store: one graph per namespace.

A graph maps 64-bit keys to vectors and answers "which keys are near this vector",
approximately. It never decides what is returned: the namespace index (``ann_index.py``)
maps keys back to entries, drops those a filter excludes and re-scores the rest exactly
from its own float32 rows, so a graph that stores vectors coarsely (int8) or returns a
stale key costs recall, never a wrong score or another namespace's entry.

``UsearchGraph`` (``usearch_graph.py``) is the real one; ``BruteForceGraph`` here is the
in-memory reference the tests use to check the index's logic without the library.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np
from numpy.typing import NDArray

Keys = NDArray[np.uint64]


@dataclass(frozen=True, slots=True)
class GraphOptions:
    """HNSW parameters: ``m`` links per node, the search breadth while building and while
    searching (``ef_search`` is raised to the number of results asked for). Defaults from
    docs/semantic-cache.md's measurements: at 100k entries m 32 finds a paraphrase's entry
    (cosine 0.75) 99% of the time at ef_search 64, m 16 95% (and 99% only at ef_search 128,
    which costs more time than m 32 does)."""

    m: int = 32
    ef_construction: int = 64
    ef_search: int = 64


class NeighbourGraph(Protocol):
    def __len__(self) -> int: ...

    def add(self, keys: Keys, vectors: NDArray[np.float32]) -> None:
        """Add new keys (a key already present is a caller error)."""
        ...

    def remove(self, keys: Keys) -> None:
        """Remove keys; absent keys are ignored. A removed key is never returned again."""
        ...

    def search(self, vector: NDArray[np.float32], count: int) -> Keys:
        """Up to ``count`` keys near ``vector``, roughly nearest first."""
        ...

    def save(self, path: Path) -> None: ...


class GraphFactory(Protocol):
    """Makes empty graphs and loads saved ones (``None`` when the file is unusable)."""

    name: str

    def new(self, dim: int, options: GraphOptions) -> NeighbourGraph: ...

    def load(self, path: Path, dim: int, options: GraphOptions) -> NeighbourGraph | None: ...


def key_of(item: str) -> int:
    """A stable 63-bit key for an entry id: the same after every restart and in any load
    order, so a saved graph needs no id table beside it. Two ids of one namespace sharing a
    key (odds ~3e-8 at a million entries) are handled by the index: the second is searched
    exactly instead."""
    digest = hashlib.blake2b(item.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") >> 1


class BruteForceGraph:
    """Exact "graph" of a few thousand vectors: the reference implementation for tests."""

    def __init__(self, dim: int) -> None:
        self._dim = dim
        self._vectors: dict[int, NDArray[np.float32]] = {}

    def __len__(self) -> int:
        return len(self._vectors)

    def add(self, keys: Keys, vectors: NDArray[np.float32]) -> None:
        for key, vector in zip(keys.tolist(), vectors, strict=True):
            if key in self._vectors:
                raise ValueError(f"key {key} is already in the graph")
            self._vectors[key] = np.array(vector, dtype=np.float32)

    def remove(self, keys: Keys) -> None:
        for key in keys.tolist():
            self._vectors.pop(key, None)

    def search(self, vector: NDArray[np.float32], count: int) -> Keys:
        if not self._vectors:
            return np.empty(0, dtype=np.uint64)
        keys = np.fromiter(self._vectors, dtype=np.uint64, count=len(self._vectors))
        scores = np.stack(list(self._vectors.values())) @ vector
        return keys[np.argsort(-scores, kind="stable")[:count]]

    def save(self, path: Path) -> None:
        keys = np.fromiter(self._vectors, dtype=np.uint64, count=len(self._vectors))
        rows = np.stack(list(self._vectors.values())) if self._vectors else np.empty((0, 0))
        with path.open("wb") as out:
            np.savez(out, keys=keys, vectors=rows)


class BruteForceGraphs:
    name = "brute-force"

    def new(self, dim: int, options: GraphOptions) -> NeighbourGraph:
        return BruteForceGraph(dim)

    def load(self, path: Path, dim: int, options: GraphOptions) -> NeighbourGraph | None:
        try:
            with np.load(path) as saved:
                keys, rows = saved["keys"], saved["vectors"]
        except (OSError, ValueError, KeyError):
            return None
        graph = BruteForceGraph(dim)
        if len(keys):
            if rows.shape != (len(keys), dim):
                return None
            graph.add(keys.astype(np.uint64), rows.astype(np.float32))
        return graph
