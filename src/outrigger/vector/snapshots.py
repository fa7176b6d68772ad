"""Saved graphs of the embedded store, kept consistent with its SQLite file.

A graph of a million entries takes minutes to build, so it is saved beside the SQLite file
(``<file>.graphs/<namespace digest>-<seq>.<kind>``) and loaded at open. SQLite stays the
truth; two tables in it say how far a saved graph can be trusted:

* ``ann_snapshots``: per namespace, the file and ``seq``, the change log's position when
  it was written;
* ``ann_log``: the ids written (upserted or deleted) since, appended in the same
  transaction as the write itself, and only for namespaces that have a saved graph.

Loading replays the logged ids onto the saved graph (cost proportional to the writes since
the save, not to the namespace), then checks that it holds exactly as many keys as the
namespace has entries; a missing, unreadable or inconsistent file is rebuilt from SQLite.
So a crash costs a replay, not a rebuild, and no file can make a search return an entry
SQLite no longer has (the index maps every key back to a live entry).
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import sqlite3
from collections.abc import Sequence
from pathlib import Path

from outrigger.vector.ann_index import AnnNamespaceIndex
from outrigger.vector.graph import GraphFactory, GraphOptions

log = logging.getLogger("outrigger.vector")

SCHEMA = """
CREATE TABLE IF NOT EXISTS ann_snapshots (
    namespace TEXT PRIMARY KEY,
    file TEXT NOT NULL,
    seq INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS ann_log (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    namespace TEXT NOT NULL,
    id TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS ann_log_namespace ON ann_log (namespace, seq);
"""


class GraphSnapshots:
    def __init__(
        self, db: sqlite3.Connection, directory: Path, graphs: GraphFactory, options: GraphOptions
    ) -> None:
        self._db = db
        self._directory = directory
        self._graphs = graphs
        self._options = options

    def log(self, namespace: str, ids: Sequence[str]) -> None:
        """Record writes to ``ids``; call inside the write's transaction."""
        self._db.executemany(
            "INSERT INTO ann_log (namespace, id) SELECT ?, ? WHERE EXISTS "
            "(SELECT 1 FROM ann_snapshots WHERE namespace = ?)",
            [(namespace, item, namespace) for item in ids],
        )

    def restore(self, namespace: str, index: AnnNamespaceIndex, dim: int) -> bool:
        """Attach the namespace's saved graph to ``index``; False if there is none usable."""
        row = self._db.execute(
            "SELECT file, seq FROM ann_snapshots WHERE namespace = ?", (namespace,)
        ).fetchone()
        if row is None:
            return False
        path = self._directory / row[0]
        graph = self._graphs.load(path, dim, self._options) if path.is_file() else None
        if graph is None:
            return False
        replay = [
            r[0]
            for r in self._db.execute(
                "SELECT DISTINCT id FROM ann_log WHERE namespace = ? AND seq > ?",
                (namespace, row[1]),
            )
        ]
        if not index.attach(graph, replay):
            log.warning("vector graph %s does not match %s: it will be rebuilt", path, namespace)
            return False
        return True

    def save(self, namespace: str, index: AnnNamespaceIndex) -> None:
        """Write the graph and move the namespace's snapshot to it, in one transaction that
        holds SQLite's write lock, so no other writer's change can fall between the two."""
        graph = index.graph
        assert graph is not None
        self._directory.mkdir(parents=True, exist_ok=True)
        with self._db:
            self._db.execute("BEGIN IMMEDIATE")
            seq = self._db.execute(
                "SELECT coalesce(max(seq), 0) FROM ann_log WHERE namespace = ?", (namespace,)
            ).fetchone()[0]
            old = self._db.execute(
                "SELECT file FROM ann_snapshots WHERE namespace = ?", (namespace,)
            ).fetchone()
            name = f"{_digest(namespace)}-{_next_serial(old)}.{self._graphs.name}"
            graph.save(self._directory / name)
            self._db.execute(
                "INSERT INTO ann_snapshots (namespace, file, seq) VALUES (?, ?, ?) "
                "ON CONFLICT (namespace) DO UPDATE SET file = excluded.file, seq = excluded.seq",
                (namespace, name, seq),
            )
            self._db.execute(
                "DELETE FROM ann_log WHERE namespace = ? AND seq <= ?", (namespace, seq)
            )
        index.changed = 0
        if old is not None and old[0] != name:
            self.unlink(old[0])

    def drop(self, namespace: str) -> str | None:
        """Forget the namespace's graph in the current transaction; the file to unlink
        after the commit (``unlink``), if any."""
        old = self._db.execute(
            "SELECT file FROM ann_snapshots WHERE namespace = ?", (namespace,)
        ).fetchone()
        self._db.execute("DELETE FROM ann_snapshots WHERE namespace = ?", (namespace,))
        self._db.execute("DELETE FROM ann_log WHERE namespace = ?", (namespace,))
        return None if old is None else str(old[0])

    def unlink(self, name: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            (self._directory / name).unlink()


def _digest(namespace: str) -> str:
    """File names from a digest: namespaces differ by case (``T1``, ``t1``) and some file
    systems do not."""
    return hashlib.sha256(namespace.encode()).hexdigest()[:24]


def _next_serial(old: tuple[str] | None) -> int:
    if old is None:
        return 1
    try:
        return int(old[0].split("-", 1)[1].split(".", 1)[0]) + 1
    except (IndexError, ValueError):
        return 1
