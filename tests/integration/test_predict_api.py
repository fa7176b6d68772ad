"""POST /v1/models/{name}/predict on the real FastAPI app with the LLM proxy, served by uvicorn
on 127.0.0.1: behind tenant keys, rate limits, the ledger and the audit trail."""

from __future__ import annotations

import asyncio
import csv
import socket
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
import uvicorn
from fastapi import FastAPI

from outrigger.gateway.app import create_app
from outrigger.proxy.service import LlmProxy, build_proxy
from outrigger.runtime import load_pipeline_set
from outrigger.storage.schema import audit_log, llm_calls
from outrigger.storage.tenants import Tenant
from tests.gateway_server import llm_settings
from tests.registry_models import BUNDLED

pytestmark = pytest.mark.timeout(60)
TIERS = {"enterprise": {}, "tiny": {"rpm": 2}}


def application() -> dict[str, object]:
    with (BUNDLED / "holdout.csv").open() as handle:
        row = next(csv.DictReader(handle))
    numeric = (
        "seniority",
        "time",
        "age",
        "expenses",
        "income",
        "assets",
        "debt",
        "amount",
        "price",
    )
    return {
        k: (float(v) if v else None) if k in numeric else v for k, v in row.items() if k != "status"
    }


async def serve(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    task = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.01)
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:
        yield http
    server.should_exit = True
    await task


@pytest.fixture
def proxy(tmp_path: Path) -> LlmProxy:
    # No chat upstream is ever called here; embeddings are not served (nothing to load).
    settings = llm_settings(
        tmp_path, {"primary": "http://127.0.0.1:9/v1"},
        tenancy={"tiers": TIERS}, embeddings={"serve": False},
    )  # fmt: skip
    return build_proxy(settings)


@pytest.fixture
async def client(proxy: LlmProxy) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(load_pipeline_set(proxy.settings), None, proxy.metrics, proxy)
    async for http in serve(app):
        http.headers["Authorization"] = f"Bearer {new_key(proxy)}"
        yield http


def new_key(proxy: LlmProxy, tenant: str = "acme", tier: str = "enterprise") -> str:
    if proxy.tenants.get_tenant(tenant) is None:
        proxy.tenants.create_tenant(Tenant(tenant, tenant.title(), tier, None))
    return proxy.tenants.create_key(tenant, "test")[0]


async def recorded(proxy: LlmProxy) -> tuple[list[Any], list[Any]]:
    await proxy.flush()
    with proxy.db.engine.connect() as conn:
        ledger = conn.execute(
            sa.select(llm_calls.c.id, llm_calls.c.tenant_id, llm_calls.c.feature,
                      llm_calls.c.alias, llm_calls.c.deployment, llm_calls.c.cost_usd,
                      llm_calls.c.status)
        ).all()  # fmt: skip
        audit = conn.execute(sa.select(audit_log.c.call_id, audit_log.c.model)).all()
    return list(ledger), list(audit)


async def test_predict_scores_a_batch(client: httpx.AsyncClient) -> None:
    row = application()
    response = await client.post("/v1/models/credit-risk/predict", json={"inputs": [row, row]})
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["model"], body["version"]) == ("credit-risk", "1.0.0")
    probabilities = body["outputs"]["probabilities"]
    assert len(probabilities) == 2 and probabilities[0] == probabilities[1]
    assert abs(sum(probabilities[0]) - 1) < 1e-5


async def test_each_prediction_has_a_ledger_row_and_an_audit_record(
    client: httpx.AsyncClient, proxy: LlmProxy
) -> None:
    row = application()
    first = await client.post("/v1/models/credit-risk/predict", json={"inputs": [row]})
    second = await client.post(
        "/v1/models/credit-risk/predict",
        json={"inputs": [row, row]},
        headers={"X-Outrigger-Feature": "loan-desk"},
    )
    assert first.status_code == second.status_code == 200
    ids = [r.headers["x-outrigger-call-id"] for r in (first, second)]
    ledger, audit = await recorded(proxy)
    assert sorted(ledger) == sorted(
        [
            (ids[0], "acme", "predict", "credit-risk", "onnx", 0.0, "ok"),
            (ids[1], "acme", "loan-desk", "credit-risk", "onnx", 0.0, "ok"),
        ]
    )
    assert sorted(audit) == sorted((i, "credit-risk@1.0.0") for i in ids)
    assert proxy.audit.verify() == (2, None)


