"""Bedrock's Converse answers as OpenAI bodies: a ``chat.completion`` from ``Converse``, and
``chat.completion.chunk`` bodies from ``ConverseStream``'s events.

In JSON mode (see ``bedrock_request``) the forced tool's input is the answer: it is returned
as the message's text (streamed as text deltas) and the answer finishes with ``stop``, not
``tool_calls``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from outrigger.llm import openai_shape
from outrigger.llm.bedrock_request import JSON_TOOL
from outrigger.llm.types import Usage

FINISH = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "tool_use": "tool_calls",
    "guardrail_intervened": "content_filter",
    "content_filtered": "content_filter",
}


def finish_reason(stop_reason: str | None, *, json_mode: bool = False) -> str:
    reason = FINISH.get(stop_reason or "", "stop")
    return "stop" if json_mode and reason == "tool_calls" else reason


def usage(tokens: dict[str, Any] | None) -> Usage:
    return Usage(
        int((tokens or {}).get("inputTokens") or 0), int((tokens or {}).get("outputTokens") or 0)
    )


def completion_id(answer: dict[str, Any]) -> str:
    """``chatcmpl-`` and Bedrock's request id (what AWS support asks for), else a random id."""
    request_id = (answer.get("ResponseMetadata") or {}).get("RequestId")
    return f"chatcmpl-{request_id}" if request_id else openai_shape.new_id("chatcmpl-")


def completion(model: str, answer: dict[str, Any], *, json_mode: bool) -> dict[str, Any]:
    """The ``chat.completion`` body of a ``Converse`` answer."""
    blocks = ((answer.get("output") or {}).get("message") or {}).get("content") or []
    texts: list[str] = []
    calls: list[dict[str, Any]] = []
    for block in blocks:
        if "text" in block:
            texts.append(str(block["text"]))
        elif "toolUse" in block:
            use = block["toolUse"]
            if json_mode and use.get("name") == JSON_TOOL:
                texts.append(json.dumps(use.get("input"), ensure_ascii=False))
            else:
                calls.append(
                    openai_shape.tool_call(use.get("toolUseId"), use.get("name"), use.get("input"))
                )
    return openai_shape.completion(
        completion_id(answer),
        model,
        openai_shape.assistant_message("".join(texts), calls),
        finish_reason(answer.get("stopReason"), json_mode=json_mode),
        usage(answer.get("usage")),
    )


@dataclass
class ChunkTranslator:
    """``ConverseStream`` events in, OpenAI chunks out, one event at a time.

    ``done`` turns true at ``metadata``, the last event Bedrock sends (it carries the usage);
    a stream that ends before it was cut off."""

    id: str
    model: str
    json_mode: bool = False
    done: bool = False
    #: contentBlockIndex -> OpenAI tool_calls index (None: the JSON-mode tool, sent as text)
    _tools: dict[int, int | None] = field(default_factory=dict)

    def chunks(self, event: dict[str, Any]) -> list[dict[str, Any]]:
        if "messageStart" in event:
            return [self._chunk({"role": "assistant", "content": ""})]
        if "contentBlockStart" in event:
            return self._block_start(event["contentBlockStart"])
        if "contentBlockDelta" in event:
            return self._block_delta(event["contentBlockDelta"])
        if "messageStop" in event:
            reason = event["messageStop"].get("stopReason")
            return [self._chunk({}, finish_reason(reason, json_mode=self.json_mode))]
        if "metadata" in event:
            self.done = True
            tokens = usage(event["metadata"].get("usage"))
            return [openai_shape.chunk(self.id, self.model, usage=tokens)]
        return []  # contentBlockStop, and events this adapter does not translate

    def _block_start(self, event: dict[str, Any]) -> list[dict[str, Any]]:
        use = (event.get("start") or {}).get("toolUse")
        if use is None:
            return []
        block = int(event.get("contentBlockIndex") or 0)
        if self.json_mode and use.get("name") == JSON_TOOL:
            self._tools[block] = None
            return []
        index = sum(1 for v in self._tools.values() if v is not None)
        self._tools[block] = index
        call = {
            "index": index,
            "id": use.get("toolUseId"),
            "type": "function",
            "function": {"name": use.get("name"), "arguments": ""},
        }
        return [self._chunk({"tool_calls": [call]})]

    def _block_delta(self, event: dict[str, Any]) -> list[dict[str, Any]]:
        delta = event.get("delta") or {}
        if "text" in delta:
            return [self._chunk({"content": str(delta["text"])})]
        if "toolUse" in delta:
            piece = str((delta["toolUse"] or {}).get("input") or "")
            block = int(event.get("contentBlockIndex") or 0)
            if block not in self._tools:
                return []  # no contentBlockStart named this tool: nothing to attach it to
            index = self._tools[block]
            if index is None:  # the JSON-mode tool: its input is the answer
                return [self._chunk({"content": piece})]
            call = {"index": index, "function": {"arguments": piece}}
            return [self._chunk({"tool_calls": [call]})]
        return []  # reasoning and citations are not part of OpenAI's chunk

    def _chunk(self, delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        return openai_shape.chunk(self.id, self.model, delta, finish)
