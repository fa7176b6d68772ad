"""The contract every provider adapter keeps, run against each one through its local
stand-in (tests/contract/provider_kits.py): plain and streamed answers in OpenAI's shape,
usage and its cost, tool calls and JSON mode translated both ways, failures mapped to
``ProviderError`` kinds (with ``retry_after``), the deployment's timeout, and a key that never
reaches a message or a log line.

Adapters are built by the real factory from settings, as at start-up. A case an adapter
cannot meet is skipped with the reason its kit gives (``Standin.lacks``), never silently."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from outrigger.config.llm import DeploymentSettings, LlmSettings
from outrigger.llm.base import Provider
from outrigger.llm.factory import build_providers
from outrigger.llm.types import (
    ChatRequest,
    ProviderError,
    Usage,
    chunk_text,
    completion_text,
)
from outrigger.proxy.recorder import cost_usd
from tests.contract.provider_kits import STANDINS, Standin

INPUT_PRICE, OUTPUT_PRICE = 3.0, 15.0
WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "The weather in a city now.",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
        },
    },
}
ASK_WEATHER = 'What is the weather in Pune?\nCALL_TOOL\nARGS:{"city": "Pune"}'
ANSWER_SCHEMA = {
    "type": "json_schema",
    "json_schema": {
        "name": "answer",
        "schema": {
            "type": "object",
            "properties": {"text": {"type": "string"}},
            "required": ["text"],
        },
    },
}


@dataclass
class Kit:
    kind: str
    standin: Standin
    settings: LlmSettings | None = None  # of the last adapter built

    def needs(self, capability: str) -> None:
        if capability in self.standin.lacks:
            pytest.skip(f"{self.kind}: {self.standin.lacks[capability]}")

    def set(self, mode: str, **kw: Any) -> None:
        self.needs("upstream")
        assert self.standin.thread is not None
        self.standin.thread.set(mode, **kw)

    def adapter(
        self, provider_timeout_s: float = 10, deployment_timeout_s: float | None = None
    ) -> tuple[Provider, DeploymentSettings]:
        """An adapter built by the factory, and its deployment (priced)."""
        deployment = {
            "provider": self.kind,
            "model": "contract-model",
            "input_price": INPUT_PRICE,
            "output_price": OUTPUT_PRICE,
            "timeout_s": deployment_timeout_s,
        }
        provider = {**self.standin.provider, "timeout_s": provider_timeout_s}
        settings = LlmSettings.model_validate(
            {
                "providers": {self.kind: provider},
                "deployments": {"dep": deployment},
                "aliases": {"chat-default": ["dep"]},
            }
        )
        self.settings = settings
        return build_providers(settings)[self.kind], settings.deployments["dep"]


@pytest.fixture(params=list(STANDINS))
def kit(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Kit]:
    standin = STANDINS[request.param](request, tmp_path)
    try:
        yield Kit(request.param, standin)
    finally:
        standin.stop()


@pytest.fixture
async def adapter(kit: Kit) -> AsyncIterator[tuple[Provider, DeploymentSettings]]:
    provider, deployment = kit.adapter()
    yield provider, deployment
    await provider.close()


def chat(text: str, *, system: str | None = None, **params: Any) -> ChatRequest:
    messages = [{"role": "system", "content": system}] if system else []
    messages.append({"role": "user", "content": text})
    return ChatRequest("chat-default", messages, {"max_tokens": 24, **params})


async def collect(provider: Provider, dep: DeploymentSettings, request: ChatRequest) -> list[Any]:
    return [chunk async for chunk in provider.stream(dep, request)]


def tool_calls_of(chunks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Streamed tool-call deltas put together by index, as OpenAI's clients do."""
    calls: dict[int, dict[str, Any]] = {}
    for chunk in chunks:
        for choice in chunk.get("choices") or []:
            for delta in (choice.get("delta") or {}).get("tool_calls") or []:
                call = calls.setdefault(delta["index"], {"id": "", "name": "", "arguments": ""})
                call["id"] = delta.get("id") or call["id"]
                function = delta.get("function") or {}
                call["name"] += function.get("name") or ""
                call["arguments"] += function.get("arguments") or ""
    return [calls[i] for i in sorted(calls)]


def finish_reasons(chunks: list[dict[str, Any]]) -> list[str]:
    return [
        c["finish_reason"] for k in chunks for c in k.get("choices") or [] if c["finish_reason"]
    ]


# --- answers -------------------------------------------------------------------------------


