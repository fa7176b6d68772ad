"""OpenAI requests as Anthropic and Ollama bodies, and Anthropic's events as OpenAI chunks:
the translations the contract suite (tests/contract/test_provider_contract.py) cannot see
through the stand-ins' answers alone."""

from __future__ import annotations

import json
from typing import Any

import pytest

from outrigger.config.llm import ProviderSettings
from outrigger.llm.anthropic_answer import AnthropicChunks, anthropic_completion
from outrigger.llm.anthropic_request import DEFAULT_MAX_TOKENS, JSON_TOOL, anthropic_body
from outrigger.llm.http import HttpProvider
from outrigger.llm.ollama_request import ollama_body
from outrigger.llm.types import ChatRequest, ProviderError
from tests.upstreams.anthropic import check_body

CALL = {"id": "call_1", "type": "function", "function": {"name": "f", "arguments": '{"a": 1}'}}
TOOL = {"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}
CONVERSATION = [
    {"role": "system", "content": "Be brief."},
    {"role": "developer", "content": [{"type": "text", "text": "Use metric units."}]},
    {"role": "user", "content": "hi"},
    {"role": "assistant", "content": None, "tool_calls": [CALL]},
    {"role": "tool", "tool_call_id": "call_1", "content": "42"},
    {"role": "user", "content": "and now?"},
]


def request(messages: list[dict[str, Any]] | None = None, **params: Any) -> ChatRequest:
    return ChatRequest("m", messages or [{"role": "user", "content": "hi"}], params)


def test_anthropic_body_hoists_system_and_merges_tool_results_into_the_user_turn() -> None:
    body = anthropic_body("p", "claude", request(CONVERSATION, max_tokens=5), stream=False)
    assert body["system"] == "Be brief.\n\nUse metric units."
    assert body["max_tokens"] == 5
    assert [m["role"] for m in body["messages"]] == ["user", "assistant", "user"]
    assert body["messages"][1]["content"] == [
        {"type": "tool_use", "id": "call_1", "name": "f", "input": {"a": 1}}
    ]
    assert body["messages"][2]["content"] == [
        {"type": "tool_result", "tool_use_id": "call_1", "content": "42"},
        {"type": "text", "text": "and now?"},
    ]
    assert check_body(body) is None  # what the stand-in (and the API) accepts


def test_anthropic_body_defaults_max_tokens_and_maps_parameters() -> None:
    params = {
        "stop": "END",
        "temperature": 0.2,
        "seed": 7,
        "tools": [TOOL],
        "tool_choice": "required",
    }
    body = anthropic_body("p", "claude", request(**params), stream=True)
    assert body["max_tokens"] == DEFAULT_MAX_TOKENS
    assert body["stop_sequences"] == ["END"] and body["temperature"] == 0.2
    assert "seed" not in body and body["stream"] is True
    assert body["tools"] == [{"name": "f", "input_schema": {"type": "object"}}]
    assert body["tool_choice"] == {"type": "any"}


def test_anthropic_json_mode_is_a_forced_tool_or_an_instruction_beside_tools() -> None:
    forced = anthropic_body(
        "p", "c", request(response_format={"type": "json_object"}), stream=False
    )
    assert forced["tool_choice"] == {"type": "tool", "name": JSON_TOOL}
    assert forced["tools"][0]["input_schema"] == {"type": "object"}
    beside = anthropic_body(
        "p", "c", request(response_format={"type": "json_object"}, tools=[TOOL]), stream=False
    )
    assert [t["name"] for t in beside["tools"]] == ["f"] and "JSON" in beside["system"]


def test_anthropic_refuses_what_it_cannot_express() -> None:
    with pytest.raises(ProviderError) as caught:
        anthropic_body("p", "c", request(n=2), stream=False)
    assert caught.value.kind == "client"
    audio = [{"role": "user", "content": [{"type": "input_audio", "input_audio": {}}]}]
    with pytest.raises(ProviderError):
        anthropic_body("p", "c", request(audio), stream=False)


def test_anthropic_answer_maps_stop_reasons_usage_and_tool_use() -> None:
    answer = {
        "id": "msg_1",
        "model": "claude",
        "content": [
            {"type": "text", "text": "Let me look."},
            {"type": "tool_use", "id": "t1", "name": "f", "input": {"a": 1}},
        ],
        "stop_reason": "tool_use",
        "usage": {"input_tokens": 10, "cache_read_input_tokens": 90, "output_tokens": 3},
    }
    body = anthropic_completion(answer, "claude")
    choice = body["choices"][0]
    assert choice["finish_reason"] == "tool_calls"
    assert choice["message"]["content"] == "Let me look."
    assert choice["message"]["tool_calls"][0]["function"] == {"name": "f", "arguments": '{"a": 1}'}
    assert body["usage"] == {"prompt_tokens": 100, "completion_tokens": 3, "total_tokens": 103}
    truncated = anthropic_completion({**answer, "content": [], "stop_reason": "max_tokens"}, "c")
    assert truncated["choices"][0]["finish_reason"] == "length"


def events_to_chunks(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    http = HttpProvider("p", ProviderSettings(kind="anthropic", base_url="http://x"), {}, "sk-1")
    chunks = AnthropicChunks(http, "claude")
    return [c for e in events for c in chunks.translate(e)]


def test_anthropic_events_become_chunks_with_tool_call_deltas_and_usage() -> None:
    events = [
        {
            "type": "message_start",
            "message": {
                "id": "msg_1",
                "model": "claude",
                "usage": {"input_tokens": 7, "output_tokens": 1},
            },
        },
        {"type": "ping"},
        {
            "type": "content_block_start",
            "index": 0,
            "content_block": {"type": "thinking", "thinking": ""},
        },
        {
            "type": "content_block_delta",
            "index": 0,
            "delta": {"type": "thinking_delta", "thinking": "hmm"},
        },
        {"type": "content_block_start", "index": 1, "content_block": {"type": "text", "text": ""}},
        {"type": "content_block_delta", "index": 1, "delta": {"type": "text_delta", "text": "Hi"}},
        {
            "type": "content_block_start",
            "index": 2,
            "content_block": {"type": "tool_use", "id": "t1", "name": "f", "input": {}},
        },
        {
            "type": "content_block_delta",
            "index": 2,
            "delta": {"type": "input_json_delta", "partial_json": '{"a"'},
        },
        {
            "type": "content_block_delta",
            "index": 2,
            "delta": {"type": "input_json_delta", "partial_json": ": 1}"},
        },
        {
            "type": "message_delta",
            "delta": {"stop_reason": "tool_use"},
            "usage": {"output_tokens": 12},
        },
        {"type": "message_stop"},
    ]
    chunks = events_to_chunks(events)
    deltas = [c["choices"][0]["delta"] for c in chunks if c["choices"]]
    assert deltas[0] == {"role": "assistant", "content": ""}
    assert "".join(d.get("content", "") for d in deltas) == "Hi"  # no thinking text
    calls = [t for d in deltas for t in d.get("tool_calls", [])]
    assert calls[0]["id"] == "t1" and calls[0]["function"]["name"] == "f"
    assert json.loads("".join(t["function"]["arguments"] for t in calls)) == {"a": 1}
    assert chunks[-2]["choices"][0]["finish_reason"] == "tool_calls"
    assert chunks[-1]["usage"] == {"prompt_tokens": 7, "completion_tokens": 12, "total_tokens": 19}


@pytest.mark.parametrize(
    ("error_type", "kind"),
    [
        ("overloaded_error", "server"),
        ("rate_limit_error", "rate_limited"),
        ("invalid_request_error", "client"),
    ],
)
def test_an_anthropic_error_event_is_raised_by_its_kind(error_type: str, kind: str) -> None:
    with pytest.raises(ProviderError) as caught:
        events_to_chunks([{"type": "error", "error": {"type": error_type, "message": "echo sk-1"}}])
    assert caught.value.kind == kind and "sk-1" not in str(caught.value)


def test_ollama_body_puts_sampling_in_options_and_names_tool_results() -> None:
    params = {
        "max_completion_tokens": 9,
        "temperature": 0.1,
        "stop": ["x"],
        "seed": 3,
        "logit_bias": {},
    }
    body = ollama_body("p", "llama3", request(CONVERSATION, tools=[TOOL], **params), stream=False)
    assert body["stream"] is False
    assert body["options"] == {"temperature": 0.1, "seed": 3, "num_predict": 9, "stop": ["x"]}
    assert [m["role"] for m in body["messages"]] == [
        "system",
        "system",
        "user",
        "assistant",
        "tool",
        "user",
    ]
    assert body["messages"][1]["content"] == "Use metric units."
    assert body["messages"][3]["tool_calls"] == [{"function": {"name": "f", "arguments": {"a": 1}}}]
    assert body["messages"][4] == {"role": "tool", "content": "42", "tool_name": "f"}
    assert body["tools"] == [TOOL]


def test_ollama_json_mode_images_and_tool_choice_none() -> None:
    assert (
        ollama_body("p", "m", request(response_format={"type": "json_object"}), stream=True)[
            "format"
        ]
        == "json"
    )
    schema = {"type": "object", "properties": {"a": {"type": "number"}}}
    spec = {"type": "json_schema", "json_schema": {"name": "x", "schema": schema}}
    assert ollama_body("p", "m", request(response_format=spec), stream=True)["format"] == schema
    image = [
        {"type": "text", "text": "what is this"},
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}},
    ]
    body = ollama_body(
        "p",
        "m",
        request([{"role": "user", "content": image}], tools=[TOOL], tool_choice="none"),
        stream=True,
    )
    assert body["messages"][0] == {"role": "user", "content": "what is this", "images": ["AAAA"]}
    assert "tools" not in body
    remote = [
        {
            "role": "user",
            "content": [{"type": "image_url", "image_url": {"url": "https://x/y.png"}}],
        }
    ]
    with pytest.raises(ProviderError):
        ollama_body("p", "m", request(remote), stream=True)
