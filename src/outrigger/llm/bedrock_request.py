"""An OpenAI chat request as the keyword arguments of Bedrock's ``Converse`` / ``ConverseStream``.

System messages become ``system``; user, assistant and tool messages become ``messages``
with content blocks (text, inline images, ``toolUse``, ``toolResult``); adjacent messages of
one role are merged, since Converse wants the roles to alternate (several tool results
answer one assistant turn in one user message). Sampling parameters go to
``inferenceConfig``, tools to ``toolConfig``.

JSON mode (``response_format``) is a forced tool: the request gets one tool, ``JSON_TOOL``,
whose input schema is the requested schema (any object for ``json_object``), and
``toolChoice`` names it; the tool's input comes back as the answer's text (see
``bedrock_response``). Models without forced tool choice refuse it with a
``ValidationException`` (a 400). Combined with the caller's own tools it is refused here.

Anything Converse cannot carry is a ``ProviderError`` of kind ``client`` (a 400 for the
caller), never silently dropped; parameters with no Converse counterpart that only tune
sampling (``presence_penalty``, ``seed``, ...) are ignored.
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from outrigger.llm.types import ChatRequest, ProviderError, content_text

#: The forced tool that carries a JSON-mode answer.
JSON_TOOL = "json_answer"
IMAGE_FORMATS = {"image/png": "png", "image/jpeg": "jpeg", "image/gif": "gif", "image/webp": "webp"}


def converse_kwargs(model: str, request: ChatRequest) -> dict[str, Any]:
    """The ``Converse`` arguments for ``request`` sent to the model (or profile) ``model``."""
    params = request.params
    if int(params.get("n") or 1) != 1:
        raise _client("n > 1 (several choices) is not supported by Bedrock's Converse API")
    system, messages = _messages(request.messages)
    kwargs: dict[str, Any] = {"modelId": model, "messages": messages}
    if system:
        kwargs["system"] = system
    if inference := _inference(params):
        kwargs["inferenceConfig"] = inference
    if tools := _tool_config(params, messages):
        kwargs["toolConfig"] = tools
    return kwargs


def json_mode(request: ChatRequest) -> bool:
    """Whether the request asks for a JSON answer (``response_format`` json_object/schema)."""
    fmt = request.params.get("response_format")
    return isinstance(fmt, dict) and fmt.get("type") in ("json_object", "json_schema")


def _client(message: str) -> ProviderError:
    return ProviderError("client", f"bedrock: {message}", 400)


def _messages(messages: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    system: list[dict[str, Any]] = []
    turns: list[dict[str, Any]] = []
    for i, message in enumerate(messages):
        role = message.get("role")
        if role in ("system", "developer"):
            if text := content_text(message.get("content")):
                system.append({"text": text})
            continue
        if role == "user":
            blocks = _user_blocks(message.get("content"), i)
        elif role == "assistant":
            blocks = _assistant_blocks(message, i)
        elif role == "tool":
            role, blocks = "user", [_tool_result(message, i)]
        else:
            raise _client(f"messages[{i}]: role {role!r} has no Converse counterpart")
        if not blocks:
            raise _client(f"messages[{i}]: a {role} message needs content")
        if turns and turns[-1]["role"] == role:
            turns[-1]["content"].extend(blocks)
        else:
            turns.append({"role": role, "content": blocks})
    return system, turns


def _user_blocks(content: Any, i: int) -> list[dict[str, Any]]:
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
            blocks.append(_image(part.get("image_url"), i))
        else:
            raise _client(f"messages[{i}]: content part {kind!r} is not supported")
    return blocks


def _image(image: Any, i: int) -> dict[str, Any]:
    """An inline ``data:image/...;base64,`` URL as an image block; Bedrock fetches no URLs."""
    url = str((image or {}).get("url") or "") if isinstance(image, dict) else ""
    head, _, data = url.partition(",")
    mime = head.removeprefix("data:").removesuffix(";base64")
    if not head.startswith("data:") or not head.endswith(";base64") or mime not in IMAGE_FORMATS:
        raise _client(
            f"messages[{i}]: images must be inline base64 data: URLs of type "
            f"{', '.join(IMAGE_FORMATS)} (Bedrock does not fetch image URLs)"
        )
    try:
        raw = base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        raise _client(f"messages[{i}]: the image's base64 data is invalid") from None
    return {"image": {"format": IMAGE_FORMATS[mime], "source": {"bytes": raw}}}


def _assistant_blocks(message: dict[str, Any], i: int) -> list[dict[str, Any]]:
    blocks: list[dict[str, Any]] = []
    if text := content_text(message.get("content")):
        blocks.append({"text": text})
    for call in message.get("tool_calls") or []:
        function = call.get("function") or {}
        try:
            arguments = json.loads(function.get("arguments") or "{}")
        except ValueError:
            raise _client(f"messages[{i}]: tool call arguments are not JSON") from None
        if not isinstance(arguments, dict):
            raise _client(f"messages[{i}]: tool call arguments must be a JSON object")
        blocks.append(
            {
                "toolUse": {
                    "toolUseId": call.get("id"),
                    "name": function.get("name"),
                    "input": arguments,
                }
            }
        )
    return blocks


def _tool_result(message: dict[str, Any], i: int) -> dict[str, Any]:
    call_id = message.get("tool_call_id")
    if not call_id:
        raise _client(f"messages[{i}]: a tool message needs tool_call_id")
    text = content_text(message.get("content"))
    return {"toolResult": {"toolUseId": call_id, "content": [{"text": text or "(empty)"}]}}


def _inference(params: dict[str, Any]) -> dict[str, Any]:
    config: dict[str, Any] = {}
    max_tokens = params.get("max_completion_tokens", params.get("max_tokens"))
    if max_tokens is not None:
        config["maxTokens"] = int(max_tokens)
    if params.get("temperature") is not None:
        config["temperature"] = float(params["temperature"])
    if params.get("top_p") is not None:
        config["topP"] = float(params["top_p"])
    stop = params.get("stop")
    if stop:
        config["stopSequences"] = [stop] if isinstance(stop, str) else [str(s) for s in stop]
    return config


def _tool_config(params: dict[str, Any], messages: list[dict[str, Any]]) -> dict[str, Any] | None:
    fmt = params.get("response_format")
    tools = [_tool_spec(t) for t in params.get("tools") or []]
    if isinstance(fmt, dict) and fmt.get("type") in ("json_object", "json_schema"):
        if tools:
            raise _client("response_format together with tools is not supported")
        return {"tools": [_json_tool(fmt)], "toolChoice": {"tool": {"name": JSON_TOOL}}}
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
            raise _client("tool_choice names no function")
        config["toolChoice"] = {"tool": {"name": name}}
    return config


def _tool_spec(tool: dict[str, Any]) -> dict[str, Any]:
    if tool.get("type", "function") != "function":
        raise _client(f"tools of type {tool.get('type')!r} are not supported")
    function = tool.get("function") or {}
    spec: dict[str, Any] = {
        "name": function.get("name"),
        "inputSchema": {"json": function.get("parameters") or {"type": "object", "properties": {}}},
    }
    if function.get("description"):
        spec["description"] = function["description"]
    return {"toolSpec": spec}


def _json_tool(fmt: dict[str, Any]) -> dict[str, Any]:
    schema: Any = {"type": "object"}
    if fmt.get("type") == "json_schema":
        schema = (fmt.get("json_schema") or {}).get("schema") or schema
    return {
        "toolSpec": {
            "name": JSON_TOOL,
            "description": "Give the answer as this tool's input: a JSON object.",
            "inputSchema": {"json": schema},
        }
    }
