"""The Bedrock adapter against a local stand-in of Bedrock Runtime (tests/upstreams/bedrock.py).

The AWS SDK runs for real: it signs with fake keys from the environment, serialises the
Converse request, and parses the JSON answers and the binary event stream; only the
endpoint is ours."""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from outrigger.config.llm import DeploymentSettings, LlmSettings, ProviderSettings
from outrigger.llm.bedrock import BedrockConverse
from outrigger.llm.factory import build_providers
from outrigger.llm.types import ChatRequest, ProviderError
from tests.upstreams.bedrock import (
    ACCESS_KEY,
    SECRET_KEY,
    BedrockThread,
    aws_test_env,
    provider_config,
)

MODEL = "anthropic.claude-3-haiku-20240307-v1:0"  # a real id: the ':' is escaped in the path
TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_balance",
            "description": "The balance of an account",
            "parameters": {
                "type": "object",
                "properties": {"account": {"type": "string"}},
                "required": ["account"],
            },
        },
    }
]


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    aws_test_env(monkeypatch, tmp_path)


@pytest.fixture
def standin() -> Iterator[BedrockThread]:
    up = BedrockThread("eu-west-1").start()
    yield up
    up.stop()


def adapter(standin: BedrockThread, name: str = "bedrock-eu", **extra: Any) -> BedrockConverse:
    return BedrockConverse(name, ProviderSettings(**provider_config(standin, **extra)))


def deployment(provider: str = "bedrock-eu", **extra: Any) -> DeploymentSettings:
    return DeploymentSettings(provider=provider, model=MODEL, **extra)


def ask(text: str, **params: Any) -> ChatRequest:
    return ChatRequest("chat-default", [{"role": "user", "content": text}], params)


async def collect(
    provider: BedrockConverse, request: ChatRequest, dep: DeploymentSettings | None = None
) -> list[dict[str, Any]]:
    return [chunk async for chunk in provider.stream(dep or deployment(), request)]


async def test_plain_answer_with_system_parameters_and_the_signed_scope(
    aws: None, standin: BedrockThread
) -> None:
    provider = adapter(standin)
    request = ChatRequest(
        "chat-default",
        [
            {"role": "system", "content": "You are terse."},
            {"role": "user", "content": "what is my balance"},
        ],
        {"max_tokens": 50, "temperature": 0.2, "top_p": 0.9, "stop": ["END"], "seed": 7},
    )
    body = await provider.complete(deployment(), request)
    await provider.close()

    assert body["object"] == "chat.completion"
    assert body["model"] == MODEL
    assert body["choices"][0]["message"] == {
        "role": "assistant",
        "content": "echo: what is my balance",
    }
    assert body["choices"][0]["finish_reason"] == "stop"
    assert body["usage"] == {"prompt_tokens": 7, "completion_tokens": 5, "total_tokens": 12}
    seen = standin.bedrock.last
    assert seen["path"] == f"/model/{MODEL.replace(':', '%3A')}/converse"
    assert seen["model"] == MODEL
    assert seen["scope"]["key"] == ACCESS_KEY
    assert (seen["scope"]["region"], seen["scope"]["service"]) == ("eu-west-1", "bedrock")
    assert seen["body"]["system"] == [{"text": "You are terse."}]
    assert seen["body"]["messages"] == [
        {"role": "user", "content": [{"text": "what is my balance"}]}
    ]
    assert seen["body"]["inferenceConfig"] == {
        "maxTokens": 50,
        "temperature": 0.2,
        "topP": 0.9,
        "stopSequences": ["END"],
    }


