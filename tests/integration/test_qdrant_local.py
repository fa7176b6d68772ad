"""Qdrant in local mode (no Qdrant server on the machines or in CI): one collection per
namespace, and the semantic cache on top. A server uses the same client and code path."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from outrigger.cache import CacheRequest, CacheSettings, SemanticCache
from outrigger.embeddings import HashingEmbedder

pytest.importorskip("qdrant_client", reason="extra 'qdrant'")

from outrigger.vector.qdrant import QdrantVectorStore


def test_one_collection_per_namespace(tmp_path: Path) -> None:
    store = QdrantVectorStore.local(tmp_path / "q", 4, prefix="t-")
    store.upsert("cache.acme", ["a"], [np.ones(4)], [{}])
    store.upsert("cache.globex", ["a"], [np.ones(4)], [{}])
    names = {c.name for c in store._client.get_collections().collections}
    assert names == {"t-cache.acme", "t-cache.globex"}
    store.delete_all("cache.acme")
    assert {c.name for c in store._client.get_collections().collections} == {"t-cache.globex"}
    store.close()


def test_cache_on_qdrant_local(tmp_path: Path) -> None:
    store = QdrantVectorStore.local(tmp_path / "q", 384)
    cache = SemanticCache(store, HashingEmbedder(384), CacheSettings())
    request = CacheRequest(
        "acme", "support", "chat-default", [{"role": "user", "content": "Where is my parcel?"}]
    )
    cache.store_sync("acme", request, {"answer": "in transit"})
    hit = cache.lookup_sync("acme", request)
    assert hit is not None and hit.kind == "exact"
    other = CacheRequest("globex", "support", "chat-default", request.messages)
    assert cache.lookup_sync("globex", other) is None
    cache.purge_sync("acme")
    assert cache.lookup_sync("acme", request) is None
    store.close()
