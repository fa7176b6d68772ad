"""Chat bodies read by hand answer exactly what FastAPI's body parameter answered, and large
ones are parsed off the event loop."""

from __future__ import annotations

import json
import threading
from typing import Any, ClassVar

import pytest
from fastapi import FastAPI, Request
from fastapi.testclient import TestClient
from pydantic import BaseModel, field_validator

from outrigger.gateway import errors
from outrigger.gateway.body import INLINE_PARSE_BYTES, parse_body, read_body
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


class _Where(BaseModel):
    """Records the thread its ``text`` is validated on."""

    text: str
    threads: ClassVar[list[int]] = []

    @field_validator("text")
    @classmethod
    def _record(cls, value: str) -> str:
        cls.threads.append(threading.get_ident())
        return value


async def test_a_large_body_is_parsed_on_a_worker_thread_and_a_small_one_inline() -> None:
    small = json.dumps({"text": "x"}).encode()
    large = json.dumps({"text": "x" * INLINE_PARSE_BYTES}).encode()
    _Where.threads.clear()
    assert (await read_body(small, "application/json", _Where)).text == "x"
    assert len((await read_body(large, "application/json", _Where)).text) == INLINE_PARSE_BYTES
    loop_thread = threading.get_ident()
    assert _Where.threads[0] == loop_thread
    assert _Where.threads[1] != loop_thread
