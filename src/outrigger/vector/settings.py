"""Which vector store to build; mounted by the settings tree (``Settings.vector``)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator

from outrigger.errors import MissingExtraError
from outrigger.secrets import secret_value
from outrigger.vector.base import VectorStore
from outrigger.vector.graph import GraphFactory, GraphOptions

log = logging.getLogger("outrigger.vector")


class VectorStoreSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    #: ``embedded``: NumPy index + SQLite file (the default); ``memory``: nothing persisted;
    #: ``qdrant``: Qdrant's engine in-process (qdrant-edge, one shard directory per
    #: namespace under ``path``) when ``path`` is set, a server at ``url`` otherwise;
    #: ``pgvector``: PostgreSQL at ``url`` (a SQLAlchemy URL, ``postgresql+psycopg://``).
    kind: Literal["embedded", "memory", "qdrant", "pgvector"] = "embedded"
    path: Path | None = None  # embedded: default <data_dir>/vectors.sqlite3; qdrant: a folder
    url: SecretStr | None = None
    url_file: Path | None = None  # a mounted secret; wins over url
    api_key_file: Path | None = None  # qdrant server
    prefix: str = "outrigger-"  # qdrant collection names: <prefix><namespace>
    table: str = Field(default="outrigger_vectors", pattern=r"^[a-z_][a-z0-9_]{0,62}$")
    #: HNSW parameters of pgvector's index.
    hnsw_m: int = Field(default=16, ge=2, le=100)
    hnsw_ef_construction: int = Field(default=64, ge=4, le=1000)
    hnsw_ef_search: int = Field(default=64, ge=1, le=1000)
    #: The embedded store's approximate search (usearch, extra ``ann``): ``auto`` uses it
    #: when installed and scans exactly otherwise (one log line at start-up); ``required``
    #: fails at start-up without it; ``off`` always scans exactly.
    ann: Literal["auto", "required", "off"] = "auto"
    #: Namespaces with fewer entries are scanned exactly (exact, and at that size as fast).
    ann_exact_below: int = Field(default=10_000, ge=0)
    #: Save a namespace's graph after this many writes (a crash replays at most these).
    ann_checkpoint_every: int = Field(default=50_000, ge=1)
    #: HNSW parameters of the embedded store's graphs and of in-process Qdrant's indexes
    #: (see GraphOptions); ``ann_exact_below`` is in-process Qdrant's full-scan threshold.
    ann_m: int = Field(default=32, ge=2, le=100)
    ann_ef_construction: int = Field(default=64, ge=4, le=1000)
    ann_ef_search: int = Field(default=64, ge=1, le=1000)

    @model_validator(mode="after")
    def _located(self) -> VectorStoreSettings:
        remote = self.url is not None or self.url_file is not None
        if self.kind == "pgvector" and not remote:
            raise ValueError("a pgvector store needs url or url_file")
        if self.kind == "qdrant" and not remote and self.path is None:
            raise ValueError("a qdrant store needs path (in-process engine) or url (server)")
        return self

    def resolved_url(self) -> str | None:
        return secret_value(self.url_file, self.url, "vectors.url")


def open_vector_store(
    settings: VectorStoreSettings, dim: int, data_dir: Path, *, indexed_fields: Sequence[str] = ()
) -> VectorStore:
    """Build the configured store; ``indexed_fields`` are filtered on (server indexes)."""
    if settings.kind == "memory":
        from outrigger.vector.memory import MemoryVectorStore

        return MemoryVectorStore(dim)
    if settings.kind == "embedded":
        from outrigger.vector.embedded import EmbeddedVectorStore

        return EmbeddedVectorStore(
            settings.path or data_dir / "vectors.sqlite3",
            dim,
            graphs=graph_factory(settings),
            graph_options=graph_options(settings),
            exact_below=settings.ann_exact_below,
            checkpoint_every=settings.ann_checkpoint_every,
        )
    if settings.kind == "qdrant":
        from outrigger.vector.qdrant import QdrantVectorStore
        from outrigger.vector.qdrant_edge import QdrantEdgeVectorStore

        url = settings.resolved_url()
        if url is None:
            assert settings.path is not None
            return QdrantEdgeVectorStore(
                settings.path,
                dim,
                hnsw=graph_options(settings),
                exact_below=settings.ann_exact_below,
                indexed_fields=indexed_fields,
            )
        key = settings.api_key_file.read_text().strip() if settings.api_key_file else None
        return QdrantVectorStore.server(
            url, dim, api_key=key, prefix=settings.prefix, indexed_fields=indexed_fields
        )
    import sqlalchemy as sa

    from outrigger.vector.pgvector import PgVectorStore

    url = settings.resolved_url()
    assert url is not None
    return PgVectorStore(
        sa.create_engine(url, pool_pre_ping=True),
        dim,
        table=settings.table,
        m=settings.hnsw_m,
        ef_construction=settings.hnsw_ef_construction,
        ef_search=settings.hnsw_ef_search,
    )


def graph_options(settings: VectorStoreSettings) -> GraphOptions:
    return GraphOptions(settings.ann_m, settings.ann_ef_construction, settings.ann_ef_search)


def graph_factory(settings: VectorStoreSettings) -> GraphFactory | None:
    """The embedded store's graphs as configured; ``None``: exact scans only."""
    if settings.ann == "off":
        return None
    from outrigger.vector.usearch_graph import UsearchGraphs

    try:
        return UsearchGraphs()
    except MissingExtraError:
        if settings.ann == "required":
            raise
        log.info(
            "usearch is not installed (pip install 'outrigger[ann]'): the embedded vector "
            "store scans exactly, fine up to some 10k entries per tenant"
        )
        return None
