"""Qdrant server through ``qdrant-client`` (``url=``); in-process Qdrant is ``qdrant_edge.py``.

One collection per namespace (``<prefix><namespace>``). Isolation is physical: a search
runs against one tenant's collection and cannot see another's points, whatever the
filter says. One collection per tenant suits tens to hundreds of tenants; for thousands,
Qdrant recommends one collection with a ``is_tenant`` payload index instead (not built
here). ``indexed_fields`` get keyword payload indexes.

Point ids must be integers or UUIDs in Qdrant, so each id is mapped to a UUID derived from
its SHA-256 and the original id travels in the payload (``_outrigger_id``).
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Sequence
from typing import Any

from numpy.typing import ArrayLike

from outrigger.optional import require
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
)

ID_KEY = "_outrigger_id"


def point_id(item: str) -> str:
    return str(uuid.UUID(bytes=hashlib.sha256(item.encode()).digest()[:16]))


class QdrantVectorStore:
    def __init__(
        self,
        client: Any,
        dim: int,
        *,
        prefix: str = "outrigger-",
        indexed_fields: Sequence[str] = (),
    ) -> None:
        self._models = require("qdrant_client.models", "qdrant")
        self._client = client
        self._dim = dim
        self._prefix = prefix
        self._indexed = tuple(indexed_fields)
        self._known: set[str] = set()

    @classmethod
    def server(
        cls,
        url: str,
        dim: int,
        *,
        api_key: str | None = None,
        prefix: str = "outrigger-",
        indexed_fields: Sequence[str] = (),
        timeout_s: float = 10.0,
    ) -> QdrantVectorStore:
        qdrant = require("qdrant_client", "qdrant")
        client = qdrant.QdrantClient(url=url, api_key=api_key, timeout=int(timeout_s))
        return cls(client, dim, prefix=prefix, indexed_fields=indexed_fields)

    @property
    def dim(self) -> int:
        return self._dim

    def upsert(
        self, namespace: str, ids: Sequence[str], vectors: ArrayLike, payloads: Sequence[Payload]
    ) -> None:
        id_list, matrix, bodies = check_upsert(namespace, ids, vectors, payloads, self._dim)
        points = [
            self._models.PointStruct(id=point_id(i), vector=v.tolist(), payload={**p, ID_KEY: i})
            for i, v, p in zip(id_list, matrix, bodies, strict=True)
        ]
        name = self._ensure(namespace)
        self._client.upsert(collection_name=name, points=points, wait=True)

    def search(
        self, namespace: str, vector: ArrayLike, k: int, filter: Filter | None = None
    ) -> list[VectorHit]:
        query = check_search(namespace, vector, k, self._dim)
        wanted = check_filter(filter)
        name = self._existing(namespace)
        if name is None:
            return []
        result = self._client.query_points(
            collection_name=name,
            query=query.tolist(),
            limit=k,
            query_filter=self._filter(wanted),
            with_payload=True,
        )
        return scored_hits(result.points)

    def get(self, namespace: str, ids: Sequence[str]) -> list[VectorRecord]:
        check_namespace(namespace)
        wanted = check_ids(ids)
        name = self._existing(namespace)
        if name is None or not wanted:
            return []
        points = self._client.retrieve(
            collection_name=name, ids=[point_id(i) for i in wanted], with_payload=True
        )
        found = dict(unpack(p.payload) for p in points)
        return [VectorRecord(i, found[i]) for i in wanted if i in found]

    def delete(self, namespace: str, ids: Sequence[str]) -> None:
        check_namespace(namespace)
        doomed = check_ids(ids)
        name = self._existing(namespace)
        if name is None or not doomed:
            return
        selector = self._models.PointIdsList(points=[point_id(i) for i in doomed])
        self._client.delete(collection_name=name, points_selector=selector, wait=True)

    def delete_all(self, namespace: str) -> None:
        check_namespace(namespace)
        name = self._existing(namespace)
        if name is not None:
            self._client.delete_collection(collection_name=name)
        self._known.discard(self._prefix + namespace)

    def count(self, namespace: str) -> int:
        check_namespace(namespace)
        name = self._existing(namespace)
        if name is None:
            return 0
        return int(self._client.count(collection_name=name, exact=True).count)

    def close(self) -> None:
        self._client.close()

    def _existing(self, namespace: str) -> str | None:
        name = self._prefix + namespace
        if name in self._known:
            return name
        if self._client.collection_exists(collection_name=name):
            self._known.add(name)
            return name
        return None

    def _ensure(self, namespace: str) -> str:
        name = self._existing(namespace)
        if name is not None:
            return name
        name = self._prefix + namespace
        params = self._models.VectorParams(size=self._dim, distance=self._models.Distance.COSINE)
        try:
            self._client.create_collection(collection_name=name, vectors_config=params)
        except Exception:  # created concurrently by another process: fine if it now exists
            if not self._client.collection_exists(collection_name=name):
                raise
        for field in self._indexed:
            self._client.create_payload_index(
                collection_name=name,
                field_name=field,
                field_schema=self._models.PayloadSchemaType.KEYWORD,
            )
        self._known.add(name)
        return name

    def _filter(self, wanted: dict[str, Any]) -> Any:
        if not wanted:
            return None
        models = self._models
        conditions = [
            models.FieldCondition(key=key, match=models.MatchValue(value=value))
            for key, value in wanted.items()
        ]
        return models.Filter(must=conditions)


def unpack(payload: dict[str, Any] | None, *, hidden: str = "") -> tuple[str, dict[str, Any]]:
    """A point's original id and payload; keys starting with ``hidden`` (the store's own
    shadow fields, when given) are left out."""
    body = {k: v for k, v in (payload or {}).items() if not (hidden and k.startswith(hidden))}
    return str(body.pop(ID_KEY)), body


def scored_hits(points: Sequence[Any], *, hidden: str = "") -> list[VectorHit]:
    """Qdrant's scored points (client or engine) as hits, best first as returned."""
    hits = []
    for point in points:
        item, body = unpack(point.payload, hidden=hidden)
        hits.append(VectorHit(item, clamp_score(point.score), body))
    return hits
