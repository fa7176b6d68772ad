"""The HNSW graph of the embedded store, on usearch (extra ``ann``).

Chosen by measurement over hnswlib and faiss-cpu (docs/semantic-cache.md, "Approximate
search in the embedded store"): true removal (a cache deletes and expires entries all the
time; faiss's HNSW cannot remove), wheels for every CPython on Linux (hnswlib ships a source
archive only), one file to save and load, no OpenMP pool spinning beside the embedding
model, and vectors stored as int8, which builds ~4x faster than float32 and takes a quarter
of the memory; the index re-scores every candidate exactly, so int8 costs only some recall.
Searches run on the calling thread (``threads=1``), builds on every core.

A parallel ``add`` in usearch 2.26 can leave a few nodes stored but unreachable (usearch
issue #735: 1-9 of 3,000 random 32-d vectors here, none when one thread adds), so after
each parallel add every new vector searches for itself and the ones that cannot find their
own key are removed and added again on one thread (see ``_relink_orphans``).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from outrigger.optional import require
from outrigger.vector.graph import GraphOptions, Keys, NeighbourGraph

log = logging.getLogger("outrigger.vector")
STORAGE = "i8"
#: The new vectors' self-search: a few neighbours at a narrow search breadth. Its own key is
#: among them unless the node is an orphan, or the narrow search missed it (~1% of 50k
#: 384-d vectors at ef 16, every orphan among them): those are re-added too, harmlessly.
#: At ef 16 the check costs ~60% of a parallel build's time, at ef 64 ~110%.
SELF_CHECK = 4
SELF_CHECK_EF = 16
PARALLEL_FROM = 1000


class UsearchGraph:
    def __init__(self, index: Any) -> None:
        self._index = index

    def __len__(self) -> int:
        return len(self._index)

    def add(self, keys: Keys, vectors: NDArray[np.float32]) -> None:
        if not len(keys):
            return
        threads = 1 if len(keys) < PARALLEL_FROM else os.cpu_count() or 1
        self._index.add(keys, vectors, threads=threads)
        if threads > 1:
            self._relink_orphans(keys, vectors, threads)

    def _relink_orphans(self, keys: Keys, vectors: NDArray[np.float32], threads: int) -> None:
        """Re-add, on one thread, the new nodes a parallel add left unreachable."""
        breadth = self._index.expansion_search
        self._index.expansion_search = SELF_CHECK_EF
        try:
            found = self._index.search(vectors, SELF_CHECK, threads=threads).keys
        finally:
            self._index.expansion_search = breadth
        lost = ~(np.asarray(found, dtype=np.uint64) == keys[:, None]).any(axis=1)
        if lost.any():
            log.debug(
                "re-linking %d of %d vectors a parallel add left unreachable",
                int(lost.sum()),
                len(keys),
            )
            self._index.remove(keys[lost])
            self._index.add(keys[lost], vectors[lost], threads=1)

    def remove(self, keys: Keys) -> None:
        if len(keys):
            self._index.remove(keys)

    def search(self, vector: NDArray[np.float32], count: int) -> Keys:
        if count < 1 or len(self._index) == 0:
            return np.empty(0, dtype=np.uint64)
        found = self._index.search(vector, count, threads=1)
        keys: Keys = np.asarray(found.keys, dtype=np.uint64)
        return keys

    def save(self, path: Path) -> None:
        self._index.save(str(path))


class UsearchGraphs:
    name = "usearch"

    def __init__(self) -> None:
        self._module = require("usearch.index", "ann")

    def new(self, dim: int, options: GraphOptions) -> NeighbourGraph:
        index = self._module.Index(
            ndim=dim,
            metric="ip",  # rows are unit vectors: inner product is the cosine
            dtype=STORAGE,
            connectivity=options.m,
            expansion_add=options.ef_construction,
            expansion_search=options.ef_search,
        )
        return UsearchGraph(index)

    def load(self, path: Path, dim: int, options: GraphOptions) -> NeighbourGraph | None:
        try:
            index = self._module.Index.restore(str(path))
        except (OSError, RuntimeError, ValueError) as exc:
            log.warning("unusable vector graph %s (%s): it will be rebuilt", path, exc)
            return None
        if index is None or index.ndim != dim:
            log.warning("vector graph %s does not fit %d-d vectors: it will be rebuilt", path, dim)
            return None
        index.expansion_search = options.ef_search
        return UsearchGraph(index)
