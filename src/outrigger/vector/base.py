"""The vector-store Protocol. Every call names a namespace (one per tenant and use):
no method can read or write across namespaces, so isolation does not depend on callers
remembering a filter.

Vectors are compared by cosine similarity; ``score`` is in [-1, 1], higher is closer.
Filters are equality on scalar payload fields (str up to 128 characters, int, bool), all
of them must hold. The calls are synchronous: the embedded stores are CPU-bound and
sub-millisecond, the client libraries of the others are blocking; async callers run them
in a worker thread (``SemanticCache`` does).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import numpy as np
from numpy.typing import ArrayLike, NDArray

Scalar = str | int | bool
Filter = Mapping[str, Scalar]
Payload = Mapping[str, Any]

_NAMESPACE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")
MAX_TAG_LENGTH = 128


@dataclass(frozen=True, slots=True)
class VectorHit:
    id: str
    score: float
    payload: dict[str, Any]


@dataclass(frozen=True, slots=True)
class VectorRecord:
    id: str
    payload: dict[str, Any]


@runtime_checkable
class VectorStore(Protocol):
    @property
    def dim(self) -> int: ...

    def upsert(
        self, namespace: str, ids: Sequence[str], vectors: ArrayLike, payloads: Sequence[Payload]
    ) -> None:
        """Insert or replace; ``vectors`` is ``(len(ids), dim)``; payloads are JSON objects."""
        ...

    def search(
        self, namespace: str, vector: ArrayLike, k: int, filter: Filter | None = None
    ) -> list[VectorHit]:
        """The ``k`` closest entries of ``namespace`` that match ``filter``, best first."""
        ...

    def get(self, namespace: str, ids: Sequence[str]) -> list[VectorRecord]:
        """The entries with these ids (missing ones are left out), in the order asked."""
        ...

    def delete(self, namespace: str, ids: Sequence[str]) -> None:
        """Delete these ids; unknown ids are ignored."""
        ...

    def delete_all(self, namespace: str) -> None:
        """Delete every entry of ``namespace`` (and nothing else)."""
        ...

    def count(self, namespace: str) -> int: ...

    def close(self) -> None: ...


def check_namespace(namespace: str) -> str:
    if not isinstance(namespace, str) or not _NAMESPACE.match(namespace):
        raise ValueError(
            f"invalid namespace {namespace!r}: 1-100 characters of A-Z a-z 0-9 _ . -, "
            "starting with a letter or digit"
        )
    return namespace


def check_ids(ids: Sequence[str]) -> list[str]:
    if isinstance(ids, str):
        raise TypeError("ids must be a sequence of strings, not one string")
    out = list(ids)
    if not all(isinstance(i, str) and i for i in out):
        raise ValueError("ids must be non-empty strings")
    return out


def unit_rows(vectors: ArrayLike, dim: int, count: int | None = None) -> NDArray[np.float32]:
    """``vectors`` as float32 rows of unit length; rejects bad shapes, NaN and zero rows."""
    matrix = np.asarray(vectors, dtype=np.float32)
    if matrix.ndim == 1:
        matrix = matrix[None, :]
    if matrix.ndim != 2 or matrix.shape[1] != dim:
        raise ValueError(f"expected vectors of dimension {dim}, got shape {matrix.shape}")
    if count is not None and matrix.shape[0] != count:
        raise ValueError(f"{count} ids but {matrix.shape[0]} vectors")
    if not np.isfinite(matrix).all():
        raise ValueError("vectors must be finite")
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    if (norms == 0).any():
        raise ValueError("zero vectors have no direction")
    unit: NDArray[np.float32] = (matrix / norms).astype(np.float32)
    return unit


def check_upsert(
    namespace: str, ids: Sequence[str], vectors: ArrayLike, payloads: Sequence[Payload], dim: int
) -> tuple[list[str], NDArray[np.float32], list[dict[str, Any]]]:
    check_namespace(namespace)
    id_list = check_ids(ids)
    if len(set(id_list)) != len(id_list):
        raise ValueError("ids must be unique within one upsert")
    if len(payloads) != len(id_list):
        raise ValueError(f"{len(id_list)} ids but {len(payloads)} payloads")
    return id_list, unit_rows(vectors, dim, len(id_list)), [dict(p) for p in payloads]


def check_search(namespace: str, vector: ArrayLike, k: int, dim: int) -> NDArray[np.float32]:
    check_namespace(namespace)
    if not isinstance(k, int) or k < 1:
        raise ValueError("k must be a positive integer")
    row: NDArray[np.float32] = unit_rows(vector, dim, 1)[0]
    return row


def check_filter(filter: Filter | None) -> dict[str, Scalar]:
    if not filter:
        return {}
    for key, value in filter.items():
        if not isinstance(value, str | int | bool) or isinstance(value, float):
            raise ValueError(f"filter value for {key!r} must be str, int or bool")
    return dict(filter)


def tags_of(payload: Payload) -> dict[str, Scalar]:
    """The payload fields a filter can match: short strings, ints and bools."""
    return {
        key: value
        for key, value in payload.items()
        if isinstance(value, bool | int)
        or (isinstance(value, str) and len(value) <= MAX_TAG_LENGTH)
    }


def clamp_score(value: float) -> float:
    return max(-1.0, min(1.0, float(value))) if math.isfinite(value) else -1.0