async def test_a_tool_call_and_its_result_round_trip(aws: None, standin: BedrockThread) -> None:
    provider = adapter(standin)
    question = {"role": "user", "content": 'CALL_TOOL\nARGS:{"account": "ACC-1"}'}
    first = await provider.complete(
        deployment(), ChatRequest("chat-default", [question], {"tools": TOOLS})
    )
    sent = standin.bedrock.last["body"]["toolConfig"]
    assert sent == {
        "tools": [
            {
                "toolSpec": {
                    "name": "get_balance",
                    "description": "The balance of an account",
                    "inputSchema": {"json": TOOLS[0]["function"]["parameters"]},
                }
            }
        ]
    }
    choice = first["choices"][0]
    assert choice["finish_reason"] == "tool_calls"
    [call] = choice["message"]["tool_calls"]
    assert call["type"] == "function" and call["function"]["name"] == "get_balance"
    assert json.loads(call["function"]["arguments"]) == {"account": "ACC-1"}

    # Two results of two parallel calls: one user turn with both, as Converse wants.
    second_call = {**call, "id": "tooluse_second"}
    history = [
        question,
        {"role": "assistant", "content": None, "tool_calls": [call, second_call]},
        {"role": "tool", "tool_call_id": call["id"], "content": "1,024.00 EUR"},
        {"role": "tool", "tool_call_id": "tooluse_second", "content": "0.00 EUR"},
    ]
    second = await provider.complete(
        deployment(), ChatRequest("chat-default", history, {"tools": TOOLS})
    )
    await provider.close()

    assert second["choices"][0]["message"]["content"] == "tool said: 1,024.00 EUR | 0.00 EUR"
    assert second["choices"][0]["finish_reason"] == "stop"
    turns = standin.bedrock.last["body"]["messages"]
    assert [t["role"] for t in turns] == ["user", "assistant", "user"]
    assert turns[1]["content"][0] == {
        "toolUse": {"toolUseId": call["id"], "name": "get_balance", "input": {"account": "ACC-1"}}
    }
    assert turns[2]["content"] == [
        {"toolResult": {"toolUseId": call["id"], "content": [{"text": "1,024.00 EUR"}]}},
        {"toolResult": {"toolUseId": "tooluse_second", "content": [{"text": "0.00 EUR"}]}},
    ]


@pytest.mark.parametrize(
    ("choice", "sent"),
    [
        ("auto", {"auto": {}}),
        ("required", {"any": {}}),
        (
            {"type": "function", "function": {"name": "get_balance"}},
            {"tool": {"name": "get_balance"}},
        ),
        ("none", None),
    ],
)
async def test_tool_choice_is_translated(
    aws: None, standin: BedrockThread, choice: Any, sent: dict[str, Any] | None
) -> None:
    provider = adapter(standin)
    await provider.complete(deployment(), ask("hello", tools=TOOLS, tool_choice=choice))
    await provider.close()
    config = standin.bedrock.last["body"].get("toolConfig")
    if sent is None:
        assert config is None  # no tools in the conversation: Converse is sent none
    else:
        assert config["toolChoice"] == sent


SCHEMA = {
    "type": "object",
    "properties": {"score": {"type": "number"}},
    "required": ["score"],
}


async def test_json_mode_is_a_forced_tool_with_the_schema(
    aws: None, standin: BedrockThread
) -> None:
    provider = adapter(standin)
    fmt = {"type": "json_schema", "json_schema": {"name": "risk", "schema": SCHEMA}}
    body = await provider.complete(
        deployment(), ask('rate this\nARGS:{"score": 0.25}', response_format=fmt)
    )
    await provider.close()
    assert json.loads(body["choices"][0]["message"]["content"]) == {"score": 0.25}
    assert body["choices"][0]["finish_reason"] == "stop"
    assert "tool_calls" not in body["choices"][0]["message"]
    config = standin.bedrock.last["body"]["toolConfig"]
    assert config["toolChoice"] == {"tool": {"name": "json_answer"}}
    assert config["tools"] == [
        {
            "toolSpec": {
                "name": "json_answer",
                "description": "Give the answer as this tool's input.",
                "inputSchema": {"json": SCHEMA},
            }
        }
    ]


async def test_json_mode_beside_the_callers_tools_is_an_instruction(
    aws: None, standin: BedrockThread
) -> None:
    provider = adapter(standin)
    fmt = {"type": "json_schema", "json_schema": {"name": "risk", "schema": SCHEMA}}
    await provider.complete(deployment(), ask("rate this", tools=TOOLS, response_format=fmt))
    await provider.close()
    sent = standin.bedrock.last["body"]
    assert [t["toolSpec"]["name"] for t in sent["toolConfig"]["tools"]] == ["get_balance"]
    [instruction] = sent["system"]
    assert instruction["text"].startswith("Answer with one JSON value only")
    assert json.dumps(SCHEMA) in instruction["text"]


async def test_json_object_mode_asks_for_any_object(aws: None, standin: BedrockThread) -> None:
    provider = adapter(standin)
    body = await provider.complete(
        deployment(), ask('ARGS:{"ok": true}', response_format={"type": "json_object"})
    )
    await provider.close()
    assert json.loads(body["choices"][0]["message"]["content"]) == {"ok": True}
    spec = standin.bedrock.last["body"]["toolConfig"]["tools"][0]["toolSpec"]
    assert spec["inputSchema"] == {"json": {"type": "object"}}


