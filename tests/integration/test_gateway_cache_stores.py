"""Tenant isolation through the real gateway on every persistent vector store: the
embedded store's graphs (usearch, every namespace searched through its graph:
``ann_exact_below: 0``), Qdrant's engine in-process (its HNSW indexes built by
``optimize`` between the runs, as ``outrigger cache optimize`` does) and pgvector (HNSW in
PostgreSQL). Tenants stay apart across a restart, and after one tenant's purge, before
and after the next restart."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.contract.test_vector_contract import pg_engine, pgvector_url, require_module
from tests.gateway_server import GatewayServer
from tests.integration.test_gateway_cache import PARAPHRASE, QUESTION, chat
from tests.integration.test_gateway_llm import new_key, start_gateway
from tests.upstream import UpstreamThread

__all__ = ["pg_engine", "pgvector_url"]  # session fixtures shared with the contract suite

OTHER = "What is the fee for an international wire transfer?"
OTHER_PARAPHRASE = "What does an international wire transfer cost?"


def _embedded(data_dir: Path, request: pytest.FixtureRequest) -> dict[str, Any]:
    require_module("usearch", "extra 'ann'")
    return {"ann": "required", "ann_exact_below": 0}


def _qdrant(data_dir: Path, request: pytest.FixtureRequest) -> dict[str, Any]:
    require_module("qdrant_edge", "extra 'qdrant'")
    return {"kind": "qdrant", "path": str(data_dir / "qdrant"), "ann_exact_below": 0}


def _pgvector(data_dir: Path, request: pytest.FixtureRequest) -> dict[str, Any]:
    url = request.getfixturevalue("pgvector_url")
    return {"kind": "pgvector", "url": url, "table": f"cache_{uuid.uuid4().hex[:12]}"}


STORES: dict[str, Callable[[Path, pytest.FixtureRequest], dict[str, Any]]] = {
    "embedded-ann": _embedded,
    "qdrant-edge": _qdrant,
    "pgvector": _pgvector,
}


@pytest.fixture(params=sorted(STORES))
def vectors(request: pytest.FixtureRequest, data_dir: Path) -> dict[str, Any]:
    require_module("tokenizers", "extra 'embeddings' (local embedder)")
    return STORES[request.param](data_dir, request)


def start(data_dir: Path, upstream: UpstreamThread, vectors: dict[str, Any]) -> GatewayServer:
    extra: dict[str, Any] = {"cache": {"enabled": True}, "vectors": vectors}
    return start_gateway(data_dir, {"primary": upstream}, **extra)


def between_runs(data_dir: Path, vectors: dict[str, Any]) -> None:
    """What the store keeps while the gateway is down (and, for Qdrant, the optimizer)."""
    if vectors.get("kind") == "qdrant":
        from outrigger.vector.qdrant_edge import QdrantEdgeVectorStore

        store = QdrantEdgeVectorStore(Path(vectors["path"]), 384, exact_below=0)
        assert len(store.namespaces()) == 2  # one shard per tenant
        assert sorted(store.optimize()) == store.namespaces()
        store.close()
    elif vectors.get("kind") is None:
        graphs = data_dir / "vectors.sqlite3.graphs"
        assert len(list(graphs.iterdir())) == 2  # one graph per tenant, saved at shutdown


def test_tenants_stay_apart_across_restarts_and_a_purge(
    data_dir: Path, upstream: UpstreamThread, vectors: dict[str, Any]
) -> None:
    gateway = start(data_dir, upstream, vectors)
    a, b = new_key(gateway, "bank-a"), new_key(gateway, "bank-b")
    assert chat(gateway, a, QUESTION)[1] == "miss"
    assert chat(gateway, b, OTHER)[1] == "miss"
    gateway.stop()
    between_runs(data_dir, vectors)

    gateway = start(data_dir, upstream, vectors)
    # Each tenant's paraphrase finds its own answer, never the other's.
    assert chat(gateway, a, PARAPHRASE) == (f"echo: {QUESTION}", "hit")
    assert chat(gateway, b, PARAPHRASE) == (f"echo: {PARAPHRASE}", "miss")
    assert chat(gateway, b, OTHER_PARAPHRASE) == (f"echo: {OTHER}", "hit")
    assert chat(gateway, a, OTHER_PARAPHRASE) == (f"echo: {OTHER_PARAPHRASE}", "miss")
    purge = httpx.delete(f"{gateway.url}/v1/cache", headers={"Authorization": f"Bearer {a}"})
    assert purge.status_code == 200
    assert chat(gateway, b, OTHER_PARAPHRASE)[1] == "hit"
    requests = upstream.behaviour.requests
    gateway.stop()

    gateway = start(data_dir, upstream, vectors)
    assert chat(gateway, a, PARAPHRASE) == (f"echo: {PARAPHRASE}", "miss")  # still purged
    assert chat(gateway, b, OTHER)[1] == "hit"
    assert upstream.behaviour.requests == requests + 1
    gateway.stop()
