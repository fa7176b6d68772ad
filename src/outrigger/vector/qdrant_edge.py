"""Qdrant's own engine in-process (``qdrant-edge-py``): one shard directory per namespace.

Isolation is physical, as with the server's one collection per namespace: a search opens
one tenant's shard and cannot see another's points, whatever the filter says. A purge
opens the shard (refused if another process holds it), closes it, renames the directory
aside and deletes that; a directory without the engine's config file is never loaded, so
an interrupted purge or create cannot bring data back. Each shard keeps a write-ahead log,
so what ``upsert`` returned survives a crash, and reloads at the next open.

Searches are exact until the engine's optimizer has built a shard's HNSW index; in
qdrant-edge-py 0.9.0 ``optimize()`` holds the GIL for its whole run (seconds at 20k
entries, minutes at 100k), so the store never runs it inline: ``outrigger cache optimize``
does, while the gateway is stopped (one process may open a shard at a time).

Two quirks of the binding are handled here: point ids must be integers or UUIDs (each id
maps to a UUID from its SHA-256 and travels in the payload, as in ``qdrant.py``), and a
``MatchValue(True)`` is sent as the integer 1, which never matches a stored boolean, so a
boolean field is also stored as the keyword ``"true"``/``"false"`` under a shadow key that
filters match instead.
"""

from __future__ import annotations

import json
import logging
import shutil
import threading
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from numpy.typing import ArrayLike

from outrigger.errors import ConfigError
from outrigger.optional import require
from outrigger.vector.base import (
    Filter,
    Payload,
    Scalar,
    VectorHit,
    VectorRecord,
    check_filter,
    check_ids,
    check_namespace,
    check_search,
    check_upsert,
)
from outrigger.vector.graph import GraphOptions
from outrigger.vector.qdrant import ID_KEY, point_id, scored_hits, unpack

log = logging.getLogger("outrigger.vector")

#: Not a dot: Qdrant reads a dotted key as a path into nested objects.
BOOL_PREFIX = "_outrigger_bool__"
CONFIG = "edge_config.json"  # written by the engine when it creates a shard
PURGED = ".purged-"  # a purged shard's directory, renamed before it is deleted