async def test_an_inline_image_is_sent_as_bytes(aws: None, standin: BedrockThread) -> None:
    provider = adapter(standin)
    png = b"\x89PNG\r\n\x1a\nfake-image-bytes"
    url = "data:image/png;base64," + base64.b64encode(png).decode()
    content = [
        {"type": "text", "text": "what is this"},
        {"type": "image_url", "image_url": {"url": url}},
    ]
    await provider.complete(
        deployment(), ChatRequest("chat-default", [{"role": "user", "content": content}])
    )
    await provider.close()
    blocks = standin.bedrock.last["body"]["messages"][0]["content"]
    assert blocks[0] == {"text": "what is this"}
    # The SDK base64-encodes blobs on the JSON wire.
    assert blocks[1] == {
        "image": {"format": "png", "source": {"bytes": base64.b64encode(png).decode()}}
    }


@pytest.mark.parametrize(
    ("params", "messages", "words"),
    [
        (
            {},
            [
                {
                    "role": "user",
                    "content": [{"type": "image_url", "image_url": {"url": "https://x/a.png"}}],
                }
            ],
            "data: URLs",
        ),
        (
            {},
            [{"role": "user", "content": [{"type": "input_audio", "input_audio": {}}]}],
            "input_audio",
        ),
        ({"n": 2}, [{"role": "user", "content": "x"}], "n > 1"),
        ({}, [{"role": "function", "content": "x"}], "role"),
        ({}, [{"role": "tool", "content": "x"}], "tool_call_id"),
    ],
)
async def test_what_converse_cannot_carry_is_a_client_error_before_any_call(
    aws: None, standin: BedrockThread, params: dict[str, Any], messages: list[Any], words: str
) -> None:
    provider = adapter(standin)
    with pytest.raises(ProviderError) as caught:
        await provider.complete(deployment(), ChatRequest("chat-default", messages, params))
    await provider.close()
    assert caught.value.kind == "client" and words in str(caught.value)
    assert standin.bedrock.requests == 0


@pytest.mark.parametrize(
    ("mode", "kind", "status"),
    [
        ("403", "client", 403),  # AccessDeniedException: no access to the model
        ("404", "client", 404),  # ResourceNotFoundException
        ("429", "rate_limited", 429),
        ("503", "server", 503),
    ],
)
async def test_aws_errors_are_named_and_the_sdk_never_retries(
    aws: None, standin: BedrockThread, mode: str, kind: str, status: int
) -> None:
    provider = adapter(standin)
    standin.set(mode, times=5)
    with pytest.raises(ProviderError) as caught:
        await provider.complete(deployment(), ask("hello"))
    await provider.close()
    assert (caught.value.kind, caught.value.status) == (kind, status)
    assert "Exception" in str(caught.value)  # AWS's error code is named
    assert standin.bedrock.requests == 1  # one attempt: the proxy decides on retries


@pytest.mark.parametrize(
    ("mode", "kind"), [("stream_throttle", "rate_limited"), ("truncate", "connection")]
)
async def test_a_stream_failing_after_its_first_events(
    aws: None, standin: BedrockThread, mode: str, kind: str
) -> None:
    """A throttlingException event mid-stream, or a stream that ends cleanly without its
    messageStop and metadata events."""
    provider = adapter(standin)
    standin.set(mode, times=1)
    got: list[dict[str, Any]] = []
    with pytest.raises(ProviderError) as caught:
        async for chunk in provider.stream(deployment(), ask("one two three four five six")):
            got.append(chunk)
    await provider.close()
    assert caught.value.kind == kind
    assert got and not any("usage" in c for c in got)


async def test_a_stream_times_out_between_events(aws: None, standin: BedrockThread) -> None:
    """The deployment's timeout is the SDK's read timeout: it bounds each wait for an event."""
    provider = adapter(standin, timeout_s=5)
    standin.set("slow_stream", times=1, delay_s=0.6)
    with pytest.raises(ProviderError) as caught:  # the provider's own 5 s would not fire
        await collect(provider, ask("hello"), deployment(timeout_s=0.3))
    assert caught.value.kind == "timeout"
    standin.set("slow_stream", times=1, delay_s=0.1)  # slower in total than 0.3 s, never per event
    chunks = await collect(provider, ask("one two three"), deployment(timeout_s=0.3))
    await provider.close()
    assert chunks[-1]["usage"]["completion_tokens"] == 4


