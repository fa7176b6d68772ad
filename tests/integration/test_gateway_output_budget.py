"""``max_tokens`` and ``max_completion_tokens`` are bounded by ``llm.max_output_tokens``: a
larger (or absurd, or non-integral) budget is a 400 before any upstream call, never a 500 and
never forwarded."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import openai
import pytest

from tests.gateway_server import GatewayServer
from tests.integration.test_gateway_llm import client, new_key, start_gateway
from tests.upstream import UpstreamThread

CEILING = 4096


@pytest.fixture
def gateway(data_dir: Path, upstream: UpstreamThread) -> Iterator[GatewayServer]:
    server = start_gateway(data_dir, {"primary": upstream}, llm={"max_output_tokens": CEILING})
    yield server
    server.stop()


def post(gw: GatewayServer, key: str, budget: str) -> httpx.Response:
    body = '{"model": "chat-default", "messages": [{"role": "user", "content": "hi"}], ' + budget
    return httpx.post(
        f"{gw.url}/v1/chat/completions",
        content=(body + "}").encode(),
        headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
    )


@pytest.mark.parametrize("name", ["max_tokens", "max_completion_tokens"])
def test_a_budget_over_the_ceiling_is_a_400_naming_it(
    gateway: GatewayServer, upstream: UpstreamThread, name: str
) -> None:
    key = new_key(gateway)
    with pytest.raises(openai.BadRequestError) as refused:
        client(gateway, key).chat.completions.create(
            model="chat-default",
            messages=[{"role": "user", "content": "hi"}],
            **{name: CEILING + 1},  # type: ignore[arg-type]
        )
    message = refused.value.body["message"]  # type: ignore[index]
    assert name in message and str(CEILING) in message
    assert upstream.behaviour.requests == 0
    answer = client(gateway, key).chat.completions.create(
        model="chat-default",
        messages=[{"role": "user", "content": "hi"}],
        **{name: CEILING},  # type: ignore[arg-type]
    )
    assert answer.choices[0].message.content == "echo: hi"
    assert upstream.behaviour.last["body"][name] == CEILING  # the ceiling itself is allowed


@pytest.mark.parametrize(
    "budget",
    [
        '"max_tokens": 1e30',
        '"max_tokens": 1000000000000000000000000000000',
        '"max_completion_tokens": 1e400',
        '"max_tokens": 1.5',
        '"max_tokens": -1',
        '"max_tokens": "lots"',
        '"max_completion_tokens": 99999999999999999999',
    ],
)
def test_absurd_budgets_are_a_400_not_a_500(
    gateway: GatewayServer, upstream: UpstreamThread, budget: str
) -> None:
    key = new_key(gateway)
    for stream in ("false", "true"):
        response = post(gateway, key, f'{budget}, "stream": {stream}')
        assert response.status_code == 400, response.text
        assert response.json()["error"]["type"] == "invalid_request_error"
    assert upstream.behaviour.requests == 0


def test_the_default_ceiling_is_32768(data_dir: Path, upstream: UpstreamThread) -> None:
    server = start_gateway(data_dir, {"primary": upstream})
    try:
        key = new_key(server)
        assert post(server, key, '"max_tokens": 32769').status_code == 400
        assert post(server, key, '"max_tokens": 32768').status_code == 200
        assert upstream.behaviour.requests == 1
    finally:
        server.stop()
