"""An OpenAI chat request as the keyword arguments of Bedrock's ``Converse`` / ``ConverseStream``.

System messages become ``system``; user, assistant and tool messages become ``messages``
with content blocks (text, inline images, ``toolUse``, ``toolResult``); adjacent messages of
one role are merged, since Converse wants the roles to alternate (several tool results
answer one assistant turn in one user message). Sampling parameters go to
``inferenceConfig``, tools to ``toolConfig``.

JSON mode (``response_format``) is a forced tool, as for Anthropic: the request gets one
tool, ``JSON_TOOL``, whose input schema is the requested schema (any object for
``json_object``), and ``toolChoice`` names it; the tool's input comes back as the answer's
text (see ``bedrock_response``). Models without forced tool choice refuse it with a
``ValidationException`` (a 400). With the caller's own tools, or a schema whose root is not an
object (a tool's input is one), it is an instruction appended to ``system`` instead.

Anything Converse cannot carry is a ``ProviderError`` of kind ``client`` (a 400 for the
caller), never silently dropped; parameters with no Converse counterpart that only tune
sampling (``presence_penalty``, ``seed``, ...) are ignored.
"""

from __future__ import annotations

import base64
import binascii
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

#: The forced tool that carries a JSON-mode answer.
JSON_TOOL = "json_answer"
JSON_INSTRUCTION = "Answer with one JSON value only, no prose and no code fence."
IMAGE_FORMATS = {"image/png": "png", "image/jpeg": "jpeg", "image/gif": "gif", "image/webp": "webp"}


def converse_kwargs(provider: str, model: str, request: ChatRequest) -> dict[str, Any]:
    """The ``Converse`` arguments for ``request`` sent to the model (or profile) ``model``."""
    if int(request.params.get("n") or 1) != 1:
        raise refuse(provider, "n > 1 is not supported by Bedrock's Converse API")
    system, messages = _messages(provider, request.messages)
    kwargs: dict[str, Any] = {"modelId": model, "messages": messages}
    if inference := _inference(request):
        kwargs["inferenceConfig"] = inference
    if forced_json_tool(request):
        kwargs["toolConfig"] = _json_tool(request)
    else:
        system += _json_instruction(request)
        if tools := _tool_config(provider, request.params, messages):
            kwargs["toolConfig"] = tools
    if system:
        kwargs["system"] = system
    return kwargs


def forced_json_tool(request: ChatRequest) -> bool:
    """Whether JSON mode is the forced ``JSON_TOOL`` (else an instruction, or not asked)."""
    mode = json_mode(request)
    if mode is None or request.params.get("tools"):
        return False
    return (mode[1] or {"type": "object"}).get("type") == "object"


def _json_instruction(request: ChatRequest) -> list[dict[str, Any]]:
    mode = json_mode(request)
    if mode is None:
        return []
    text = JSON_INSTRUCTION
    if mode[0] == "json_schema":
        text += f" It must validate against this JSON Schema: {json.dumps(mode[1])}"
    return [{"text": text}]