async def test_an_unreachable_endpoint_is_a_connection_error(aws: None) -> None:
    import socket

    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    settings = ProviderSettings(
        kind="bedrock", aws_region="eu-west-1", base_url=f"http://127.0.0.1:{port}"
    )
    provider = BedrockConverse("bedrock-eu", settings)
    with pytest.raises(ProviderError) as caught:
        await provider.complete(deployment(), ask("hello"))
    await provider.close()
    assert caught.value.kind == "connection"


async def test_each_provider_signs_for_its_own_region(aws: None) -> None:
    """Data residency: a provider per AWS region, and each request scoped to it."""
    eu, india = BedrockThread("eu-west-1").start(), BedrockThread("ap-south-1").start()
    try:
        settings = LlmSettings(
            providers={
                "bedrock-eu": ProviderSettings(**provider_config(eu)),
                "bedrock-in": ProviderSettings(**provider_config(india)),
            },
            deployments={
                "claude-eu": deployment("bedrock-eu", region="eu"),
                "claude-in": deployment("bedrock-in", region="in"),
            },
            aliases={"chat-default": ["claude-eu", "claude-in"]},
        )
        providers = build_providers(settings)
        for name in ("claude-eu", "claude-in"):
            dep = settings.deployments[name]
            await providers[dep.provider].complete(dep, ask(f"hello from {name}"))
        for provider in providers.values():
            await provider.close()
        assert eu.bedrock.last["scope"]["region"] == "eu-west-1"
        assert india.bedrock.last["scope"]["region"] == "ap-south-1"
        assert (eu.bedrock.requests, india.bedrock.requests) == (1, 1)

        # A provider whose region is not the endpoint's is refused, as AWS refuses it.
        wrong = BedrockConverse(
            "bedrock-wrong", ProviderSettings(**provider_config(india, aws_region="eu-west-1"))
        )
        with pytest.raises(ProviderError) as caught:
            await wrong.complete(deployment(), ask("hello"))
        await wrong.close()
        assert caught.value.kind == "client" and caught.value.status == 403
        assert "signature or credentials were refused" in str(caught.value)
    finally:
        eu.stop()
        india.stop()


async def test_a_named_profile_from_a_mounted_credentials_file(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, standin: BedrockThread
) -> None:
    aws_test_env(monkeypatch, tmp_path, keys=False)
    (tmp_path / "aws-credentials").write_text(
        "[bedrock-prod]\naws_access_key_id = AKIAPROFILEKEY000001\n"
        "aws_secret_access_key = profile-secret\n",
        encoding="utf-8",
    )
    provider = adapter(standin, aws_profile="bedrock-prod")
    await provider.complete(deployment(), ask("hello"))
    await provider.close()
    assert standin.bedrock.last["scope"]["key"] == "AKIAPROFILEKEY000001"


async def test_missing_credentials_or_profile_make_the_deployment_unavailable(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, standin: BedrockThread
) -> None:
    aws_test_env(monkeypatch, tmp_path, keys=False)
    for extra in ({}, {"aws_profile": "no-such-profile"}):
        provider = adapter(standin, **extra)
        with pytest.raises(ProviderError) as caught:
            await provider.complete(deployment(), ask("hello"))
        await provider.close()
        assert caught.value.kind == "unavailable", caught.value
    assert standin.bedrock.requests == 0


def test_an_api_key_is_refused_at_start_up(standin: BedrockThread) -> None:
    with pytest.raises(ValueError, match="AWS credentials"):
        BedrockConverse("bedrock-eu", ProviderSettings(**provider_config(standin)), "sk-key")


async def test_closing_a_stream_early_closes_the_http_response(
    aws: None, standin: BedrockThread
) -> None:
    provider = adapter(standin)
    standin.set("slow_stream", times=1, delay_s=0.05)
    stream = provider.stream(deployment(), ask(" ".join(["word"] * 40)))
    first = await anext(stream)
    assert first["choices"][0]["delta"]["role"] == "assistant"
    await stream.aclose()
    deadline = time.monotonic() + 3
    while not standin.bedrock.last.get("disconnected") and time.monotonic() < deadline:
        await asyncio.sleep(0.02)
    await provider.close()
    assert standin.bedrock.last.get("disconnected"), "the stand-in kept writing to the stream"


