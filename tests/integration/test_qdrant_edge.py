"""Qdrant's engine in-process (qdrant-edge): a shard per namespace on disk, the optimizer
building real HNSW indexes, the binding's boolean quirk, and the semantic cache on top."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from outrigger.cache import CacheRequest, CacheSettings, SemanticCache
from outrigger.embeddings import HashingEmbedder
from outrigger.errors import ConfigError
from outrigger.vector.graph import GraphOptions
from outrigger.vector.qdrant_edge import QdrantEdgeVectorStore
from tests.contract.test_vector_contract import require_module


@pytest.fixture(autouse=True)
def _edge() -> None:
    require_module("qdrant_edge", "extra 'qdrant'")


def edge_store(root: Path, dim: int, **kwargs: Any) -> QdrantEdgeVectorStore:
    return QdrantEdgeVectorStore(root, dim, **kwargs)


def test_one_shard_directory_per_namespace(tmp_path: Path) -> None:
    store = edge_store(tmp_path, 4)
    store.upsert("cache.acme", ["a"], [np.ones(4)], [{}])
    store.upsert("cache.globex", ["a"], [np.ones(4)], [{}])
    assert store.namespaces() == ["cache.acme", "cache.globex"]
    store.delete_all("cache.acme")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cache.globex"]
    assert store.count("cache.acme") == 0 and store.count("cache.globex") == 1
    store.upsert("cache.acme", ["b"], [np.ones(4)], [{}])  # a purged tenant starts afresh
    assert store.count("cache.acme") == 1
    store.close()


def test_boolean_filters_match_stored_booleans(tmp_path: Path) -> None:
    """qdrant-edge-py sends MatchValue(True) as 1; the store's shadow keys keep it right."""
    store = edge_store(tmp_path, 4, indexed_fields=("live",))
    store.upsert("acme", ["on", "off"], [np.ones(4), np.ones(4)], [{"live": True}, {"live": False}])
    assert [h.id for h in store.search("acme", np.ones(4), 5, {"live": True})] == ["on"]
    assert [h.id for h in store.search("acme", np.ones(4), 5, {"live": False})] == ["off"]
    assert [h.id for h in store.search("acme", np.ones(4), 5, {"live": 1})] == []
    assert store.get("acme", ["on"])[0].payload == {"live": True}  # no shadow keys leak
    store.close()


def test_optimize_builds_hnsw_and_keeps_the_answers(tmp_path: Path) -> None:
    rng = np.random.default_rng(7)
    vectors = rng.standard_normal((3000, 16)).astype(np.float32)
    store = edge_store(tmp_path, 16, hnsw=GraphOptions(16, 64, 128), exact_below=100)
    ids = [f"v{i}" for i in range(len(vectors))]
    store.upsert("acme", ids, vectors, [{"i": i} for i in range(len(vectors))])
    queries = vectors[:20] + rng.normal(0, 0.05, (20, 16)).astype(np.float32)
    exact = [[h.id for h in store.search("acme", q, 5)] for q in queries]
    assert store._shard("acme").info().indexed_vectors_count == 0
    assert store.optimize() == ["acme"]
    assert store._shard("acme").info().indexed_vectors_count == len(vectors)
    approximate = [[h.id for h in store.search("acme", q, 5)] for q in queries]
    recall = np.mean([len(set(a) & set(e)) / 5 for a, e in zip(approximate, exact, strict=True)])
    assert recall >= 0.9
    assert all(e[0] == f"v{i}" for i, e in enumerate(exact))  # the noisy copy finds its source
    store.close()
    again = edge_store(tmp_path, 16)
    assert again.count("acme") == len(vectors)
    assert again._shard("acme").info().indexed_vectors_count == len(vectors)
    again.close()


def test_a_shard_of_another_dimension_or_already_open_is_refused(tmp_path: Path) -> None:
    store = edge_store(tmp_path, 4)
    store.upsert("acme", ["a"], [np.ones(4)], [{}])
    with pytest.raises(ConfigError, match="cannot open the Qdrant shard"):
        edge_store(tmp_path, 4).count("acme")  # one process holds a shard at a time
    store.close()
    with pytest.raises(ConfigError, match="cannot open the Qdrant shard"):
        edge_store(tmp_path, 8).count("acme")


