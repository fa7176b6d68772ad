"""An OpenAI chat request as an Anthropic Messages API body.

* ``system`` (and ``developer``) messages become the top-level ``system`` text, in order.
* ``tool`` messages become ``tool_result`` blocks of a user turn; an assistant's
  ``tool_calls`` become ``tool_use`` blocks. Consecutive turns of one role are merged into
  one (tool results first), as the API wants user and assistant to alternate.
* ``max_tokens`` is required by Anthropic: the request's ``max_completion_tokens`` or
  ``max_tokens``, else ``DEFAULT_MAX_TOKENS``.
* JSON mode: with no ``tools`` in the request, ``response_format`` becomes one forced tool
  (``JSON_TOOL``) whose ``input_schema`` is the schema (``{"type": "object"}`` for
  ``json_object``); its input is handed back as the message text. With tools, or a schema
  whose root is not an object, it becomes an instruction appended to ``system``.
* Parameters with no Anthropic meaning (``seed``, penalties, ``logit_bias``, ``logprobs``
  ...) are dropped; ``n`` > 1 is refused.
"""

from __future__ import annotations

import json
from typing import Any

from outrigger.llm.openai_shape import (
    call_arguments,
    data_url,
    json_mode,
    max_tokens,
    refuse,
    stop_list,
)
from outrigger.llm.types import ChatRequest, content_text

DEFAULT_MAX_TOKENS = 4096
JSON_TOOL = "json_answer"
JSON_INSTRUCTION = "Answer with one JSON value only, no prose and no code fence."


def anthropic_body(
    provider: str, model: str, request: ChatRequest, *, stream: bool
) -> dict[str, Any]:
    if int(request.params.get("n") or 1) != 1:
        raise refuse(provider, "n > 1 is not supported by the Anthropic API")
    system, messages = _messages(provider, request.messages)
    body: dict[str, Any] = {
        "model": model,
        "max_tokens": max_tokens(request) or DEFAULT_MAX_TOKENS,
        "messages": messages,
    }
    for name in ("temperature", "top_p"):
        if request.params.get(name) is not None:
            body[name] = request.params[name]
    if stop := stop_list(request):
        body["stop_sequences"] = stop
    if tools := request.params.get("tools"):
        body["tools"] = [_tool(provider, t) for t in tools]
        choice = _tool_choice(request.params.get("tool_choice"))
        if request.params.get("parallel_tool_calls") is False:
            choice = {**(choice or {"type": "auto"}), "disable_parallel_tool_use": True}
        if choice is not None:
            body["tool_choice"] = choice
    system = _json_mode(request, body, system)
    if system:
        body["system"] = system
    if stream:
        body["stream"] = True
    return body


def _json_mode(request: ChatRequest, body: dict[str, Any], system: str) -> str:
    """Apply ``response_format`` to ``body``; the system text, perhaps with the instruction."""
    mode = json_mode(request)
    if mode is None:
        return system
    schema = mode[1] or {"type": "object"}
    if "tools" in body or schema.get("type") != "object":
        extra = JSON_INSTRUCTION
        if mode[0] == "json_schema":
            extra += f" It must validate against this JSON Schema: {json.dumps(schema)}"
        return f"{system}\n\n{extra}" if system else extra
    description = "Give the answer as this tool's input."
    body["tools"] = [{"name": JSON_TOOL, "description": description, "input_schema": schema}]
    body["tool_choice"] = {"type": "tool", "name": JSON_TOOL}
    return system


def _tool(provider: str, tool: dict[str, Any]) -> dict[str, Any]:
    function = tool.get("function") if tool.get("type") == "function" else None
    if not isinstance(function, dict) or not function.get("name"):
        raise refuse(provider, "only function tools can be sent to the Anthropic API")
    result: dict[str, Any] = {
        "name": function["name"],
        "input_schema": function.get("parameters") or {"type": "object", "properties": {}},
    }
    if function.get("description"):
        result["description"] = function["description"]
    return result


def _tool_choice(choice: Any) -> dict[str, Any] | None:
    if choice in (None, "auto"):
        return {"type": "auto"} if choice else None
    if choice == "none":
        return {"type": "none"}
    if choice == "required":
        return {"type": "any"}
    name = ((choice or {}).get("function") or {}).get("name")
    return {"type": "tool", "name": name}


def _messages(provider: str, messages: list[dict[str, Any]]) -> tuple[str, list[Any]]:
    system: list[str] = []
    turns: list[dict[str, Any]] = []
    for message in messages:
        role = message.get("role")
        if role in ("system", "developer"):
            system.append(content_text(message.get("content")))
            continue
        if role == "tool":
            turn_role, blocks = "user", [_tool_result(message)]
        elif role == "user":
            turn_role, blocks = "user", _blocks(provider, message.get("content"))
        elif role == "assistant":
            turn_role, blocks = "assistant", _assistant_blocks(provider, message)
        else:
            raise refuse(provider, f"messages with role {role!r} cannot be sent to Anthropic")
        if turns and turns[-1]["role"] == turn_role:
            turns[-1]["content"] = _merge(turns[-1]["content"], blocks)
        else:
            turns.append({"role": turn_role, "content": blocks})
    return "\n\n".join(s for s in system if s), turns


def _merge(before: list[dict[str, Any]], after: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One turn of two: tool results first (the API wants them at the start of a turn)."""
    both = before + after
    results = [b for b in both if b.get("type") == "tool_result"]
    return results + [b for b in both if b.get("type") != "tool_result"]


def _blocks(provider: str, content: Any) -> list[dict[str, Any]]:
    if content is None or content == "":
        return []
    if isinstance(content, str):
        return [{"type": "text", "text": content}]
    blocks: list[dict[str, Any]] = []
    for part in content:
        kind = part.get("type")
        if kind == "text":
            if part.get("text"):
                blocks.append({"type": "text", "text": part["text"]})
        elif kind == "image_url":
            blocks.append(_image(part.get("image_url") or {}))
        else:
            raise refuse(provider, f"content parts of type {kind!r} cannot be sent to Anthropic")
    return blocks


def _image(image: dict[str, Any]) -> dict[str, Any]:
    url = str(image.get("url", ""))
    if parsed := data_url(url):
        media_type, data = parsed
        return {
            "type": "image",
            "source": {"type": "base64", "media_type": media_type, "data": data},
        }
    return {"type": "image", "source": {"type": "url", "url": url}}


def _assistant_blocks(provider: str, message: dict[str, Any]) -> list[dict[str, Any]]:
    blocks = _blocks(provider, message.get("content"))
    for call in message.get("tool_calls") or []:
        blocks.append(
            {
                "type": "tool_use",
                "id": call.get("id"),
                "name": (call.get("function") or {}).get("name"),
                "input": call_arguments(call, provider),
            }
        )
    return blocks


def _tool_result(message: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "tool_result",
        "tool_use_id": message.get("tool_call_id"),
        "content": content_text(message.get("content")),
    }
