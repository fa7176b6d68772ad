"""An exact in-process index for one namespace: a float32 matrix and brute-force dot products.

At 10k 384-d vectors a scan is under a millisecond and exact; bigger namespaces add an
approximate graph in front of it (``ann_index.py``), which still scores through this index.
Rows grow by doubling; deletes move the last row into the gap.
Filterable payload fields are kept as integer code columns so a filter is one vectorised
comparison, not a Python loop over payloads.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from numpy.typing import NDArray

from outrigger.vector.base import Scalar

_TagKey = tuple[str, Scalar]


def _tag_key(value: Scalar) -> _TagKey:
    return (type(value).__name__, value)  # True and 1 are different tags


def _dot(matrix: NDArray[np.float32], vector: NDArray[np.float32]) -> NDArray[np.float32]:
    """Row-wise dot products on the calling thread. ``matrix @ vector`` would go to BLAS,
    whose worker threads spin after each call and steal the core the embedding model (ONNX
    Runtime, same process) needs: measured here, a 10k scan through BLAS tripled the
    model's latency; einsum's single-threaded SIMD loop does not."""
    scores: NDArray[np.float32] = np.einsum("ij,j->i", matrix, vector)
    return scores


class NamespaceIndex:
    def __init__(self, dim: int) -> None:
        self._dim = dim
        self._vectors: NDArray[np.float32] = np.empty((16, dim), dtype=np.float32)
        self._ids: list[str] = []
        self._rows: dict[str, int] = {}
        self._columns: dict[str, NDArray[np.int32]] = {}
        self._codes: dict[str, dict[_TagKey, int]] = {}
        self._counts: dict[str, dict[int, int]] = {}  # rows per column and code

    def __len__(self) -> int:
        return len(self._ids)

    def __contains__(self, item: str) -> bool:
        return item in self._rows

    def ids(self) -> list[str]:
        return list(self._ids)

    def row_of(self, item: str) -> int | None:
        return self._rows.get(item)

    def rows_of(self, items: Sequence[str]) -> NDArray[np.intp]:
        """The rows of these ids, the unknown ones left out."""
        rows = [r for r in map(self._rows.get, items) if r is not None]
        return np.asarray(rows, dtype=np.intp)

    def vectors(self) -> NDArray[np.float32]:
        """The live rows, in row order (a view: copy before the next write)."""
        return self._vectors[: len(self._ids)]

    def mask(self, filter: Mapping[str, Scalar]) -> NDArray[np.bool_] | None:
        """Which rows match ``filter`` (``None``: no filter, every row)."""
        size = len(self._ids)
        if not filter:
            return None
        mask = np.ones(size, dtype=np.bool_)
        for key, value in filter.items():
            column = self._columns.get(key)
            code = self._codes.get(key, {}).get(_tag_key(value))
            if column is None or code is None:
                return np.zeros(size, dtype=np.bool_)
            mask &= column[:size] == code
        return mask

    def matching_at_most(self, filter: Mapping[str, Scalar]) -> int:
        """An upper bound of the rows ``filter`` matches (exact for one field), without
        looking at the rows: a million-row mask costs a millisecond or two."""
        bound = len(self._ids)
        for key, value in filter.items():
            code = self._codes.get(key, {}).get(_tag_key(value))
            bound = min(bound, 0 if code is None else self._counts[key].get(code, 0))
        return bound

    def matches(self, rows: NDArray[np.intp], filter: Mapping[str, Scalar]) -> NDArray[np.bool_]:
        """Which of ``rows`` match ``filter``."""
        keep = np.ones(rows.size, dtype=np.bool_)
        for key, value in filter.items():
            column = self._columns.get(key)
            code = self._codes.get(key, {}).get(_tag_key(value))
            if column is None or code is None:
                return np.zeros(rows.size, dtype=np.bool_)
            keep &= column[rows] == code
        return keep

    def upsert(
        self, ids: Sequence[str], vectors: NDArray[np.float32], tags: Sequence[Mapping[str, Scalar]]
    ) -> None:
        for item, vector, row_tags in zip(ids, vectors, tags, strict=True):
            row = self._rows.get(item)
            if row is None:
                row = self._append(item)
            else:
                self._clear(row)
            self._vectors[row] = vector
            for key, value in row_tags.items():
                code = self._code(key, value)
                self._column(key)[row] = code
                counts = self._counts.setdefault(key, {})
                counts[code] = counts.get(code, 0) + 1

    def remove(self, ids: Sequence[str]) -> None:
        for item in ids:
            row = self._rows.pop(item, None)
            if row is None:
                continue
            self._clear(row)
            last = len(self._ids) - 1
            if row != last:
                moved = self._ids[last]
                self._ids[row] = moved
                self._rows[moved] = row
                self._vectors[row] = self._vectors[last]
                for column in self._columns.values():
                    column[row] = column[last]
            self._ids.pop()
            for column in self._columns.values():
                column[last] = 0

    def search(
        self, vector: NDArray[np.float32], k: int, filter: Mapping[str, Scalar]
    ) -> list[tuple[str, float]]:
        mask = self.mask(filter)
        return self.search_within(vector, k, None if mask is None else np.flatnonzero(mask))

    def search_within(
        self, vector: NDArray[np.float32], k: int, rows: NDArray[np.intp] | None
    ) -> list[tuple[str, float]]:
        """The exact top ``k`` of ``rows`` (``None``: of every row)."""
        size = len(self._ids)
        if size == 0:
            return []
        if rows is None:
            scores = _dot(self._vectors[:size], vector)
        elif rows.size == 0:
            return []
        elif rows.size * 4 < size:
            scores = _dot(self._vectors[rows], vector)
        else:
            scores = _dot(self._vectors[:size], vector)[rows]
        if scores.shape[0] > k:
            best = np.argpartition(-scores, k - 1)[:k]
            order = best[np.argsort(-scores[best], kind="stable")]
        else:
            order = np.argsort(-scores, kind="stable")
        picked = order if rows is None else rows[order]
        return [(self._ids[r], float(scores[o])) for r, o in zip(picked, order, strict=True)]

    def _clear(self, row: int) -> None:
        for key, column in self._columns.items():
            code = int(column[row])
            if code:
                self._counts[key][code] -= 1
                column[row] = 0

    def _append(self, item: str) -> int:
        row = len(self._ids)
        if row == self._vectors.shape[0]:
            self._grow(2 * row)
        self._ids.append(item)
        self._rows[item] = row
        return row

    def _grow(self, capacity: int) -> None:
        vectors = np.empty((capacity, self._dim), dtype=np.float32)
        vectors[: self._vectors.shape[0]] = self._vectors
        self._vectors = vectors
        for key, column in self._columns.items():
            grown = np.zeros(capacity, dtype=np.int32)
            grown[: column.shape[0]] = column
            self._columns[key] = grown

    def _column(self, key: str) -> NDArray[np.int32]:
        column = self._columns.get(key)
        if column is None:
            column = self._columns[key] = np.zeros(self._vectors.shape[0], dtype=np.int32)
        return column

    def _code(self, key: str, value: Scalar) -> int:
        codes = self._codes.setdefault(key, {})
        return codes.setdefault(_tag_key(value), len(codes) + 1)
