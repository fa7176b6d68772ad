"""The gateway's cache on the embedded store's graphs (usearch, every namespace searched
through its graph: ``ann_exact_below: 0``): tenants stay apart across a restart, which
loads the saved graphs, and after one tenant's purge, before and after the next restart."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx

from tests.contract.test_vector_contract import require_module
from tests.gateway_server import GatewayServer
from tests.integration.test_gateway_cache import PARAPHRASE, QUESTION, chat
from tests.integration.test_gateway_llm import new_key, start_gateway
from tests.upstream import UpstreamThread

OTHER = "What is the fee for an international wire transfer?"
OTHER_PARAPHRASE = "What does an international wire transfer cost?"


def start(data_dir: Path, upstream: UpstreamThread) -> GatewayServer:
    require_module("usearch", "extra 'ann'")
    require_module("tokenizers", "extra 'embeddings' (local embedder)")
    extra: dict[str, Any] = {
        "cache": {"enabled": True},
        "vectors": {"ann": "required", "ann_exact_below": 0},
    }
    return start_gateway(data_dir, {"primary": upstream}, **extra)


def test_tenants_stay_apart_across_restarts_and_a_purge(
    data_dir: Path, upstream: UpstreamThread
) -> None:
    gateway = start(data_dir, upstream)
    a, b = new_key(gateway, "bank-a"), new_key(gateway, "bank-b")
    assert chat(gateway, a, QUESTION)[1] == "miss"
    assert chat(gateway, b, OTHER)[1] == "miss"
    gateway.stop()
    graphs = data_dir / "vectors.sqlite3.graphs"
    assert len(list(graphs.iterdir())) == 2  # one graph per tenant, saved at shutdown

    gateway = start(data_dir, upstream)
    # Each tenant's paraphrase finds its own answer in the loaded graph, never the other's.
    assert chat(gateway, a, PARAPHRASE) == (f"echo: {QUESTION}", "hit")
    assert chat(gateway, b, PARAPHRASE) == (f"echo: {PARAPHRASE}", "miss")
    assert chat(gateway, b, OTHER_PARAPHRASE) == (f"echo: {OTHER}", "hit")
    assert chat(gateway, a, OTHER_PARAPHRASE) == (f"echo: {OTHER_PARAPHRASE}", "miss")
    purge = httpx.delete(f"{gateway.url}/v1/cache", headers={"Authorization": f"Bearer {a}"})
    assert purge.status_code == 200
    assert chat(gateway, b, OTHER_PARAPHRASE)[1] == "hit"
    requests = upstream.behaviour.requests
    gateway.stop()

    gateway = start(data_dir, upstream)
    assert chat(gateway, a, PARAPHRASE) == (f"echo: {PARAPHRASE}", "miss")  # still purged
    assert chat(gateway, b, OTHER)[1] == "hit"
    assert upstream.behaviour.requests == requests + 1
    gateway.stop()
