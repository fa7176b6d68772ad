"""Chat bodies read by hand answer exactly what FastAPI's body parameter answered."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi import FastAPI, Request
from fastapi.testclient import TestClient

from outrigger.gateway import errors
from outrigger.gateway.body import parse_body
from outrigger.gateway.schemas import ChatCompletionRequest

OK = b'{"model":"c","messages":[{"role":"user","content":"x"}]}'
LAX = {"model": "c", "messages": [{"role": "tool", "content": [{"text": "a"}]}], "seed": 7}


@pytest.fixture(scope="module")
def client() -> TestClient:
    app = FastAPI()
    errors.install(app)

    @app.post("/fastapi")
    async def by_fastapi(body: ChatCompletionRequest) -> dict[str, Any]:
        return body.model_dump()

    @app.post("/by-hand")
    async def by_hand(request: Request) -> dict[str, Any]:
        body = parse_body(
            await request.body(), request.headers.get("content-type"), ChatCompletionRequest
        )
        return body.model_dump()

    return TestClient(app)


@pytest.mark.parametrize(
    "request_kw",
    [
        {"json": {"model": "c", "messages": [{"role": "user", "content": "x"}], "top_p": 1}},
        {"json": {**LAX, "stream": "true", "temperature": "0.5"}},
        {"json": {"messages": [{"role": "user", "content": "x"}]}},
        {"json": {"model": "c", "messages": []}},
        {"json": {"model": "c", "messages": [{"role": "wizard", "content": "x"}]}},
        {"json": {"model": "c", "messages": [{"role": "user", "content": "x"}], "n": 2}},
        {"json": {}},
        {"json": [1]},
        {"json": "text"},
        {"json": None},
        {"content": b"{not json", "headers": {"Content-Type": "application/json"}},
        {"content": b"", "headers": {"Content-Type": "application/json"}},
        {"content": b"null", "headers": {"Content-Type": "application/json"}},
        {"content": OK, "headers": {"Content-Type": "text/plain"}},
        {"content": OK},
        {"content": OK, "headers": {"Content-Type": "application/vnd.x+json; charset=utf-8"}},
        {"content": OK, "headers": {"Content-Type": "APPLICATION/JSON"}},
    ],
)
def test_same_answer_as_a_fastapi_body_parameter(
    client: TestClient, request_kw: dict[str, Any]
) -> None:
    expected = client.post("/fastapi", **request_kw)
    got = client.post("/by-hand", **request_kw)
    assert (got.status_code, got.json()) == (expected.status_code, expected.json())
