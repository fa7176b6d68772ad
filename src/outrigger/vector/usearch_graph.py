"""The HNSW graph of the embedded store, on usearch (extra ``ann``).

Chosen by measurement over hnswlib and faiss-cpu (docs/semantic-cache.md, "Approximate
search in the embedded store"): true removal (a cache deletes and expires entries all the
time; faiss's HNSW cannot remove), wheels for every CPython on Linux (hnswlib ships a source
archive only), one file to save and load, no OpenMP pool spinning beside the embedding
model, and vectors stored as int8, which builds ~4x faster than float32 and takes a quarter
of the memory; the index re-scores every candidate exactly, so int8 costs only some recall.
Searches run on the calling thread (``threads=1``), builds on every core.
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


class UsearchGraph:
    def __init__(self, index: Any) -> None:
        self._index = index

    def __len__(self) -> int:
        return len(self._index)

    def add(self, keys: Keys, vectors: NDArray[np.float32]) -> None:
        if len(keys):
            threads = 1 if len(keys) < 1000 else os.cpu_count() or 1
            self._index.add(keys, vectors, threads=threads)

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
