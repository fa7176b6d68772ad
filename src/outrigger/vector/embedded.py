"""The embedded default: a NumPy index per namespace in memory, persisted to one SQLite file.

SQLite is the durable copy (one row per entry: vector bytes, filterable tags, payload);
the in-memory index is rebuilt from it the first time a namespace is used. Payloads stay
on disk and are read only for the hits a search returns. When another process commits to
the same file (``PRAGMA data_version`` changes), the loaded namespaces are reloaded, so two
processes sharing a file stay correct, if not fast. One file serves any number of namespaces.

Given a ``GraphFactory`` (usearch, extra ``ann``), a namespace that reaches ``exact_below``
entries gets an HNSW graph of its own (``ann_index.py``); the graph is saved beside the file
at close, after it is built and every ``checkpoint_every`` writes, and loaded at open
(``snapshots.py``). Without one, every search is an exact scan.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from outrigger.errors import ConfigError
from outrigger.storage.db import sqlite_setup
from outrigger.vector.ann_index import AnnNamespaceIndex
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
from outrigger.vector.graph import GraphFactory, GraphOptions
from outrigger.vector.snapshots import SCHEMA as GRAPH_SCHEMA
from outrigger.vector.snapshots import GraphSnapshots

log = logging.getLogger("outrigger.vector")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS vectors (
    namespace TEXT NOT NULL,
    id TEXT NOT NULL,
    vector BLOB NOT NULL,
    tags TEXT NOT NULL,
    payload TEXT NOT NULL,
    PRIMARY KEY (namespace, id)
);
"""
_CHUNK = 500
#: Namespaces smaller than this are scanned exactly (docs/semantic-cache.md: measured).
EXACT_BELOW = 10_000
CHECKPOINT_EVERY = 50_000


