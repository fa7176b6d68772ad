"""Anthropic's answers as OpenAI bodies: a message as a ``chat.completion``, streamed events
as ``chat.completion.chunk`` bodies.

``message_start`` opens the answer (its id, model and input tokens); each content block is a
text or a tool call (``input_json_delta`` carries the arguments piece by piece, as OpenAI's
tool-call deltas do); ``message_delta`` gives the stop reason and the output tokens;
``message_stop`` closes it with a usage chunk. ``ping`` is ignored, ``error`` raised."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from outrigger.llm.anthropic_request import JSON_TOOL
from outrigger.llm.http import HttpProvider
from outrigger.llm.openai_shape import assistant_message, chunk, completion, tool_call
from outrigger.llm.types import ErrorKind, ProviderError, Usage

#: Anthropic's error types (an ``error`` event mid-stream) as ProviderError kinds.
ERROR_KINDS: dict[str, ErrorKind] = {
    "rate_limit_error": "rate_limited",
    "overloaded_error": "server",
    "api_error": "server",
    "timeout_error": "timeout",
    "invalid_request_error": "client",
    "request_too_large": "client",
}
TEXT = "text"


#: Anthropic's ``stop_reason`` as OpenAI's ``finish_reason``.
FINISH = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "pause_turn": "stop",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "tool_use": "tool_calls",
    "refusal": "content_filter",
}


def anthropic_usage(usage: dict[str, Any]) -> Usage:
    """OpenAI's ``prompt_tokens`` count every input token; Anthropic's ``input_tokens``
    leave out the tokens written to or read from its prompt cache, so they are added."""
    prompt = sum(
        int(usage.get(k) or 0)
        for k in ("input_tokens", "cache_creation_input_tokens", "cache_read_input_tokens")
    )
    return Usage(prompt, int(usage.get("output_tokens") or 0))


def anthropic_completion(answer: dict[str, Any], model: str) -> dict[str, Any]:
    texts: list[str] = []
    calls: list[dict[str, Any]] = []
    finish = FINISH.get(str(answer.get("stop_reason")), "stop")
    for block in answer.get("content") or []:
        if block.get("type") == "text":
            texts.append(str(block.get("text", "")))
        elif block.get("type") == "tool_use" and block.get("name") == JSON_TOOL:
            texts.append(json.dumps(block.get("input")))  # JSON mode: the forced tool's input
            finish = "stop"
        elif block.get("type") == "tool_use":
            calls.append(
                tool_call(str(block.get("id")), str(block.get("name")), block.get("input"))
            )
    message = assistant_message("".join(texts), calls)
    usage = anthropic_usage(answer.get("usage") or {})
    return completion(
        str(answer.get("id", "")), answer.get("model") or model, message, finish, usage
    )


class AnthropicChunks:
    """The state of one stream: which content block is which tool call, and the usage."""

    def __init__(self, http: HttpProvider, model: str) -> None:
        self._http = http
        self.model = model
        self.call_id = ""
        self.done = False
        self._usage: dict[str, Any] = {}
        #: content block index -> OpenAI tool-call index, or TEXT (text and JSON mode)
        self._blocks: dict[int, int | str] = {}
        self._tools = 0
        self._json_mode = False

    def translate(self, event: dict[str, Any]) -> Iterator[dict[str, Any]]:
        kind = event.get("type")
        if kind == "message_start":
            message = event.get("message") or {}
            self.call_id = str(message.get("id", ""))
            self.model = message.get("model") or self.model
            self._usage.update(message.get("usage") or {})
            yield self._chunk({"role": "assistant", "content": ""})
        elif kind == "content_block_start":
            yield from self._block_start(
                int(event.get("index", 0)), event.get("content_block") or {}
            )
        elif kind == "content_block_delta":
            yield from self._block_delta(int(event.get("index", 0)), event.get("delta") or {})
        elif kind == "message_delta":
            self._usage.update(
                {k: v for k, v in (event.get("usage") or {}).items() if v is not None}
            )
            reason = (event.get("delta") or {}).get("stop_reason")
            finish = "stop" if self._json_mode else FINISH.get(str(reason), "stop")
            yield self._chunk({}, finish)
        elif kind == "message_stop":
            self.done = True
            yield chunk(self.call_id, self.model, usage=anthropic_usage(self._usage))
        elif kind == "error":
            error = event.get("error") or {}
            text = self._http.message(f"failed mid-stream: {error.get('message', error)}")
            raise ProviderError(ERROR_KINDS.get(str(error.get("type")), "server"), text)

    def _block_start(self, index: int, block: dict[str, Any]) -> Iterator[dict[str, Any]]:
        if block.get("type") == "tool_use" and block.get("name") == JSON_TOOL:
            self._blocks[index] = TEXT
            self._json_mode = True
        elif block.get("type") == "tool_use":
            self._blocks[index] = self._tools
            call = {"id": block.get("id"), "type": "function"}
            function = {"name": block.get("name"), "arguments": ""}
            yield self._chunk(
                {"tool_calls": [{"index": self._tools, **call, "function": function}]}
            )
            self._tools += 1
        elif block.get("type") == "text":
            self._blocks[index] = TEXT
            if block.get("text"):
                yield self._chunk({"content": block["text"]})

    def _block_delta(self, index: int, delta: dict[str, Any]) -> Iterator[dict[str, Any]]:
        target = self._blocks.get(index)
        if delta.get("type") == "text_delta" and target == TEXT:
            yield self._chunk({"content": delta.get("text", "")})
        elif delta.get("type") == "input_json_delta" and target == TEXT:
            yield self._chunk({"content": delta.get("partial_json", "")})
        elif delta.get("type") == "input_json_delta" and isinstance(target, int):
            arguments = {"arguments": delta.get("partial_json", "")}
            yield self._chunk({"tool_calls": [{"index": target, "function": arguments}]})
        # thinking, signature and citation deltas have no OpenAI counterpart

    def _chunk(self, delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        return chunk(self.call_id, self.model, delta, finish)
