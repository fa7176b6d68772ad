"""The embedded store's approximate search: the graph seam (usearch and the brute-force
reference), the namespace index's decisions (exact below the threshold, candidates mapped
back to live entries and re-scored exactly, filters, key collisions), recall against
exact search, and how the settings choose graphs (fallback, required, off)."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from outrigger.errors import MissingExtraError
from outrigger.vector import VectorStoreSettings, open_vector_store
from outrigger.vector.ann_index import AnnNamespaceIndex
from outrigger.vector.embedded import EmbeddedVectorStore
from outrigger.vector.graph import BruteForceGraphs, GraphFactory, GraphOptions, key_of
from tests.contract.test_vector_contract import require_module

DIM = 32


def unit_rows(rng: np.random.Generator, count: int, dim: int = DIM) -> np.ndarray:
    rows = rng.standard_normal((count, dim)).astype(np.float32)
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


def usearch_graphs() -> GraphFactory:
    require_module("usearch", "extra 'ann'")
    from outrigger.vector.usearch_graph import UsearchGraphs

    return UsearchGraphs()


@pytest.fixture(params=["brute-force", "usearch"])
def graphs(request: pytest.FixtureRequest) -> GraphFactory:
    return BruteForceGraphs() if request.param == "brute-force" else usearch_graphs()


class TestGraphContract:
    """What the index relies on from every graph."""

    def test_add_search_remove(self, graphs: GraphFactory) -> None:
        rows = unit_rows(np.random.default_rng(0), 200)
        graph = graphs.new(DIM, GraphOptions())
        graph.add(np.arange(200, dtype=np.uint64) + 10, rows)
        assert len(graph) == 200
        assert int(graph.search(rows[7], 1)[0]) == 17
        graph.remove(np.array([17, 99999], dtype=np.uint64))
        assert len(graph) == 199
        assert 17 not in graph.search(rows[7], 200).tolist()
        graph.add(np.array([17], dtype=np.uint64), rows[8:9])  # a removed key comes back
        assert int(graph.search(rows[8], 2)[0]) in {17, 18}

    def test_every_vector_of_a_large_add_finds_itself(self, graphs: GraphFactory) -> None:
        """3,000 rows: usearch adds them on every core, which can strand nodes (usearch
        #735) unless the graph re-links them."""
        rows = unit_rows(np.random.default_rng(11), 3000)
        keys = np.arange(3000, dtype=np.uint64) + 5
        graph = graphs.new(DIM, GraphOptions())
        graph.add(keys, rows)
        lost = [int(k) for k, row in zip(keys, rows, strict=True) if k not in graph.search(row, 10)]
        assert lost == []

    def test_save_and_load(self, graphs: GraphFactory, tmp_path: Path) -> None:
        rows = unit_rows(np.random.default_rng(1), 100)
        graph = graphs.new(DIM, GraphOptions())
        graph.add(np.arange(100, dtype=np.uint64), rows)
        graph.save(tmp_path / "g")
        loaded = graphs.load(tmp_path / "g", DIM, GraphOptions())
        assert loaded is not None and len(loaded) == 100
        assert int(loaded.search(rows[42], 1)[0]) == 42

    def test_unusable_files_load_as_none(self, graphs: GraphFactory, tmp_path: Path) -> None:
        (tmp_path / "junk").write_bytes(b"not a graph" * 100)
        assert graphs.load(tmp_path / "junk", DIM, GraphOptions()) is None
        graph = graphs.new(DIM, GraphOptions())
        graph.add(np.arange(3, dtype=np.uint64), unit_rows(np.random.default_rng(2), 3))
        graph.save(tmp_path / "g")
        assert graphs.load(tmp_path / "g", DIM * 2, GraphOptions()) is None


def filled(graphs: GraphFactory, count: int, exact_below: int = 0) -> AnnNamespaceIndex:
    index = AnnNamespaceIndex(DIM, graphs, GraphOptions(), exact_below)
    rows = unit_rows(np.random.default_rng(count), count)
    tags = [{"fp": "rare" if i % 50 == 0 else "common", "i": i} for i in range(count)]
    index.upsert([f"e{i}" for i in range(count)], rows, tags)
    if index.wants_graph():
        index.build()
    return index


def test_recall_against_exact_search() -> None:
    """A floor, not a benchmark: 5,000 random 32-d vectors, top-10 of 100 random queries."""
    index = filled(usearch_graphs(), 5000)
    assert index.graph is not None
    rng = np.random.default_rng(9)
    found = 0
    for query in unit_rows(rng, 100):
        exact = {i for i, _ in index.exact.search(query, 10, {})}
        found += len(exact & {i for i, _ in index.search(query, 10, {})})
    assert found / 1000 >= 0.9


def test_scores_are_exact_and_near_duplicates_are_found(graphs: GraphFactory) -> None:
    index = filled(graphs, 3000)
    rows = index.exact.vectors()
    rng = np.random.default_rng(3)
    for target in rng.choice(3000, 50, replace=False):
        noise = unit_rows(rng, 1)[0]
        query = rows[target] + 0.4 * noise
        query /= np.linalg.norm(query)
        (best, score), *_ = index.search(query, 4, {})
        assert best == f"e{target}"
        assert score == pytest.approx(float(rows[target] @ query), abs=1e-6)


def test_small_namespaces_and_small_filters_are_scanned_exactly() -> None:
    class Counting(BruteForceGraphs):
        searches = 0

        def new(self, dim: int, options: GraphOptions) -> object:  # type: ignore[override]
            graph = super().new(dim, options)
            inner = graph.search

            def search(vector: np.ndarray, count: int) -> np.ndarray:
                Counting.searches += 1
                return inner(vector, count)

            graph.search = search  # type: ignore[method-assign]
            return graph

    small = filled(Counting(), 99, exact_below=100)
    assert small.graph is None
    index = filled(Counting(), 1000, exact_below=100)
    query = unit_rows(np.random.default_rng(4), 1)[0]
    index.search(query, 5, {"fp": "rare"})  # 20 rows match: scanned, exactly
    assert Counting.searches == 0
    index.search(query, 5, {"fp": "common"})
    assert Counting.searches == 1


def test_filters_return_only_matching_rows_and_keep_k(graphs: GraphFactory) -> None:
    index = filled(graphs, 2000)
    rng = np.random.default_rng(5)
    for query in unit_rows(rng, 10):
        hits = index.search(query, 5, {"fp": "rare"})
        assert len(hits) == 5
        assert all(int(i[1:]) % 50 == 0 for i, _ in hits)
        assert hits == index.exact.search(query, 5, {"fp": "rare"})  # 40 rows: all seen
        assert index.search(query, 5, {"fp": "none"}) == []


def test_deleted_entries_are_never_returned(graphs: GraphFactory) -> None:
    index = filled(graphs, 1000)
    rows = index.exact.vectors().copy()
    doomed = [f"e{i}" for i in range(0, 1000, 3)]
    index.remove(doomed)
    for i in range(0, 1000, 3):
        assert f"e{i}" not in {h for h, _ in index.search(rows[i], 10, {})}
    assert index.graph is not None and len(index.graph) == 1000 - len(doomed)


def test_key_collisions_fall_back_to_exact_scans(monkeypatch: pytest.MonkeyPatch) -> None:
    """Ids sharing a graph key (forced here: 7 keys for 300 ids) are still all found."""
    monkeypatch.setattr("outrigger.vector.ann_index.key_of", lambda item: key_of(item) % 7)
    index = filled(BruteForceGraphs(), 300)
    assert index.graph is not None and len(index.graph) == 7
    rows = index.exact.vectors().copy()
    for i in (0, 150, 299):
        assert index.search(rows[i], 3, {}) == index.exact.search(rows[i], 3, {})
    index.remove([f"e{i}" for i in range(0, 300, 2)])
    for i in range(0, 300, 2):
        assert f"e{i}" not in {h for h, _ in index.search(rows[i], 5, {})}
    assert index.search(rows[1], 1, {})[0][0] == "e1"


@pytest.fixture
def no_usearch(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    def missing(module: str, extra: str) -> object:
        raise MissingExtraError(f"'{module}' is not installed; pip install 'outrigger[{extra}]'")

    monkeypatch.setattr("outrigger.vector.usearch_graph.require", missing)
    yield


def test_without_usearch_auto_scans_exactly_and_says_so(
    no_usearch: None, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="outrigger.vector"):
        store = open_vector_store(VectorStoreSettings(ann_exact_below=0), DIM, tmp_path)
    assert "outrigger[ann]" in caplog.text
    assert isinstance(store, EmbeddedVectorStore)
    store.upsert("acme", ["a"], unit_rows(np.random.default_rng(6), 1), [{}])
    assert [h.id for h in store.search("acme", np.ones(DIM), 1)] == ["a"]
    store.close()
    assert not (tmp_path / "vectors.sqlite3.graphs").exists()


def test_required_ann_fails_at_start_without_usearch(no_usearch: None, tmp_path: Path) -> None:
    with pytest.raises(MissingExtraError, match=r"outrigger\[ann\]"):
        open_vector_store(VectorStoreSettings(ann="required"), DIM, tmp_path)


def test_ann_off_never_builds_a_graph(tmp_path: Path) -> None:
    store = open_vector_store(VectorStoreSettings(ann="off", ann_exact_below=0), DIM, tmp_path)
    store.upsert("acme", ["a", "b"], unit_rows(np.random.default_rng(7), 2), [{}, {}])
    store.close()
    assert not (tmp_path / "vectors.sqlite3.graphs").exists()


def test_value_counts_follow_replacements_and_deletes() -> None:
    """The per-value row counts that let a filtered search skip a pass over the rows."""
    index = AnnNamespaceIndex(DIM)
    rng = np.random.default_rng(8)
    ids = [f"e{i}" for i in range(300)]
    index.upsert(ids, unit_rows(rng, 300), [{"fp": f"f{i % 3}", "sem": True} for i in range(300)])
    index.upsert(ids[:50], unit_rows(rng, 50), [{"fp": "f9"} for _ in range(50)])
    index.remove(ids[100:160])
    for flt in ({"fp": "f0"}, {"fp": "f9"}, {"sem": True}, {"fp": "f1", "sem": True}, {"fp": "x"}):
        mask = index.exact.mask(flt)
        assert mask is not None
        at_most = index.exact.matching_at_most(flt)
        assert at_most >= int(mask.sum())
        if len(flt) == 1:
            assert at_most == int(mask.sum())
