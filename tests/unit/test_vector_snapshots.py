"""The embedded store with graphs, through its public calls: graphs saved and loaded across
restarts (and never trusted blindly: replayed after a crash, rebuilt when unusable or
inconsistent), purge, expiry through the semantic cache, and tenant isolation at a size
where every search goes through a graph. Graphs are real (usearch) unless said otherwise."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import numpy as np
import pytest

from outrigger.cache import CacheRequest, CacheSettings, SemanticCache
from outrigger.embeddings.memory import HashingEmbedder
from outrigger.vector.embedded import EmbeddedVectorStore
from outrigger.vector.graph import GraphFactory, GraphOptions, NeighbourGraph
from tests.contract.test_vector_contract import require_module

DIM = 32
SIZE = 600
THRESHOLD = 200  # exact_below: these namespaces are well past it


class CountingGraphs:
    """usearch, counting the graphs it builds from scratch and the files it loads."""

    name = "usearch"

    def __init__(self) -> None:
        require_module("usearch", "extra 'ann'")
        from outrigger.vector.usearch_graph import UsearchGraphs

        self.inner = UsearchGraphs()
        self.built = 0
        self.loaded = 0

    def new(self, dim: int, options: GraphOptions) -> NeighbourGraph:
        self.built += 1
        return self.inner.new(dim, options)

    def load(self, path: Path, dim: int, options: GraphOptions) -> NeighbourGraph | None:
        graph = self.inner.load(path, dim, options)
        self.loaded += graph is not None
        return graph


@pytest.fixture
def graphs() -> CountingGraphs:
    return CountingGraphs()


def open_store(path: Path, graphs: GraphFactory) -> EmbeddedVectorStore:
    return EmbeddedVectorStore(path / "v.sqlite3", DIM, graphs=graphs, exact_below=THRESHOLD)


def rows(seed: int, count: int = SIZE) -> np.ndarray:
    found = np.random.default_rng(seed).standard_normal((count, DIM)).astype(np.float32)
    return found / np.linalg.norm(found, axis=1, keepdims=True)


def fill(store: EmbeddedVectorStore, namespace: str, vectors: np.ndarray, tag: str) -> None:
    ids = [f"{tag}{i}" for i in range(len(vectors))]
    store.upsert(namespace, ids, vectors, [{"t": tag, "i": i} for i in range(len(vectors))])


def top(store: EmbeddedVectorStore, namespace: str, vector: np.ndarray, k: int = 5) -> list[str]:
    return [h.id for h in store.search(namespace, vector, k)]


def graph_files(path: Path) -> list[str]:
    folder = path / "v.sqlite3.graphs"
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def test_the_graph_is_saved_and_loaded_not_rebuilt(tmp_path: Path, graphs: CountingGraphs) -> None:
    store = open_store(tmp_path, graphs)
    vectors = rows(1)
    fill(store, "acme", vectors, "a")
    assert graphs.built == 1 and len(graph_files(tmp_path)) == 1
    store.upsert("acme", ["late"], vectors[:1] * -1, [{"t": "late"}])
    store.delete("acme", ["a5"])
    expected = {i: top(store, "acme", vectors[i]) for i in (0, 5, 77)}
    store.close()

    again = open_store(tmp_path, graphs)
    assert again.count("acme") == SIZE
    assert {i: top(again, "acme", vectors[i]) for i in (0, 5, 77)} == expected
    assert top(again, "acme", -vectors[0], 1) == ["late"]
    assert "a5" not in top(again, "acme", vectors[5], 20)
    assert (graphs.built, graphs.loaded) == (1, 1)
    again.close()


def test_a_crash_replays_the_writes_since_the_last_save(
    tmp_path: Path, graphs: CountingGraphs
) -> None:
    """The first handle is never closed (as after a crash): its graph was saved when built,
    and every write after that is only in SQLite and the change log."""
    crashed = open_store(tmp_path, graphs)
    vectors = rows(2)
    fill(crashed, "acme", vectors[:400], "a")
    fill(crashed, "acme", vectors[400:], "b")  # after the save
    crashed.delete("acme", ["a1", "b3"])
    crashed.upsert("acme", ["a2"], -vectors[2:3], [{"t": "moved"}])

    survivor = open_store(tmp_path, graphs)
    assert survivor.count("acme") == SIZE - 2
    assert top(survivor, "acme", vectors[450], 1) == ["b50"]
    assert "a1" not in top(survivor, "acme", vectors[1], 20)
    assert "b3" not in top(survivor, "acme", vectors[403], 20)
    assert top(survivor, "acme", -vectors[2], 1) == ["a2"]
    assert (graphs.built, graphs.loaded) == (1, 1)  # replayed, not rebuilt
    survivor.close()
    crashed.close()


@pytest.mark.parametrize("damage", ["garbage", "missing", "log lost"])
def test_unusable_or_inconsistent_graphs_are_rebuilt(
    tmp_path: Path, graphs: CountingGraphs, damage: str
) -> None:
    store = open_store(tmp_path, graphs)
    vectors = rows(3)
    fill(store, "acme", vectors[:300], "a")
    fill(store, "acme", vectors[300:], "b")
    (name,) = graph_files(tmp_path)
    file = tmp_path / "v.sqlite3.graphs" / name
    if damage == "garbage":
        file.write_bytes(b"\0" * 4096)
    elif damage == "missing":
        file.unlink()
    else:  # the writes after the save are no longer known: the count gives it away
        with sqlite3.connect(tmp_path / "v.sqlite3") as db:
            db.execute("DELETE FROM ann_log")

    again = open_store(tmp_path, graphs)  # namespaces load at first use
    for i in (0, 299, 300, 599):
        assert top(again, "acme", vectors[i], 1) == [f"a{i}" if i < 300 else f"b{i - 300}"]
    assert graphs.built == 2
    again.close()
    store.close()


def test_purge_removes_the_graph_and_leaves_other_tenants(
    tmp_path: Path, graphs: CountingGraphs
) -> None:
    store = open_store(tmp_path, graphs)
    vectors = rows(4)
    fill(store, "cache.a", vectors, "a")
    fill(store, "cache.b", vectors, "b")
    assert len(graph_files(tmp_path)) == 2
    store.delete_all("cache.a")
    assert len(graph_files(tmp_path)) == 1
    assert store.search("cache.a", vectors[0], 5) == []
    assert top(store, "cache.b", vectors[0], 1) == ["b0"]
    store.close()

    again = open_store(tmp_path, graphs)
    assert again.count("cache.a") == 0
    assert again.search("cache.a", vectors[0], 5) == []
    assert top(again, "cache.b", vectors[9], 1) == ["b9"]
    again.close()


def test_tenants_stay_apart_on_the_graph_path_and_after_a_restart(
    tmp_path: Path, graphs: CountingGraphs
) -> None:
    """Both tenants hold the same vectors; every query is an exact match in both."""
    store = open_store(tmp_path, graphs)
    vectors = rows(5)
    fill(store, "cache.a", vectors, "a")
    fill(store, "cache.b", vectors, "b")

    def check(handle: EmbeddedVectorStore) -> None:
        for i in range(0, SIZE, 37):
            for namespace, tag in (("cache.a", "a"), ("cache.b", "b")):
                hits = handle.search(namespace, vectors[i], 10)
                assert hits[0].id == f"{tag}{i}"
                assert all(h.payload["t"] == tag for h in hits)
                other = "b" if tag == "a" else "a"
                assert handle.search(namespace, vectors[i], 10, {"t": other}) == []

    check(store)
    store.close()
    again = open_store(tmp_path, graphs)
    check(again)
    again.delete("cache.a", [f"a{i}" for i in range(SIZE)])
    assert again.count("cache.b") == SIZE
    assert top(again, "cache.a", vectors[0]) == []
    again.close()


def test_expired_cache_entries_are_deleted_and_never_come_back(
    tmp_path: Path, graphs: CountingGraphs
) -> None:
    now = [1000.0]
    store = open_store(tmp_path, graphs)
    embedder = HashingEmbedder(DIM)
    cache = SemanticCache(store, embedder, CacheSettings(ttl_s=60), clock=lambda: now[0])

    def ask(text: str) -> CacheRequest:
        return CacheRequest("t1", "faq", "m", [{"role": "user", "content": text}])

    fill(store, "cache.t1", rows(6), "filler")  # past the threshold: the graph is used
    cache.store_sync("t1", ask("how do I reset my card pin"), {"answer": "old"})
    hit = cache.lookup_sync("t1", ask("how do I reset my card pin please"))
    assert hit is not None and hit.response == {"answer": "old"}
    now[0] += 61
    assert cache.lookup_sync("t1", ask("how do I reset my card pin please")) is None
    assert cache.lookup_sync("t1", ask("how do I reset my card pin")) is None
    assert store.count("cache.t1") == SIZE  # the entry and its alias are gone
    vector = embedder.embed(["how do I reset my card pin"])[0]
    store.close()

    again = open_store(tmp_path, graphs)
    assert all(h.payload.get("t") == "filler" for h in again.search("cache.t1", vector, 20))
    again.close()