def _messages(
    provider: str, messages: list[dict[str, Any]]
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    system: list[dict[str, Any]] = []
    turns: list[dict[str, Any]] = []
    for i, message in enumerate(messages):
        role = message.get("role")
        if role in ("system", "developer"):
            if text := content_text(message.get("content")):
                system.append({"text": text})
            continue
        if role == "user":
            blocks = _user_blocks(provider, message.get("content"), i)
        elif role == "assistant":
            blocks = _assistant_blocks(provider, message, i)
        elif role == "tool":
            role, blocks = "user", [_tool_result(provider, message, i)]
        else:
            raise refuse(provider, f"messages[{i}]: role {role!r} has no Converse counterpart")
        if not blocks:
            raise refuse(provider, f"messages[{i}]: a {role} message needs content")
        if turns and turns[-1]["role"] == role:
            turns[-1]["content"].extend(blocks)
        else:
            turns.append({"role": role, "content": blocks})
    return system, turns


def _user_blocks(provider: str, content: Any, i: int) -> list[dict[str, Any]]:
    if isinstance(content, str):
        return [{"text": content}] if content else []
    if not isinstance(content, list):
        return []
    blocks: list[dict[str, Any]] = []
    for part in content:
        kind = part.get("type") if isinstance(part, dict) else None
        if kind == "text":
            if text := str(part.get("text") or ""):
                blocks.append({"text": text})
        elif kind == "image_url":
            blocks.append(_image(provider, part.get("image_url"), i))
        else:
            raise refuse(provider, f"messages[{i}]: content part {kind!r} is not supported")
    return blocks


def _image(provider: str, image: Any, i: int) -> dict[str, Any]:
    """An inline ``data:image/...;base64,`` URL as an image block; Bedrock fetches no URLs."""
    url = str((image or {}).get("url") or "") if isinstance(image, dict) else ""
    inline = data_url(url)
    if inline is None or inline[0] not in IMAGE_FORMATS:
        raise refuse(
            provider,
            f"messages[{i}]: images must be inline base64 data: URLs of type "
            f"{', '.join(IMAGE_FORMATS)} (Bedrock does not fetch image URLs)",
        )
    try:
        raw = base64.b64decode(inline[1], validate=True)
    except (binascii.Error, ValueError):
        raise refuse(provider, f"messages[{i}]: the image's base64 data is invalid") from None
    return {"image": {"format": IMAGE_FORMATS[inline[0]], "source": {"bytes": raw}}}


def _assistant_blocks(provider: str, message: dict[str, Any], i: int) -> list[dict[str, Any]]:
    blocks: list[dict[str, Any]] = []
    if text := content_text(message.get("content")):
        blocks.append({"text": text})
    for call in message.get("tool_calls") or []:
        arguments = call_arguments(call, provider)
        if not isinstance(arguments, dict):
            raise refuse(provider, f"messages[{i}]: tool call arguments must be a JSON object")
        name = (call.get("function") or {}).get("name")
        blocks.append({"toolUse": {"toolUseId": call.get("id"), "name": name, "input": arguments}})
    return blocks


def _tool_result(provider: str, message: dict[str, Any], i: int) -> dict[str, Any]:
    call_id = message.get("tool_call_id")
    if not call_id:
        raise refuse(provider, f"messages[{i}]: a tool message needs tool_call_id")
    text = content_text(message.get("content"))
    # Converse refuses a blank text block; an empty result still has to answer its call.
    return {"toolResult": {"toolUseId": call_id, "content": [{"text": text or "(empty)"}]}}


def _inference(request: ChatRequest) -> dict[str, Any]:
    config: dict[str, Any] = {}
    if (limit := max_tokens(request)) is not None:
        config["maxTokens"] = limit
    if request.params.get("temperature") is not None:
        config["temperature"] = float(request.params["temperature"])
    if request.params.get("top_p") is not None:
        config["topP"] = float(request.params["top_p"])
    if stop := stop_list(request):
        config["stopSequences"] = stop
    return config


def _tool_config(
    provider: str, params: dict[str, Any], messages: list[dict[str, Any]]
) -> dict[str, Any] | None:
    tools = [_tool_spec(provider, t) for t in params.get("tools") or []]
    choice = params.get("tool_choice")
    used = any("toolUse" in b or "toolResult" in b for m in messages for b in m["content"])
    if not tools or (choice == "none" and not used):
        # Converse has no "none": the tools are left out, unless the conversation already
        # holds tool blocks (then Converse needs them declared, and the model decides).
        return None
    config: dict[str, Any] = {"tools": tools}
    if choice == "required":
        config["toolChoice"] = {"any": {}}
    elif choice == "auto":
        config["toolChoice"] = {"auto": {}}
    elif isinstance(choice, dict):
        name = (choice.get("function") or {}).get("name")
        if not name:
            raise refuse(provider, "tool_choice names no function")
        config["toolChoice"] = {"tool": {"name": name}}
    return config


def _tool_spec(provider: str, tool: dict[str, Any]) -> dict[str, Any]:
    function = tool.get("function") if tool.get("type") == "function" else None
    if not isinstance(function, dict) or not function.get("name"):
        raise refuse(provider, "only function tools can be sent to Bedrock's Converse API")
    spec: dict[str, Any] = {
        "name": function["name"],
        "inputSchema": {"json": function.get("parameters") or {"type": "object", "properties": {}}},
    }
    if function.get("description"):
        spec["description"] = function["description"]
    return {"toolSpec": spec}


def _json_tool(request: ChatRequest) -> dict[str, Any]:
    mode = json_mode(request)
    schema = (mode[1] if mode else None) or {"type": "object"}
    spec = {
        "name": JSON_TOOL,
        "description": "Give the answer as this tool's input.",
        "inputSchema": {"json": schema},
    }
    return {"tools": [{"toolSpec": spec}], "toolChoice": {"tool": {"name": JSON_TOOL}}}
