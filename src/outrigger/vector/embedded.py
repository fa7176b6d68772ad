"""The embedded default: the exact NumPy index in memory, persisted to one SQLite file.

SQLite is the durable copy (one row per entry: vector bytes, filterable tags, payload);
the in-memory index is rebuilt from it the first time a namespace is used. Payloads stay
on disk and are read only for the hits a search returns. When another process commits to
the same file (``PRAGMA data_version`` changes), the loaded namespaces are reloaded, so two
processes sharing a file stay correct, if not fast. One file serves any number of namespaces.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from outrigger.errors import ConfigError
from outrigger.storage.db import sqlite_setup
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


class EmbeddedVectorStore:
    def __init__(self, path: Path, dim: int, *, synchronous: str = "NORMAL") -> None:
        if dim < 1:
            raise ValueError("dim must be positive")
        if synchronous not in {"OFF", "NORMAL", "FULL"}:
            raise ValueError("synchronous must be OFF, NORMAL or FULL")
        self._dim = dim
        self._lock = threading.RLock()
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path, check_same_thread=False)
        sqlite_setup(self._db, synchronous)
        with self._db:
            self._db.executescript(_SCHEMA)
            self._check_dim(path)
        self._indexes: dict[str, NamespaceIndex] = {}
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
            index.upsert(id_list, matrix, tags)

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
            index.remove(doomed)

    def delete_all(self, namespace: str) -> None:
        check_namespace(namespace)
        with self._lock, self._db:
            self._db.execute("DELETE FROM vectors WHERE namespace = ?", (namespace,))
            self._indexes.pop(namespace, None)

    def count(self, namespace: str) -> int:
        check_namespace(namespace)
        with self._lock:
            return len(self._index(namespace))

    def close(self) -> None:
        with self._lock:
            self._indexes.clear()
            self._db.close()

    def _index(self, namespace: str) -> NamespaceIndex:
        """The namespace's index, loaded from the file if needed or changed elsewhere."""
        version = self._data_version()
        if version != self._version:
            self._indexes.clear()
            self._version = version
        index = self._indexes.get(namespace)
        if index is None:
            index = self._indexes[namespace] = self._load(namespace)
        return index

    def _load(self, namespace: str) -> NamespaceIndex:
        index = NamespaceIndex(self._dim)
        cursor = self._db.execute(
            "SELECT id, vector, tags FROM vectors WHERE namespace = ?", (namespace,)
        )
        while batch := cursor.fetchmany(4096):
            ids = [row[0] for row in batch]
            matrix = np.frombuffer(b"".join(row[1] for row in batch), dtype=np.float32)
            index.upsert(
                ids, matrix.reshape(len(batch), self._dim), [json.loads(r[2]) for r in batch]
            )
        return index

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