async def test_a_plain_answer_is_an_openai_completion(kit: Kit, adapter: Any) -> None:
    provider, dep = adapter
    body = await provider.complete(dep, chat("what is my balance"))
    assert body["object"] == "chat.completion"
    choice = body["choices"][0]
    assert choice["message"]["role"] == "assistant"
    assert choice["finish_reason"] in ("stop", "length")
    assert completion_text(body).strip()
    if "echo" not in kit.standin.lacks:
        assert completion_text(body) == "echo: what is my balance"
        assert choice["finish_reason"] == "stop"


async def test_a_streamed_answer_is_openai_chunks(kit: Kit, adapter: Any) -> None:
    provider, dep = adapter
    chunks = await collect(provider, dep, chat("one two three four"))
    assert chunks and all(c["object"] == "chat.completion.chunk" for c in chunks)
    text = "".join(chunk_text(c) for c in chunks)
    assert text.strip()
    assert finish_reasons(chunks)[-1:] in (["stop"], ["length"])
    if "echo" not in kit.standin.lacks:
        assert text == "echo: one two three four"
    kit.needs("stream_usage")
    usage = Usage.from_body(chunks[-1])
    assert usage is not None and usage.prompt_tokens > 0 and usage.completion_tokens > 0


async def test_usage_is_reported_and_priced_by_the_deployment(kit: Kit, adapter: Any) -> None:
    provider, dep = adapter
    body = await provider.complete(dep, chat("what is my balance", system="Be brief."))
    usage = Usage.from_body(body)
    assert usage is not None and usage.prompt_tokens > 0 and usage.completion_tokens > 0
    assert body["usage"]["total_tokens"] == usage.prompt_tokens + usage.completion_tokens
    assert kit.settings is not None
    expected = (usage.prompt_tokens * INPUT_PRICE + usage.completion_tokens * OUTPUT_PRICE) / 1e6
    assert cost_usd(kit.settings, "dep", usage) == pytest.approx(expected)
    kit.needs("word_usage")
    # The stand-ins count words: 2 + 4 in ("Be brief.", "what is my balance"), 5 out.
    assert (usage.prompt_tokens, usage.completion_tokens) == (6, 5)


async def test_streamed_usage_matches_the_plain_one(kit: Kit, adapter: Any) -> None:
    kit.needs("stream_usage")
    kit.needs("word_usage")
    provider, dep = adapter
    chunks = await collect(provider, dep, chat("what is my balance", system="Be brief."))
    assert Usage.from_body(chunks[-1]) == Usage(6, 5)


# --- tools and JSON mode -------------------------------------------------------------------


async def test_a_tool_call_and_its_result_round_trip(kit: Kit, adapter: Any) -> None:
    kit.needs("tools")
    provider, dep = adapter
    choice = {"type": "function", "function": {"name": "get_weather"}}
    ask = chat(ASK_WEATHER, tools=[WEATHER], tool_choice=choice)
    body = await provider.complete(dep, ask)
    answer = body["choices"][0]
    assert answer["finish_reason"] == "tool_calls"
    (call,) = answer["message"]["tool_calls"]
    assert call["type"] == "function" and call["id"]
    assert call["function"]["name"] == "get_weather"
    assert json.loads(call["function"]["arguments"]) == {"city": "Pune"}
    # The assistant's call and the tool's result go back, translated the other way.
    result = {"role": "tool", "tool_call_id": call["id"], "content": "sunny, 31 C"}
    messages = [*ask.messages, answer["message"], result]
    follow = ChatRequest("chat-default", messages, {"max_tokens": 24, "tools": [WEATHER]})
    assert completion_text(await provider.complete(dep, follow)) == "tool said: sunny, 31 C"


async def test_a_streamed_tool_call_arrives_as_deltas(kit: Kit, adapter: Any) -> None:
    kit.needs("tools")
    provider, dep = adapter
    chunks = await collect(
        provider, dep, chat(ASK_WEATHER, tools=[WEATHER], tool_choice="required")
    )
    (call,) = tool_calls_of(chunks)
    assert call["id"] and call["name"] == "get_weather"
    assert json.loads(call["arguments"]) == {"city": "Pune"}
    assert finish_reasons(chunks)[-1] == "tool_calls"