class EmbeddedVectorStore:
    def __init__(
        self,
        path: Path,
        dim: int,
        *,
        synchronous: str = "NORMAL",
        graphs: GraphFactory | None = None,
        graph_options: GraphOptions = GraphOptions(),
        exact_below: int = EXACT_BELOW,
        checkpoint_every: int = CHECKPOINT_EVERY,
    ) -> None:
        if dim < 1:
            raise ValueError("dim must be positive")
        if synchronous not in {"OFF", "NORMAL", "FULL"}:
            raise ValueError("synchronous must be OFF, NORMAL or FULL")
        if exact_below < 0 or checkpoint_every < 1:
            raise ValueError("exact_below must be >= 0 and checkpoint_every >= 1")
        self._dim = dim
        self._lock = threading.RLock()
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path, check_same_thread=False)
        sqlite_setup(self._db, synchronous)
        with self._db:
            self._db.executescript(_SCHEMA + GRAPH_SCHEMA)
            self._check_dim(path)
        self._graphs = graphs
        self._graph_options = graph_options
        self._exact_below = exact_below
        self._checkpoint_every = checkpoint_every
        self._snapshots = (
            GraphSnapshots(self._db, path.with_name(path.name + ".graphs"), graphs, graph_options)
            if graphs is not None
            else None
        )
        self._indexes: dict[str, AnnNamespaceIndex] = {}
        self._version = self._data_version()

    @property
    def dim(self) -> int:
        return self._dim

    def upsert(
        self, namespace: str, ids: Sequence[str], vectors: ArrayLike, payloads: Sequence[Payload]
    ) -> None:
        id_list, matrix, bodies = check_upsert(namespace, ids, vectors, payloads, self._dim)
        tags = [tags_of(p) for p in bodies]
        rows = [
            (namespace, i, v.tobytes(), json.dumps(t), json.dumps(p))
            for i, v, t, p in zip(id_list, matrix, tags, bodies, strict=True)
        ]
        with self._lock:
            index = self._index(namespace)
            with self._db:
                self._db.executemany(
                    "INSERT INTO vectors (namespace, id, vector, tags, payload) "
                    "VALUES (?, ?, ?, ?, ?) ON CONFLICT (namespace, id) DO UPDATE SET "
                    "vector = excluded.vector, tags = excluded.tags, payload = excluded.payload",
                    rows,
                )
                self._log(namespace, id_list)
            index.upsert(id_list, matrix, tags)
            self._maintain(namespace, index)

    def search(
        self, namespace: str, vector: ArrayLike, k: int, filter: Filter | None = None
    ) -> list[VectorHit]:
        query = check_search(namespace, vector, k, self._dim)
        wanted = check_filter(filter)
        with self._lock:
            found = self._index(namespace).search(query, k, wanted)
            payloads = self._payloads(namespace, [i for i, _ in found])
        return [VectorHit(i, clamp_score(s), payloads[i]) for i, s in found if i in payloads]

    def get(self, namespace: str, ids: Sequence[str]) -> list[VectorRecord]:
        check_namespace(namespace)
        wanted = check_ids(ids)
        with self._lock:
            payloads = self._payloads(namespace, wanted)
        return [VectorRecord(i, payloads[i]) for i in wanted if i in payloads]

    def delete(self, namespace: str, ids: Sequence[str]) -> None:
        check_namespace(namespace)
        doomed = check_ids(ids)
        with self._lock:
            index = self._index(namespace)
            with self._db:
                for chunk in _chunks(doomed):
                    marks = ",".join("?" * len(chunk))
                    self._db.execute(
                        f"DELETE FROM vectors WHERE namespace = ? AND id IN ({marks})",
                        (namespace, *chunk),
                    )
                self._log(namespace, doomed)
            index.remove(doomed)
            self._maintain(namespace, index)

    def delete_all(self, namespace: str) -> None:
        check_namespace(namespace)
        with self._lock:
            with self._db:
                self._db.execute("DELETE FROM vectors WHERE namespace = ?", (namespace,))
                stale = self._snapshots.drop(namespace) if self._snapshots else None
            self._indexes.pop(namespace, None)
            if stale is not None and self._snapshots is not None:
                self._snapshots.unlink(stale)

    def count(self, namespace: str) -> int:
        check_namespace(namespace)
        with self._lock:
            return len(self._index(namespace))

    def close(self) -> None:
        """Save the graphs changed since they were saved, then close the file."""
        with self._lock:
            self.checkpoint()
            self._indexes.clear()
            self._db.close()

    def checkpoint(self) -> None:
        """Save every loaded graph that changed since it was last saved (a crash then costs
        replaying only the writes after this point at the next open)."""
        with self._lock:
            for namespace, index in self._indexes.items():
                if index.graph is not None and index.changed:
                    self._save(namespace, index)

    def _index(self, namespace: str) -> AnnNamespaceIndex:
        """The namespace's index, loaded from the file if needed or changed elsewhere."""
        version = self._data_version()
        if version != self._version:
            self._indexes.clear()
            self._version = version
        index = self._indexes.get(namespace)
        if index is None:
            index = self._indexes[namespace] = self._load(namespace)
        return index

    def _load(self, namespace: str) -> AnnNamespaceIndex:
        index = AnnNamespaceIndex(self._dim, self._graphs, self._graph_options, self._exact_below)
        cursor = self._db.execute(
            "SELECT id, vector, tags FROM vectors WHERE namespace = ?", (namespace,)
        )
        while batch := cursor.fetchmany(4096):
            ids = [row[0] for row in batch]
            matrix = np.frombuffer(b"".join(row[1] for row in batch), dtype=np.float32)
            index.upsert(
                ids, matrix.reshape(len(batch), self._dim), [json.loads(r[2]) for r in batch]
            )
        if self._snapshots is not None and not self._snapshots.restore(namespace, index, self._dim):
            self._maintain(namespace, index)
        return index

    def _log(self, namespace: str, ids: list[str]) -> None:
        if self._snapshots is not None:
            self._snapshots.log(namespace, ids)

    def _maintain(self, namespace: str, index: AnnNamespaceIndex) -> None:
        """Build the graph a namespace has grown into; save one that changed a lot."""
        if index.wants_graph():
            index.build()
            self._save(namespace, index)
        elif index.graph is not None and index.changed >= self._checkpoint_every:
            self._save(namespace, index)

    def _save(self, namespace: str, index: AnnNamespaceIndex) -> None:
        assert self._snapshots is not None
        try:
            self._snapshots.save(namespace, index)
        except (OSError, sqlite3.Error):
            # the graph in memory is right; the next open replays more, or rebuilds
            log.warning("could not save the vector graph of %s", namespace, exc_info=True)

    def _payloads(self, namespace: str, ids: list[str]) -> dict[str, dict[str, Any]]:
        found: dict[str, dict[str, Any]] = {}
        for chunk in _chunks(ids):
            marks = ",".join("?" * len(chunk))
            rows = self._db.execute(
                f"SELECT id, payload FROM vectors WHERE namespace = ? AND id IN ({marks})",
                (namespace, *chunk),
            )
            found.update((row[0], json.loads(row[1])) for row in rows)
        return found

    def _data_version(self) -> int:
        return int(self._db.execute("PRAGMA data_version").fetchone()[0])

    def _check_dim(self, path: Path) -> None:
        row = self._db.execute("SELECT value FROM meta WHERE key = 'dim'").fetchone()
        if row is None:
            self._db.execute("INSERT INTO meta (key, value) VALUES ('dim', ?)", (str(self._dim),))
        elif int(row[0]) != self._dim:
            raise ConfigError(f"{path} holds {row[0]}-d vectors, not {self._dim}-d")


def _chunks(items: list[str]) -> Iterator[list[str]]:
    for start in range(0, len(items), _CHUNK):
        yield items[start : start + _CHUNK]