async def test_waiting_for_events_does_not_block_the_event_loop(
    aws: None, standin: BedrockThread
) -> None:
    provider = adapter(standin)
    # The SDK client is made on the first call; parsing the service model holds the GIL for
    # a moment (once per provider and timeout), which is not what is measured here.
    await provider.complete(deployment(), ask("warm up"))
    standin.set("slow_stream", times=1, delay_s=0.15)
    gaps: list[float] = []

    async def ticker() -> None:
        last = time.monotonic()
        while True:
            await asyncio.sleep(0.01)
            now = time.monotonic()
            gaps.append(now - last)
            last = now

    task = asyncio.create_task(ticker())
    chunks = await collect(provider, ask("a b c"))
    task.cancel()
    await provider.close()
    assert chunks[-1]["usage"]
    assert len(gaps) > 50 and max(gaps) < 0.1


async def test_a_closed_adapter_answers_unavailable(aws: None, standin: BedrockThread) -> None:
    provider = adapter(standin)
    await provider.complete(deployment(), ask("hello"))
    await provider.close()
    with pytest.raises(ProviderError) as caught:
        await provider.complete(deployment(), ask("hello"))
    assert caught.value.kind == "unavailable"


async def test_credentials_never_reach_logs_or_errors(
    aws: None, standin: BedrockThread, caplog: pytest.LogCaptureFixture
) -> None:
    provider = adapter(standin)
    errors: list[str] = []
    with caplog.at_level(logging.DEBUG):
        await provider.complete(deployment(), ask("hello"))
        await collect(provider, ask("hello"))
        for mode in ("429", "403", "500"):
            standin.set(mode, times=1)
            with pytest.raises(ProviderError) as caught:
                await provider.complete(deployment(), ask("hello"))
            errors.append(str(caught.value))
    await provider.close()
    logged = "\n".join(f"{r.name} {r.getMessage()}" for r in caplog.records)
    assert "bedrock" in logged  # the SDK's debug logging was captured
    # The secret key is never written anywhere, even by the SDK at DEBUG.
    assert SECRET_KEY not in logged
    assert all(SECRET_KEY not in e and ACCESS_KEY not in e for e in errors)
    # The access key id appears only in the SDK's own DEBUG records (the signed request's
    # Authorization header), never at INFO or above, never from Outrigger's loggers.
    for record in caplog.records:
        if ACCESS_KEY in record.getMessage():
            assert record.levelno == logging.DEBUG and not record.name.startswith("outrigger")


def test_the_openai_client_through_the_gateway_to_a_bedrock_deployment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, data_dir: Path
) -> None:
    from tests.gateway_server import GatewayServer, llm_settings
    from tests.integration.test_gateway_llm import client, new_key

    aws_test_env(monkeypatch, tmp_path)
    standin = BedrockThread("eu-west-1").start()
    llm = {
        "providers": {"bedrock-eu": provider_config(standin)},
        "deployments": {
            "claude-eu": {
                "provider": "bedrock-eu",
                "model": MODEL,
                "region": "eu",
                "input_price": 0.25,
                "output_price": 1.25,
            }
        },
        "aliases": {"chat-default": ["claude-eu"]},
    }
    gateway = GatewayServer(llm_settings(data_dir, {}, llm=llm)).start()
    try:
        openai_client = client(gateway, new_key(gateway))
        raw = openai_client.chat.completions.with_raw_response.create(
            model="chat-default", messages=[{"role": "user", "content": "what is my balance"}]
        )
        answer = raw.parse()
        assert raw.headers["x-outrigger-deployment"] == "claude-eu"
        assert answer.choices[0].message.content == "echo: what is my balance"
        assert answer.choices[0].finish_reason == "stop"
        assert answer.usage is not None and answer.usage.completion_tokens == 5

        stream = openai_client.chat.completions.create(
            model="chat-default",
            messages=[{"role": "user", "content": "one two three"}],
            stream=True,
        )
        chunks = list(stream)
        text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
        assert text == "echo: one two three"
        assert chunks[-1].usage is not None and chunks[-1].usage.prompt_tokens == 3
        assert standin.bedrock.last["path"].endswith("/converse-stream")
        assert standin.bedrock.last["scope"]["region"] == "eu-west-1"
    finally:
        gateway.stop()
        standin.stop()
