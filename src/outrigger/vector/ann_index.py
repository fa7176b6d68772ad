"""One namespace of the embedded store: the exact index, plus an HNSW graph once it is big.

Below ``exact_below`` entries a search scans every row (exact, and at that size faster
than a graph). From there a graph proposes candidates and the exact index decides: each
candidate key is mapped back to a live entry of *this* namespace (a deleted or unknown key
maps to nothing), the filter is applied to the rows, and the survivors are scored exactly
from the float32 rows. So a graph can cost recall, never a wrong score, an entry that was
deleted, or another namespace's entry (each namespace has its own graph and key map).

Filters: when fewer than ``exact_below`` rows can match (per-value row counts say so without
a pass over the rows), those rows are scanned exactly. Otherwise the graph is asked for more
candidates than ``k`` in proportion to how rare the match is, four times more again while
too few survive, and past ``MAX_FETCH`` the matching rows are scanned exactly: slower, never
short of ``k``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from numpy.typing import NDArray

from outrigger.vector.base import Scalar
from outrigger.vector.graph import GraphFactory, GraphOptions, NeighbourGraph, key_of
from outrigger.vector.index import NamespaceIndex

MAX_FETCH = 4096


class AnnNamespaceIndex:
    def __init__(
        self,
        dim: int,
        graphs: GraphFactory | None = None,
        options: GraphOptions = GraphOptions(),
        exact_below: int = 0,
    ) -> None:
        self.exact = NamespaceIndex(dim)
        self._dim = dim
        self._graphs = graphs
        self._options = options
        self._exact_below = exact_below
        self._graph: NeighbourGraph | None = None
        self._owner: dict[int, str] = {}  # graph key -> the id whose vector it holds
        self._spill: set[str] = set()  # ids whose key another id holds: scanned exactly
        self.changed = 0  # writes since the graph was built, loaded or saved

    def __len__(self) -> int:
        return len(self.exact)

    @property
    def graph(self) -> NeighbourGraph | None:
        return self._graph

    def wants_graph(self) -> bool:
        return (
            self._graphs is not None
            and self._graph is None
            and len(self.exact) >= max(1, self._exact_below)
        )

    def upsert(
        self, ids: Sequence[str], vectors: NDArray[np.float32], tags: Sequence[Mapping[str, Scalar]]
    ) -> None:
        self.exact.upsert(ids, vectors, tags)
        if self._graph is not None:
            self._unlink(ids)
            self._link(ids, vectors)
            self.changed += len(ids)

    def remove(self, ids: Sequence[str]) -> None:
        self.exact.remove(ids)
        if self._graph is not None:
            self._unlink(ids)
            self.changed += len(ids)

    def build(self) -> None:
        """A new graph over every entry."""
        assert self._graphs is not None
        self._graph = self._graphs.new(self._dim, self._options)
        self._owner, self._spill = {}, set()
        self._link(self.exact.ids(), self.exact.vectors())
        self.changed = 0

    def attach(self, graph: NeighbourGraph, replay: Sequence[str]) -> bool:
        """Adopt a saved graph, then bring the entries written since it was saved
        (``replay``) up to date. False when the result does not hold exactly the live
        entries' keys (a stale or foreign file): the caller rebuilds."""
        owner: dict[int, str] = {}
        spill: set[str] = set()
        for item in self.exact.ids():
            key = key_of(item)
            if key in owner:
                spill.add(item)
            else:
                owner[key] = item
        changed = {key_of(item) for item in replay}
        if changed:
            graph.remove(np.fromiter(changed, dtype=np.uint64, count=len(changed)))
            live = [(k, owner[k]) for k in changed if k in owner]
            if live:
                keys = np.array([k for k, _ in live], dtype=np.uint64)
                graph.add(keys, self.exact.vectors()[self.exact.rows_of([i for _, i in live])])
        if len(graph) != len(owner):
            return False
        self._graph, self._owner, self._spill = graph, owner, spill
        self.changed = len(replay)
        return True

    def search(
        self, vector: NDArray[np.float32], k: int, filter: Mapping[str, Scalar]
    ) -> list[tuple[str, float]]:
        size = len(self.exact)
        if self._graph is None or size < self._exact_below:
            return self.exact.search(vector, k, filter)
        matching = self.exact.matching_at_most(filter) if filter else size
        if matching == 0:
            return []
        if matching < self._exact_below:
            return self.exact.search(vector, k, filter)
        rows = self._candidates(vector, k, filter, size / matching)
        if rows is None:
            return self.exact.search(vector, k, filter)
        return self.exact.search_within(vector, k, rows)

    def _candidates(
        self, vector: NDArray[np.float32], k: int, filter: Mapping[str, Scalar], rarity: float
    ) -> NDArray[np.intp] | None:
        """Rows of live, matching entries the graph proposes (``None``: ask the scan)."""
        assert self._graph is not None
        fetch = int(max(k + 8, 2 * k) * rarity)
        spilled = self.exact.rows_of(sorted(self._spill))
        while fetch <= MAX_FETCH:
            keys = self._graph.search(vector, min(fetch, len(self._graph)))
            ids = [self._owner.get(key) for key in keys.tolist()]
            rows = self.exact.rows_of([i for i in ids if i is not None])
            rows = np.concatenate([rows, spilled]) if spilled.size else rows
            if filter:
                rows = rows[self.exact.matches(rows, filter)]
            if rows.size >= k or fetch >= len(self._graph):
                return rows
            fetch *= 4
        return None

    def _link(self, ids: Sequence[str], vectors: NDArray[np.float32]) -> None:
        assert self._graph is not None
        keys: list[int] = []
        picked: list[int] = []
        for position, item in enumerate(ids):
            key = key_of(item)
            if key in self._owner:
                self._spill.add(item)
                continue
            self._owner[key] = item
            keys.append(key)
            picked.append(position)
        if keys:
            rows = vectors if len(picked) == len(ids) else np.asarray(vectors)[picked]
            self._graph.add(np.array(keys, dtype=np.uint64), rows)

    def _unlink(self, ids: Sequence[str]) -> None:
        assert self._graph is not None
        doomed: list[int] = []
        for item in ids:
            if item in self._spill:
                self._spill.discard(item)
                continue
            key = key_of(item)
            if self._owner.get(key) == item:
                del self._owner[key]
                doomed.append(key)
        if doomed:
            self._graph.remove(np.array(doomed, dtype=np.uint64))