def test_cache_on_qdrant_edge(tmp_path: Path) -> None:
    store = edge_store(tmp_path, 384, indexed_fields=("fp", "sem"))
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


def test_cache_commands_on_qdrant_edge(tmp_path: Path) -> None:
    from outrigger.cache.semantic import namespace_of
    from tests.integration.test_cli import outrigger

    root = tmp_path / "qdrant"
    store = edge_store(root, 384, exact_below=10)
    rng = np.random.default_rng(3)
    for tenant in ("acme", "globex"):
        vectors = rng.standard_normal((50, 384))
        store.upsert(namespace_of(tenant), [f"e{i}" for i in range(50)], vectors, [{}] * 50)
    store.close()
    env = {
        "OUTRIGGER_DATA_DIR": str(tmp_path),
        "OUTRIGGER_VECTORS__KIND": "qdrant",
        "OUTRIGGER_VECTORS__PATH": str(root),
        "OUTRIGGER_VECTORS__ANN_EXACT_BELOW": "10",
    }
    run = outrigger("cache", "optimize", "--tenant", "acme", env=env)
    assert run.returncode == 0, run.stderr
    assert f"optimized 1 shard(s): {namespace_of('acme')}" in run.stdout
    run = outrigger("cache", "optimize", env=env)  # globex still to do, acme already done
    assert f"optimized 1 shard(s): {namespace_of('globex')}" in run.stdout
    assert outrigger("cache", "count", "--tenant", "globex", env=env).stdout.strip() == "50"
    again = edge_store(root, 384)
    assert again._shard(namespace_of("acme")).info().indexed_vectors_count == 50
    again.close()


def test_dotted_keys_are_flat_keys_and_reserved_keys_are_refused(tmp_path: Path) -> None:
    store = edge_store(tmp_path, 4)
    store.upsert(
        "acme",
        ["flat", "nested", "int"],
        [np.ones(4)] * 3,
        [{"a.b": "x", "on.off": True}, {"a": {"b": "x"}}, {"kind": 1}],
    )
    assert [h.id for h in store.search("acme", np.ones(4), 5, {"a.b": "x"})] == ["flat"]
    assert [h.id for h in store.search("acme", np.ones(4), 5, {"on.off": True})] == ["flat"]
    assert store.search("acme", np.ones(4), 5, {"kind": True}) == []  # True is not 1
    assert all(not k.startswith("_outrigger") for h in store.search("acme", np.ones(4), 5)
               for k in h.payload)  # fmt: skip
    with pytest.raises(ValueError, match="reserved"):
        store.upsert("acme", ["x"], [np.ones(4)], [{"_outrigger_bool__live": "true"}])
    store.close()


def test_a_purge_never_brings_data_back(tmp_path: Path) -> None:
    store = edge_store(tmp_path, 4)
    store.upsert("acme", ["old"], [np.ones(4)], [{"t": "old"}])
    store.close()
    # A shard directory the engine never finished (no config file) is not a shard: it reads
    # as empty and the next write starts a new one instead of loading what is left in it.
    (tmp_path / "acme" / "edge_config.json").unlink()
    (tmp_path / ".purged-0123").mkdir()  # and a purge interrupted after its rename
    again = edge_store(tmp_path, 4)
    assert not (tmp_path / ".purged-0123").exists()
    assert again.namespaces() == [] and again.count("acme") == 0
    again.upsert("acme", ["new"], [np.ones(4)], [{"t": "new"}])
    assert [h.payload for h in again.search("acme", np.ones(4), 5)] == [{"t": "new"}]
    again.close()


def test_a_purge_from_another_process_is_refused_while_the_shard_is_open(
    tmp_path: Path,
) -> None:
    serving = edge_store(tmp_path, 4)
    serving.upsert("acme", ["a"], [np.ones(4)], [{}])
    with pytest.raises(ConfigError, match="cannot open the Qdrant shard"):
        edge_store(tmp_path, 4).delete_all("acme")
    assert serving.count("acme") == 1 and (tmp_path / "acme").exists()
    serving.delete_all("acme")
    assert serving.count("acme") == 0 and not (tmp_path / "acme").exists()
    serving.close()
