"""The OpenAI wire shape that adapters of other APIs translate to and from: answer and chunk
bodies, tool calls, JSON mode, and the request fields they read."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

from outrigger.llm.types import ChatRequest, ProviderError, Usage

DATA_URL_PREFIX = "data:"


def completion(
    call_id: str,
    model: str,
    message: dict[str, Any],
    finish_reason: str,
    usage: Usage,
) -> dict[str, Any]:
    """A ``chat.completion`` body with one choice."""
    return {
        "id": call_id,
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [{"index": 0, "message": message, "finish_reason": finish_reason}],
        "usage": usage.as_dict(),
    }


def chunk(
    call_id: str,
    model: str,
    delta: dict[str, Any] | None = None,
    finish_reason: str | None = None,
    usage: Usage | None = None,
) -> dict[str, Any]:
    """A ``chat.completion.chunk``: one delta, or (``usage`` given) the closing usage chunk
    with no choices, as OpenAI sends it with ``stream_options.include_usage``."""
    body: dict[str, Any] = {
        "id": call_id,
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": model,
    }
    if usage is not None:
        body["choices"] = []
        body["usage"] = usage.as_dict()
    else:
        body["choices"] = [{"index": 0, "delta": delta or {}, "finish_reason": finish_reason}]
    return body


def assistant_message(text: str, tool_calls: list[dict[str, Any]]) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": text or None}
    if tool_calls:
        message["tool_calls"] = tool_calls
    elif not text:
        message["content"] = ""
    return message


def tool_call(call_id: str, name: str, arguments: Any) -> dict[str, Any]:
    """An OpenAI tool call; ``arguments`` is an object (encoded) or already a JSON string."""
    encoded = arguments if isinstance(arguments, str) else json.dumps(arguments)
    return {"id": call_id, "type": "function", "function": {"name": name, "arguments": encoded}}


def new_id(prefix: str) -> str:
    return f"{prefix}{uuid.uuid4().hex[:24]}"


def call_arguments(call: dict[str, Any], provider: str) -> Any:
    """The decoded arguments of an assistant's earlier tool call (OpenAI sends a string)."""
    raw = (call.get("function") or {}).get("arguments") or "{}"
    if not isinstance(raw, str):
        return raw
    try:
        return json.loads(raw)
    except ValueError as exc:
        raise ProviderError(
            "client", f"provider {provider}: tool call arguments are not JSON"
        ) from exc


def max_tokens(request: ChatRequest) -> int | None:
    value = request.params.get("max_completion_tokens", request.params.get("max_tokens"))
    return int(value) if value is not None else None


def stop_list(request: ChatRequest) -> list[str] | None:
    stop = request.params.get("stop")
    if stop is None:
        return None
    return [stop] if isinstance(stop, str) else [str(s) for s in stop]


def json_mode(request: ChatRequest) -> tuple[str, dict[str, Any] | None] | None:
    """``("json_object", None)`` or ``("json_schema", schema)`` for a request in JSON mode."""
    fmt = request.params.get("response_format")
    if not isinstance(fmt, dict):
        return None
    if fmt.get("type") == "json_object":
        return "json_object", None
    if fmt.get("type") == "json_schema":
        spec = fmt.get("json_schema") or {}
        schema = spec.get("schema") if isinstance(spec, dict) else None
        return "json_schema", schema if isinstance(schema, dict) else {"type": "object"}
    return None


def data_url(url: str) -> tuple[str, str] | None:
    """``(media_type, base64 data)`` of a ``data:<type>;base64,<data>`` URL, else None."""
    if not url.startswith(DATA_URL_PREFIX) or ";base64," not in url:
        return None
    head, _, data = url.partition(";base64,")
    return head[len(DATA_URL_PREFIX) :], data


def refuse(provider: str, what: str) -> ProviderError:
    """A request this provider's API cannot express: a client error, never retried."""
    return ProviderError("client", f"provider {provider}: {what}")