@pytest.mark.parametrize("streamed", [False, True], ids=["plain", "stream"])
async def test_json_mode_answers_json_of_the_schema(kit: Kit, adapter: Any, streamed: bool) -> None:
    kit.needs("json_schema")
    provider, dep = adapter
    request = chat("ship it today", response_format=ANSWER_SCHEMA)
    if streamed:
        chunks = await collect(provider, dep, request)
        text, finish = "".join(chunk_text(c) for c in chunks), finish_reasons(chunks)[-1]
    else:
        body = await provider.complete(dep, request)
        text, finish = completion_text(body), body["choices"][0]["finish_reason"]
    assert json.loads(text) == {"text": "ship it today"}
    assert finish == "stop"


# --- failures ------------------------------------------------------------------------------


async def failure(
    kit: Kit, provider: Provider, dep: DeploymentSettings, streamed: bool
) -> ProviderError:
    with pytest.raises(ProviderError) as caught:
        if streamed:
            await collect(provider, dep, chat("hello"))
        else:
            await provider.complete(dep, chat("hello"))
    if kit.standin.secret:
        assert kit.standin.secret not in str(caught.value)
    return caught.value


@pytest.mark.parametrize("streamed", [False, True], ids=["plain", "stream"])
async def test_429_is_rate_limited_with_retry_after(kit: Kit, adapter: Any, streamed: bool) -> None:
    kit.set("429", times=1, retry_after="7")
    error = await failure(kit, *adapter, streamed)
    assert (error.kind, error.status, error.retry_after) == ("rate_limited", 429, 7.0)
    assert error.retryable


@pytest.mark.parametrize(
    ("mode", "kind"), [("500", "server"), ("503", "server"), ("drop", "connection")]
)
@pytest.mark.parametrize("streamed", [False, True], ids=["plain", "stream"])
async def test_server_and_connection_failures_are_retryable(
    kit: Kit, adapter: Any, mode: str, kind: str, streamed: bool
) -> None:
    kit.set(mode, times=1)
    error = await failure(kit, *adapter, streamed)
    assert error.kind == kind and error.retryable


@pytest.mark.parametrize("streamed", [False, True], ids=["plain", "stream"])
async def test_a_4xx_is_a_client_error_never_retried(
    kit: Kit, adapter: Any, streamed: bool
) -> None:
    kit.set("400", times=1)
    error = await failure(kit, *adapter, streamed)
    assert (error.kind, error.status, error.retryable) == ("client", 400, False)
    assert "bad parameter" in str(error)  # the provider's own message is kept


async def test_a_stream_cut_half_way_is_a_connection_error(kit: Kit, adapter: Any) -> None:
    kit.set("break_stream", times=1)
    error = await failure(kit, *adapter, True)
    assert error.kind == "connection" and error.retryable


async def test_an_error_event_mid_stream_is_raised(kit: Kit, adapter: Any) -> None:
    mode = kit.standin.stream_error_mode
    if mode is None:
        pytest.skip(f"{kit.kind}: its stand-in sends no error event mid-stream")
    kit.set(mode, times=1)
    error = await failure(kit, *adapter, True)
    assert error.retryable


async def test_the_deployment_timeout_overrides_the_providers(kit: Kit) -> None:
    kit.set("slow", times=2, delay_s=1.5)
    provider, dep = kit.adapter(provider_timeout_s=10, deployment_timeout_s=0.3)
    try:
        # A timeout at all proves the deployment's 0.3 s: the provider's own is 10 s, and
        # the stand-in answers after 1.5 s. (No wall-clock assertion: a busy machine.)
        error = await failure(kit, provider, dep, False)
        assert error.kind == "timeout" and error.retryable
    finally:
        await provider.close()
    # The other way round: a patient deployment of an impatient provider waits.
    provider, dep = kit.adapter(provider_timeout_s=0.3, deployment_timeout_s=10)
    try:
        body = await provider.complete(dep, chat("still there"))
        assert completion_text(body) == "echo: still there"
    finally:
        await provider.close()


async def test_the_key_never_reaches_errors_or_logs(
    kit: Kit, adapter: Any, caplog: pytest.LogCaptureFixture
) -> None:
    mode = kit.standin.echo_mode
    if mode is None:
        pytest.skip(f"{kit.kind}: its stand-in never echoes the credential")
    caplog.set_level(logging.DEBUG)
    kit.set(mode, times=2)
    for streamed in (False, True):
        error = await failure(kit, *adapter, streamed)
        assert error.kind == "client" and not error.retryable
        assert "invalid api key" in str(error) and "[redacted]" in str(error)
    secret = kit.standin.secret
    assert secret and secret not in caplog.text
    assert all(secret not in str(r.args) for r in caplog.records)
