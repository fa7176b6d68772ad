"""Load balancing through the real gateway and the real ``openai`` client over providers of
different kinds: one alias over two Bedrock deployments (two regions' stand-ins, signed by
the AWS SDK) and one Anthropic deployment. Calls spread over the three; when one fails or
answers 429 the calls go to the others and nothing fails that another could serve; a failing
deployment's circuit opens, and closes again once it is back."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openai
import pytest

from tests.gateway_server import GatewayServer, llm_settings
from tests.integration.test_gateway_llm import new_key
from tests.upstreams.anthropic import AnthropicThread
from tests.upstreams.bedrock import BedrockThread, aws_test_env, provider_config

NAMES = ("east", "west", "claude")


@pytest.fixture
def standins(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> Iterator[dict[str, BedrockThread | AnthropicThread]]:
    aws_test_env(monkeypatch, tmp_path)
    threads: dict[str, BedrockThread | AnthropicThread] = {
        "east": BedrockThread("us-east-1").start(),
        "west": BedrockThread("us-west-2").start(),
        "claude": AnthropicThread().start(),
    }
    yield threads
    for thread in threads.values():
        thread.stop()


@pytest.fixture
def gateway(
    data_dir: Path, standins: dict[str, BedrockThread | AnthropicThread]
) -> Iterator[GatewayServer]:
    key_file = data_dir / "anthropic-key"
    key_file.write_text("sk-ant-balancing-test", encoding="utf-8")
    east, west = standins["east"], standins["west"]
    assert isinstance(east, BedrockThread) and isinstance(west, BedrockThread)
    llm: dict[str, Any] = {
        "providers": {
            "east": provider_config(east),
            "west": provider_config(west),
            "claude": {
                "kind": "anthropic",
                "base_url": standins["claude"].base,
                "api_key_file": key_file,
            },
        },
        "deployments": {
            "east": {"provider": "east", "model": "anthropic.claude-3-haiku"},
            "west": {"provider": "west", "model": "anthropic.claude-3-haiku"},
            "claude": {"provider": "claude", "model": "claude-3-5-haiku-latest"},
        },
        "aliases": {"chat-default": list(NAMES)},
        "balancing": {"chat-default": "least_inflight"},
        "circuit": {"failure_threshold": 2, "open_s": 3.0},
        "retry": {"attempts": 1, "rate_limit_cooldown_s": 1.0, "max_retry_after_s": 0},
        "fallback_answer": None,  # a call nobody could serve fails loudly
    }
    urls = {n: standins[n].base for n in NAMES}
    server = GatewayServer(llm_settings(data_dir, urls, llm=llm)).start()
    yield server
    server.stop()


def served(gw: GatewayServer, key: str, calls: int) -> Counter[str]:
    """Which deployment answered each of ``calls`` calls (each must be answered)."""
    client = openai.OpenAI(base_url=f"{gw.url}/v1", api_key=key, max_retries=0)
    seen: Counter[str] = Counter()
    for i in range(calls):
        raw = client.chat.completions.with_raw_response.create(
            model="chat-default", messages=[{"role": "user", "content": f"question {i}"}]
        )
        assert raw.parse().choices[0].message.content == f"echo: question {i}"
        seen[raw.headers["x-outrigger-deployment"]] += 1
    return seen


def test_calls_spread_over_bedrock_and_anthropic_deployments(gateway: GatewayServer) -> None:
    seen = served(gateway, new_key(gateway), 30)
    assert set(seen) == set(NAMES), seen  # every deployment took a share


def test_a_failing_deployment_is_routed_around_and_its_circuit_closes_again(
    gateway: GatewayServer, standins: dict[str, BedrockThread | AnthropicThread]
) -> None:
    key = new_key(gateway)
    breaker = gateway.proxy.dispatcher.breakers["east"]
    standins["east"].set("500")  # until told otherwise
    seen = served(gateway, key, 30)  # every call answered by the others
    assert breaker.state == "open"
    # The threshold, then only a probe every open_s (if the calls took that long).
    assert 2 <= standins["east"].behaviour.requests <= 4
    assert seen["west"] + seen["claude"] == 30
    standins["east"].set("ok")
    time.sleep(3.1)  # open_s: the next call may probe it
    seen = served(gateway, key, 30)
    assert breaker.state == "closed"
    assert seen["east"] > 0, seen


def test_a_throttled_deployment_cools_down_while_the_others_answer(
    gateway: GatewayServer, standins: dict[str, BedrockThread | AnthropicThread]
) -> None:
    key = new_key(gateway)
    standins["west"].set("429", retry_after="30")
    seen = served(gateway, key, 20)
    assert standins["west"].behaviour.requests == 1  # told to wait 30 s: not asked again
    assert seen["west"] == 0 and seen["east"] + seen["claude"] == 20
    assert gateway.proxy.dispatcher.breakers["west"].state == "closed"
    assert gateway.proxy.dispatcher.balancer.cooling("west") > 25
