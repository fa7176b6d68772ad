"""POST /v1/models/{name}/predict on the real FastAPI app, served by uvicorn on 127.0.0.1."""

from __future__ import annotations

import asyncio
import csv
import socket
from collections.abc import AsyncIterator

import httpx
import pytest
import uvicorn

from outrigger.config.settings import Settings
from outrigger.gateway.app import create_app
from outrigger.runtime import load_pipeline_set
from tests.registry_models import BUNDLED

pytestmark = pytest.mark.timeout(60)


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


@pytest.fixture
async def client(tmp_path: object) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(load_pipeline_set(Settings(data_dir=tmp_path)))  # type: ignore[arg-type]
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


async def test_predict_scores_a_batch(client: httpx.AsyncClient) -> None:
    row = application()
    response = await client.post("/v1/models/credit-risk/predict", json={"inputs": [row, row]})
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["model"], body["version"]) == ("credit-risk", "1.0.0")
    probabilities = body["outputs"]["probabilities"]
    assert len(probabilities) == 2 and probabilities[0] == probabilities[1]
    assert abs(sum(probabilities[0]) - 1) < 1e-5


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
