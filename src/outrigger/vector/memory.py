"""The in-memory vector store: the exact NumPy index per namespace, nothing persisted."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

from numpy.typing import ArrayLike

from outrigger.vector.base import (
    Filter,
    Payload,
    VectorHit,
    VectorRecord,
    check_filter,
    check_ids,
    check_namespace,
    check_search,
    check_upsert,
    clamp_score,
    tags_of,
)
from outrigger.vector.index import NamespaceIndex


class MemoryVectorStore:
    def __init__(self, dim: int) -> None:
        if dim < 1:
            raise ValueError("dim must be positive")
        self._dim = dim
        self._lock = threading.Lock()
        self._indexes: dict[str, NamespaceIndex] = {}
        self._payloads: dict[str, dict[str, dict[str, Any]]] = {}

    @property
    def dim(self) -> int:
        return self._dim

    def upsert(
        self, namespace: str, ids: Sequence[str], vectors: ArrayLike, payloads: Sequence[Payload]
    ) -> None:
        id_list, matrix, bodies = check_upsert(namespace, ids, vectors, payloads, self._dim)
        with self._lock:
            index = self._indexes.setdefault(namespace, NamespaceIndex(self._dim))
            index.upsert(id_list, matrix, [tags_of(p) for p in bodies])
            self._payloads.setdefault(namespace, {}).update(zip(id_list, bodies, strict=True))

    def search(
        self, namespace: str, vector: ArrayLike, k: int, filter: Filter | None = None
    ) -> list[VectorHit]:
        query = check_search(namespace, vector, k, self._dim)
        wanted = check_filter(filter)
        with self._lock:
            index = self._indexes.get(namespace)
            if index is None:
                return []
            found = index.search(query, k, wanted)
            payloads = self._payloads[namespace]
            return [VectorHit(i, clamp_score(s), dict(payloads[i])) for i, s in found]

    def get(self, namespace: str, ids: Sequence[str]) -> list[VectorRecord]:
        check_namespace(namespace)
        wanted = check_ids(ids)
        with self._lock:
            payloads = self._payloads.get(namespace, {})
            return [VectorRecord(i, dict(payloads[i])) for i in wanted if i in payloads]

    def delete(self, namespace: str, ids: Sequence[str]) -> None:
        check_namespace(namespace)
        doomed = check_ids(ids)
        with self._lock:
            index = self._indexes.get(namespace)
            if index is None:
                return
            index.remove(doomed)
            payloads = self._payloads[namespace]
            for item in doomed:
                payloads.pop(item, None)

    def delete_all(self, namespace: str) -> None:
        check_namespace(namespace)
        with self._lock:
            self._indexes.pop(namespace, None)
            self._payloads.pop(namespace, None)

    def count(self, namespace: str) -> int:
        check_namespace(namespace)
        with self._lock:
            index = self._indexes.get(namespace)
            return 0 if index is None else len(index)

    def close(self) -> None:
        with self._lock:
            self._indexes.clear()
            self._payloads.clear()
