"""pgvector on PostgreSQL: one table for every namespace, an HNSW index for cosine distance.

Every statement binds ``namespace = :ns``; the primary key is ``(namespace, id)``. Filtered
searches use pgvector's iterative index scans (0.8+, ``hnsw.iterative_scan``) so a
namespace or payload filter does not starve the result of rows. The table is created at
start-up (its vector dimension comes from the embedder, so it is not an Alembic migration);
for a bulk load, build with ``create_index=False``, load, then call ``ensure_index()``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from numpy.typing import ArrayLike
from sqlalchemy.dialects import postgresql as pg

from outrigger.errors import ConfigError
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


class PgVectorStore:
    def __init__(
        self,
        engine: sa.Engine,
        dim: int,
        *,
        table: str = "outrigger_vectors",
        m: int = 16,
        ef_construction: int = 64,
        ef_search: int = 64,
        create: bool = True,
        create_index: bool = True,
        build_memory_mb: int = 512,
    ) -> None:
        vector_type = require("pgvector.sqlalchemy", "pgvector").Vector
        self._engine = engine
        self._dim = dim
        self._ef_search = int(ef_search)
        self._build_memory_mb = int(build_memory_mb)
        metadata = sa.MetaData()
        self._table = sa.Table(
            table,
            metadata,
            sa.Column("namespace", sa.Text, primary_key=True),
            sa.Column("id", sa.Text, primary_key=True),
            sa.Column("embedding", vector_type(dim), nullable=False),
            sa.Column("payload", pg.JSONB, nullable=False),
        )
        self._index = sa.Index(
            f"{table}_embedding_hnsw",
            self._table.c.embedding,
            postgresql_using="hnsw",
            postgresql_with={"m": m, "ef_construction": ef_construction},
            postgresql_ops={"embedding": "vector_cosine_ops"},
        )
        self._table.indexes.discard(self._index)  # built by ensure_index, not with the table
        if create:
            self.ensure_schema(create_index=create_index)

    @property
    def dim(self) -> int:
        return self._dim

    def ensure_schema(self, *, create_index: bool = True) -> None:
        with self._engine.begin() as conn:
            conn.execute(sa.text("CREATE EXTENSION IF NOT EXISTS vector"))
            self._table.create(conn, checkfirst=True)
            self._check_dim(conn)
        if create_index:
            self.ensure_index()

    def ensure_index(self) -> None:
        """Build the HNSW index if it is missing (after a bulk load, say) and refresh the
        planner's statistics, without which it may prefer an exact scan and sort."""
        with self._engine.begin() as conn:
            # the build is far faster while the graph fits in memory (default 64 MB)
            conn.exec_driver_sql(f"SET LOCAL maintenance_work_mem = '{self._build_memory_mb}MB'")
            self._index.create(conn, checkfirst=True)
            conn.execute(sa.text(f'ANALYZE "{self._table.name}"'))

    def upsert(
        self, namespace: str, ids: Sequence[str], vectors: ArrayLike, payloads: Sequence[Payload]
    ) -> None:
        id_list, matrix, bodies = check_upsert(namespace, ids, vectors, payloads, self._dim)
        if not id_list:
            return
        rows = [
            {"namespace": namespace, "id": i, "embedding": v, "payload": p}
            for i, v, p in zip(id_list, matrix, bodies, strict=True)
        ]
        insert = pg.insert(self._table)
        statement = insert.on_conflict_do_update(
            index_elements=[self._table.c.namespace, self._table.c.id],
            set_={"embedding": insert.excluded.embedding, "payload": insert.excluded.payload},
        )
        with self._engine.begin() as conn:
            conn.execute(statement, rows)

    def search(
        self, namespace: str, vector: ArrayLike, k: int, filter: Filter | None = None
    ) -> list[VectorHit]:
        query = check_search(namespace, vector, k, self._dim)
        wanted = check_filter(filter)
        t = self._table
        distance = t.c.embedding.cosine_distance(query).label("distance")
        statement = sa.select(t.c.id, t.c.payload, distance).where(t.c.namespace == namespace)
        if wanted:
            statement = statement.where(t.c.payload.contains(wanted))
        statement = statement.order_by(distance).limit(k)
        with self._engine.begin() as conn:
            self._tune(conn, k)
            rows = conn.execute(statement).all()
        hits = [
            VectorHit(r.id, clamp_score(1.0 - float(r.distance)), dict(r.payload)) for r in rows
        ]
        return sorted(hits, key=lambda h: -h.score)  # relaxed_order scans may be slightly off

    def get(self, namespace: str, ids: Sequence[str]) -> list[VectorRecord]:
        check_namespace(namespace)
        wanted = check_ids(ids)
        if not wanted:
            return []
        t = self._table
        statement = sa.select(t.c.id, t.c.payload).where(
            t.c.namespace == namespace, t.c.id.in_(wanted)
        )
        with self._engine.connect() as conn:
            found = {r.id: dict(r.payload) for r in conn.execute(statement)}
        return [VectorRecord(i, found[i]) for i in wanted if i in found]

    def delete(self, namespace: str, ids: Sequence[str]) -> None:
        check_namespace(namespace)
        doomed = check_ids(ids)
        if not doomed:
            return
        t = self._table
        with self._engine.begin() as conn:
            conn.execute(sa.delete(t).where(t.c.namespace == namespace, t.c.id.in_(doomed)))

    def delete_all(self, namespace: str) -> None:
        check_namespace(namespace)
        t = self._table
        with self._engine.begin() as conn:
            conn.execute(sa.delete(t).where(t.c.namespace == namespace))

    def count(self, namespace: str) -> int:
        check_namespace(namespace)
        t = self._table
        statement = sa.select(sa.func.count()).select_from(t).where(t.c.namespace == namespace)
        with self._engine.connect() as conn:
            return int(conn.execute(statement).scalar_one())

    def close(self) -> None:
        """The engine belongs to the caller; nothing to release here."""

    def _tune(self, conn: sa.Connection, k: int) -> None:
        ef_search = max(self._ef_search, k)  # an int: safe to inline; SET takes no parameters
        conn.exec_driver_sql(
            f"SET LOCAL hnsw.ef_search = {ef_search}; SET LOCAL hnsw.iterative_scan = relaxed_order"
        )

    def _check_dim(self, conn: sa.Connection) -> None:
        found: Any = conn.execute(
            sa.text(
                "SELECT atttypmod FROM pg_attribute "
                "WHERE attrelid = CAST(:t AS regclass) AND attname = 'embedding'"
            ),
            {"t": self._table.name},
        ).scalar()
        if found is not None and int(found) != self._dim:
            raise ConfigError(
                f"table {self._table.name} holds {found}-d vectors, not {self._dim}-d"
            )
