"""The gateway in front of an ``anthropic`` provider, driven by the real ``openai`` client:
callers speak OpenAI's API whatever the provider, and the Anthropic stand-in
(tests/upstreams/anthropic.py) refuses what the real Messages API would refuse."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import openai
import pytest

from tests.gateway_server import GatewayServer, llm_settings
from tests.integration.test_gateway_llm import client, new_key
from tests.upstreams.anthropic import AnthropicThread

KEY = "sk-ant-gateway-test-7f3c"
WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
    },
}


@pytest.fixture
def claude() -> Iterator[AnthropicThread]:
    thread = AnthropicThread().start()
    yield thread
    thread.stop()


@pytest.fixture
def gateway(data_dir: Path, claude: AnthropicThread) -> Iterator[GatewayServer]:
    key_file = data_dir / "anthropic-key"
    key_file.write_text(KEY, encoding="utf-8")
    provider = {"kind": "anthropic", "base_url": claude.base, "api_key_file": key_file}
    settings = llm_settings(
        data_dir, {"claude": claude.base}, llm={"providers": {"claude": provider}}
    )
    server = GatewayServer(settings).start()
    yield server
    server.stop()


def chat(gw: GatewayServer) -> openai.OpenAI:
    return client(gw, new_key(gw))


def test_a_plain_answer_through_the_openai_client(
    gateway: GatewayServer, claude: AnthropicThread
) -> None:
    answer = chat(gateway).chat.completions.create(
        model="chat-default",
        messages=[
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "what is my balance"},
        ],
    )
    assert answer.choices[0].message.content == "echo: what is my balance"
    assert answer.usage is not None
    assert (answer.usage.prompt_tokens, answer.usage.completion_tokens) == (6, 5)
    sent = claude.behaviour.last
    assert sent["headers"]["x-api-key"] == KEY and sent["headers"]["anthropic-version"]
    assert sent["body"]["system"] == "Be brief."
    assert [m["role"] for m in sent["body"]["messages"]] == ["user"]


def test_a_streamed_answer_ends_with_usage(gateway: GatewayServer) -> None:
    stream = chat(gateway).chat.completions.create(
        model="chat-default",
        messages=[{"role": "user", "content": "one two three four"}],
        stream=True,
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "echo: one two three four"
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens == 5


def test_a_tool_call_and_its_result_through_the_gateway(
    gateway: GatewayServer, claude: AnthropicThread
) -> None:
    api = chat(gateway)
    messages: list[dict[str, object]] = [
        {"role": "user", "content": 'Weather in Pune?\nCALL_TOOL\nARGS:{"city": "Pune"}'}
    ]
    first = api.chat.completions.create(
        model="chat-default", messages=messages, tools=[WEATHER], tool_choice="required"
    )
    assert first.choices[0].finish_reason == "tool_calls"
    (call,) = first.choices[0].message.tool_calls or []
    assert call.function.name == "get_weather"
    assert json.loads(call.function.arguments) == {"city": "Pune"}
    assert claude.behaviour.last["body"]["tool_choice"] == {"type": "any"}
    messages += [
        first.choices[0].message.model_dump(exclude_none=True),
        {"role": "tool", "tool_call_id": call.id, "content": "sunny"},
    ]
    second = api.chat.completions.create(model="chat-default", messages=messages, tools=[WEATHER])
    assert second.choices[0].message.content == "tool said: sunny"
    blocks = claude.behaviour.last["body"]["messages"][-1]["content"]
    assert blocks == [{"type": "tool_result", "tool_use_id": call.id, "content": "sunny"}]