@pytest.mark.parametrize(
    "authorization",
    [None, "Bearer ork-000000000000-not-a-key", "Basic dXNlcjpwYXNz"],
    ids=["none", "wrong", "not-bearer"],
)
async def test_a_prediction_needs_a_valid_key(
    client: httpx.AsyncClient, proxy: LlmProxy, authorization: str | None
) -> None:
    headers = {"Authorization": authorization} if authorization else {}
    if authorization is None:
        del client.headers["Authorization"]
    for name in ("credit-risk", "no-such-model"):  # no key: not even which models exist
        response = await client.post(
            f"/v1/models/{name}/predict", json={"inputs": [application()]}, headers=headers
        )
        assert response.status_code == 401, response.text
        assert response.json()["error"]["type"] == "authentication_error"
    assert await recorded(proxy) == ([], [])


async def test_predictions_are_rate_limited_like_any_call(
    client: httpx.AsyncClient, proxy: LlmProxy
) -> None:
    headers = {"Authorization": f"Bearer {new_key(proxy, 'small', tier='tiny')}"}
    body = {"inputs": [application()]}
    for _ in range(2):
        ok = await client.post("/v1/models/credit-risk/predict", json=body, headers=headers)
        assert ok.status_code == 200, ok.text
    limited = await client.post("/v1/models/credit-risk/predict", json=body, headers=headers)
    assert limited.status_code == 429
    assert limited.json()["error"]["code"] == "rate_limit_exceeded"
    assert int(limited.headers["retry-after"]) >= 1
    ledger, _ = await recorded(proxy)
    assert [r.tenant_id for r in ledger] == ["small", "small"]  # refusals are not billed


async def test_without_a_proxy_predictions_are_refused(tmp_path: Path) -> None:
    settings = llm_settings(tmp_path, {"primary": "http://127.0.0.1:9/v1"})
    async for http in serve(create_app(load_pipeline_set(settings))):
        response = await http.post(
            "/v1/models/credit-risk/predict", json={"inputs": [application()]}
        )
        assert response.status_code == 401


@pytest.mark.parametrize(
    ("change", "param", "fragment"),
    [
        ({"age": "forty"}, "inputs[0].age", "must be a number"),
        ({"home": 3}, "inputs[0].home", "must be a string"),
        ({"shoe_size": 42}, "inputs[0].shoe_size", "unknown input"),
        ({"age": "__drop__"}, "inputs[0].age", "missing input"),
    ],
)
async def test_invalid_inputs_get_a_400_that_names_the_field(
    client: httpx.AsyncClient, change: dict[str, object], param: str, fragment: str
) -> None:
    row = application()
    for key, value in change.items():
        if value == "__drop__":
            row.pop(key)
        else:
            row[key] = value
    response = await client.post("/v1/models/credit-risk/predict", json={"inputs": [row]})
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["param"] == param and fragment in error["message"]


async def test_bad_bodies_and_unknown_models(client: httpx.AsyncClient) -> None:
    empty = await client.post("/v1/models/credit-risk/predict", json={"inputs": []})
    assert empty.status_code == 400 and empty.json()["error"]["param"] == "inputs"
    garbage = await client.post(
        "/v1/models/credit-risk/predict",
        content=b"{not json",
        headers={"content-type": "application/json"},
    )
    assert garbage.status_code == 400
    missing = await client.post("/v1/models/fraud/predict", json={"inputs": [{}]})
    assert missing.status_code == 404 and "fraud" in missing.json()["error"]["message"]
    assert (await client.get("/healthz")).json() == {"status": "ok"}