class QdrantEdgeVectorStore:
    def __init__(
        self,
        root: Path,
        dim: int,
        *,
        hnsw: GraphOptions = GraphOptions(),
        exact_below: int = 10_000,
        indexed_fields: Sequence[str] = (),
    ) -> None:
        if dim < 1:
            raise ValueError("dim must be positive")
        self._edge = require("qdrant_edge", "qdrant")
        self._root = root
        self._dim = dim
        self._hnsw = hnsw
        # Qdrant counts the exact-search threshold in KiB of vectors, not in entries.
        self._full_scan_kib = max(1, exact_below * dim * 4 // 1024)
        self._indexed = tuple(indexed_fields)
        self._shards: dict[str, Any] = {}
        self._lock = threading.RLock()
        root.mkdir(parents=True, exist_ok=True)
        for leftover in root.glob(PURGED + "*"):  # a purge interrupted half-way
            shutil.rmtree(leftover)

    @property
    def dim(self) -> int:
        return self._dim

    def upsert(
        self, namespace: str, ids: Sequence[str], vectors: ArrayLike, payloads: Sequence[Payload]
    ) -> None:
        id_list, matrix, bodies = check_upsert(namespace, ids, vectors, payloads, self._dim)
        for body in bodies:
            reserved = [k for k in body if k == ID_KEY or k.startswith(BOOL_PREFIX)]
            if reserved:
                raise ValueError(f"payload keys reserved by the store: {reserved}")
        edge = self._edge
        points = [
            edge.Point(id=point_id(i), vector=v.tolist(), payload=_stored(i, body))
            for i, v, body in zip(id_list, matrix, bodies, strict=True)
        ]
        with self._lock:
            shard = self._shard(namespace, create=True)
            assert shard is not None
            shard.update(edge.UpdateOperation.upsert_points(points))

    def search(
        self, namespace: str, vector: ArrayLike, k: int, filter: Filter | None = None
    ) -> list[VectorHit]:
        query = check_search(namespace, vector, k, self._dim)
        edge = self._edge
        request = edge.QueryRequest(
            limit=k,
            query=edge.Query.Nearest(query.tolist()),
            filter=self._filter(check_filter(filter)),
            with_payload=True,
            params=edge.SearchParams(hnsw_ef=max(self._hnsw.ef_search, k)),
        )
        with self._lock:
            shard = self._shard(namespace)
            points = [] if shard is None else shard.query(request)
        return scored_hits(points, hidden=BOOL_PREFIX)

    def get(self, namespace: str, ids: Sequence[str]) -> list[VectorRecord]:
        check_namespace(namespace)
        wanted = check_ids(ids)
        with self._lock:
            shard = self._shard(namespace)
            if shard is None or not wanted:
                return []
            records = shard.retrieve([point_id(i) for i in wanted], True, False)
        found = dict(unpack(r.payload, hidden=BOOL_PREFIX) for r in records)
        return [VectorRecord(i, found[i]) for i in wanted if i in found]

    def delete(self, namespace: str, ids: Sequence[str]) -> None:
        check_namespace(namespace)
        doomed = check_ids(ids)
        with self._lock:
            shard = self._shard(namespace)
            if shard is not None and doomed:
                operation = self._edge.UpdateOperation.delete_points([point_id(i) for i in doomed])
                shard.update(operation)

    def delete_all(self, namespace: str) -> None:
        """Open the shard first (a shard another process holds is refused, not pulled from
        under it), close it, move its directory aside in one rename, then delete that."""
        check_namespace(namespace)
        with self._lock:
            shard = self._shard(namespace)
            self._shards.pop(namespace, None)
            if shard is not None:
                shard.close()
            path = self._root / namespace
            if path.exists():
                doomed = self._root / f"{PURGED}{uuid.uuid4().hex}"
                path.rename(doomed)
                shutil.rmtree(doomed)

    def count(self, namespace: str) -> int:
        check_namespace(namespace)
        with self._lock:
            shard = self._shard(namespace)
            return 0 if shard is None else int(shard.count(self._edge.CountRequest(exact=True)))

    def optimize(self, namespace: str | None = None) -> list[str]:
        """Build the HNSW indexes of one namespace (or of every one on disk); blocks, and
        holds the GIL while the engine works. Returns the namespaces it optimized."""
        with self._lock:
            names = [check_namespace(namespace)] if namespace else self.namespaces()
            done = []
            for name in names:
                shard = self._shard(name)
                if shard is not None and shard.optimize():
                    done.append(name)
            return done

    def namespaces(self) -> list[str]:
        return sorted(p.parent.name for p in self._root.glob(f"*/{CONFIG}"))

    def close(self) -> None:
        """Flush and close every open shard; one that fails does not keep the others open."""
        with self._lock:
            failures = []
            for namespace, shard in self._shards.items():
                try:
                    shard.flush()
                    shard.close()
                except Exception as exc:  # the binding raises a bare Exception
                    failures.append(f"{namespace}: {exc}")
            self._shards.clear()
        if failures:
            raise ConfigError("closing Qdrant shards failed: " + "; ".join(failures))

    def _shard(self, namespace: str, *, create: bool = False) -> Any | None:
        shard = self._shards.get(namespace)
        if shard is not None:
            return shard
        path = self._root / namespace
        exists = (path / CONFIG).exists()
        if not exists and not create:
            return None
        if not exists and path.exists():  # not a shard (an unfinished create): start afresh
            shutil.rmtree(path)
        shard = self._open(path, exists=exists)
        self._shards[namespace] = shard
        return shard

    def _open(self, path: Path, *, exists: bool) -> Any:
        edge = self._edge
        config = edge.EdgeConfig(
            vectors=edge.EdgeVectorParams(size=self._dim, distance=edge.Distance.Cosine),
            hnsw_config=edge.HnswIndexConfig(
                m=self._hnsw.m,
                ef_construct=self._hnsw.ef_construction,
                full_scan_threshold=self._full_scan_kib,
            ),
            # a segment gets an index once it is too big to scan exactly, not before
            optimizers=edge.EdgeOptimizersConfig(indexing_threshold=self._full_scan_kib),
            # calls are serialised by the store's lock: more search threads buy nothing
            max_search_threads=1,
        )
        try:
            if exists:
                shard = edge.EdgeShard.load(str(path), config)
            else:
                shard = edge.EdgeShard.create(str(path), config)
        except Exception as exc:  # the binding raises a bare Exception with the reason
            raise ConfigError(f"cannot open the Qdrant shard at {path}: {exc}") from exc
        indexed = set(shard.info().payload_schema)
        for field in self._indexed:
            for key in {field, BOOL_PREFIX + field} - indexed:
                shard.update(
                    edge.UpdateOperation.create_field_index(key, edge.PayloadSchemaType.Keyword)
                )
        return shard

    def _filter(self, wanted: dict[str, Scalar]) -> Any:
        if not wanted:
            return None
        edge = self._edge
        # keys are quoted: a payload key with a dot is one key here, as in the other stores
        conditions = [
            edge.FieldCondition(
                key=json.dumps(BOOL_PREFIX + key), match=edge.MatchValue(_keyword(value))
            )
            if isinstance(value, bool)
            else edge.FieldCondition(key=json.dumps(key), match=edge.MatchValue(value))
            for key, value in wanted.items()
        ]
        return edge.Filter(must=conditions)


def _keyword(value: bool) -> str:
    return "true" if value else "false"


def _stored(item: str, body: dict[str, Any]) -> dict[str, Any]:
    shadows = {BOOL_PREFIX + k: _keyword(v) for k, v in body.items() if isinstance(v, bool)}
    return {**body, **shadows, ID_KEY: item}
