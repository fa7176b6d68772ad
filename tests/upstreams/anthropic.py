"""A stand-in for Anthropic's Messages API (``POST /v1/messages``) on 127.0.0.1.

It answers as the real API does: a ``message`` body, or Server-Sent Events (``message_start``,
``ping``, ``content_block_start`` / ``_delta`` (``text_delta``, ``input_json_delta``) /
``_stop``, ``message_delta`` with the stop reason and output tokens, ``message_stop``), and
errors as ``{"type": "error", "error": {"type", "message"}}`` with Anthropic's statuses.

It checks, and refuses like the real API (401 ``authentication_error``, 400
``invalid_request_error``): the ``x-api-key`` and ``anthropic-version`` headers; ``model``,
``max_tokens`` (a whole number >= 1) and a non-empty ``messages``; no top-level field the API
does not know; roles ``user`` / ``assistant`` only (a ``system`` role is refused), strictly
alternating (the API now merges repeated turns; the stand-in holds adapters to the stricter
rule); no empty text; content block types; every ``tool_use`` answered by a ``tool_result``
at the start of the next user turn, and no ``tool_result`` without its ``tool_use``; tools with
a ``name`` and an object ``input_schema``; ``tool_choice`` types, a named tool that exists;
``temperature`` within [0, 1]. It does not check the key's value, model names, image data,
token limits or the schema of a tool's input.

The answer: a last user turn of ``tool_result`` blocks is answered ``tool said: <their
contents>``; with tools and either a forced ``tool_choice`` (``any`` / ``tool``) or a line
``CALL_TOOL`` in the last user text, a ``tool_use`` of the named (or first) tool whose input
is the JSON on a line ``ARGS:<json>``, else ``{"text": <the user's text>}``; otherwise
``echo: <text>``, or exactly ``<text>`` for a line ``REPLY:<text>``. Usage counts words.

Misbehaviour through ``POST /_control`` or ``set()`` (tests/upstream.py's modes), and
``stream_error``: an ``overloaded_error`` event half-way through a stream.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

from aiohttp import web

from tests.upstream import (
    BEHAVIOUR,
    Behaviour,
    UpstreamThread,
    control,
    misbehave,
    record,
    stats,
    tool_input,
    wants_tool,
)

FIELDS = frozenset(
    {
        "model", "messages", "max_tokens", "system", "temperature", "top_p", "top_k",
        "stop_sequences", "stream", "tools", "tool_choice", "metadata", "thinking",
        "service_tier",
    }
)  # fmt: skip
BLOCKS = frozenset({"text", "image", "document", "tool_use", "tool_result", "thinking"})
ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    429: "rate_limit_error",
    500: "api_error",
    503: "api_error",
    529: "overloaded_error",
}


def anthropic_error(status: int, message: str) -> dict[str, Any]:
    error = {"type": ERROR_TYPES.get(status, "api_error"), "message": message}
    return {"type": "error", "error": error}


def _invalid(message: str) -> web.Response:
    return web.json_response(anthropic_error(400, message), status=400)


def _blocks(content: Any) -> list[dict[str, Any]]:
    return [{"type": "text", "text": content}] if isinstance(content, str) else list(content)


def check_body(body: Any) -> str | None:
    """What the real API would refuse in ``body`` (the first problem), or None."""
    if not isinstance(body, dict):
        return "body: must be an object"
    if extra := sorted(set(body) - FIELDS):
        return f"{extra[0]}: Extra inputs are not permitted"
    if not isinstance(body.get("model"), str):
        return "model: Field required"
    limit = body.get("max_tokens")
    if not isinstance(limit, int) or isinstance(limit, bool) or limit < 1:
        return "max_tokens: Field required (an integer >= 1)"
    temperature = body.get("temperature", 0)
    if not isinstance(temperature, int | float) or not 0 <= temperature <= 1:
        return "temperature: Input should be less than or equal to 1"
    system = body.get("system", "")
    if not isinstance(system, str) and not all(b.get("type") == "text" for b in system):
        return "system: Input should be a valid string or a list of text blocks"
    return _check_messages(body.get("messages")) or _check_tools(body)


def _check_messages(messages: Any) -> str | None:
    if not isinstance(messages, list) or not messages:
        return "messages: at least one message is required"
    pending: set[str] = set()  # tool_use ids the next user turn must answer
    for i, message in enumerate(messages):
        role = message.get("role")
        if role not in ("user", "assistant"):
            return f"messages.{i}.role: Input should be 'user' or 'assistant'"
        if i and messages[i - 1].get("role") == role:
            return "messages: roles must alternate between 'user' and 'assistant'"
        content = message.get("content")
        if content in ("", []) or not isinstance(content, str | list):
            return f"messages.{i}: content must be a non-empty string or list of blocks"
        blocks = _blocks(content)
        if problem := _check_blocks(i, blocks, pending if role == "user" else set()):
            return problem
        pending = {str(b.get("id")) for b in blocks if b.get("type") == "tool_use"}
    return None


def _check_blocks(i: int, blocks: list[dict[str, Any]], pending: set[str]) -> str | None:
    kinds = [b.get("type") for b in blocks]
    if unknown := [k for k in kinds if k not in BLOCKS]:
        return f"messages.{i}.content: unknown block type {unknown[0]!r}"
    if any(b.get("type") == "text" and not b.get("text") for b in blocks):
        return f"messages.{i}: text content blocks must be non-empty"
    answered = [str(b.get("tool_use_id")) for b in blocks if b.get("type") == "tool_result"]
    if "tool_result" in kinds[len(answered) :]:
        return f"messages.{i}: tool_result blocks must come first in the content"
    if unexpected := set(answered) - pending:
        return f"messages.{i}: unexpected tool_use_id in tool_result blocks: {sorted(unexpected)}"
    if missing := pending - set(answered):
        return (
            f"messages.{i}: tool_use ids were found without tool_result blocks: {sorted(missing)}"
        )
    return None


def _check_tools(body: dict[str, Any]) -> str | None:
    names = []
    for i, tool in enumerate(body.get("tools") or []):
        schema = tool.get("input_schema")
        if not tool.get("name") or not isinstance(schema, dict) or schema.get("type") != "object":
            return f"tools.{i}: a name and an input_schema of type 'object' are required"
        names.append(tool["name"])
    choice = body.get("tool_choice")
    if choice is None:
        return None
    if choice.get("type") not in ("auto", "any", "tool", "none"):
        return "tool_choice.type: Input should be 'auto', 'any', 'tool' or 'none'"
    if choice["type"] == "tool" and choice.get("name") not in names:
        return f"tool_choice: no tool named {choice.get('name')!r}"
    return None


def _text(blocks: list[dict[str, Any]]) -> str:
    parts = []
    for block in blocks:
        if block.get("type") == "text":
            parts.append(str(block.get("text", "")))
        elif block.get("type") == "tool_result":
            content = block.get("content", "")
            parts.append(content if isinstance(content, str) else _text(content))
    return " ".join(parts)


def answer_blocks(body: dict[str, Any]) -> tuple[list[dict[str, Any]], str]:
    """The answer's content blocks and stop reason (rules in the module's docstring)."""
    last = _blocks(body["messages"][-1]["content"])
    results = [b for b in last if b.get("type") == "tool_result"]
    if results:
        return [
            {"type": "text", "text": "tool said: " + " | ".join(_text([r]) for r in results)}
        ], "end_turn"
    text = _text(last)
    tools = body.get("tools") or []
    choice = body.get("tool_choice") or {}
    if (
        tools
        and choice.get("type") != "none"
        and wants_tool(text, choice.get("type") in ("any", "tool"))
    ):
        name = choice.get("name") or tools[0]["name"]
        use = {
            "type": "tool_use",
            "id": f"toolu_{uuid.uuid4().hex[:20]}",
            "name": name,
            "input": tool_input(text),
        }
        return [use], "tool_use"
    reply = next((ln[6:] for ln in text.splitlines() if ln.startswith("REPLY:")), None)
    return [{"type": "text", "text": reply if reply is not None else f"echo: {text}"}], "end_turn"


def usage(body: dict[str, Any], blocks: list[dict[str, Any]]) -> dict[str, int]:
    system = body.get("system") or ""
    said = [system if isinstance(system, str) else _text(system)]
    said += [_text(_blocks(m["content"])) for m in body["messages"]]
    out = [_text(blocks)] + [json.dumps(b["input"]) for b in blocks if b["type"] == "tool_use"]
    return {
        "input_tokens": sum(len(s.split()) for s in said),
        "output_tokens": sum(len(s.split()) for s in out),
    }


def _message(body: dict[str, Any]) -> dict[str, Any]:
    blocks, stop = answer_blocks(body)
    return {
        "id": f"msg_{uuid.uuid4().hex[:20]}",
        "type": "message",
        "role": "assistant",
        "model": body["model"],
        "content": blocks,
        "stop_reason": stop,
        "stop_sequence": None,
        "usage": usage(body, blocks),
    }


def stream_events(body: dict[str, Any]) -> list[dict[str, Any]]:
    message = _message(body)
    start = {**message, "content": [], "stop_reason": None}
    start["usage"] = {"input_tokens": message["usage"]["input_tokens"], "output_tokens": 1}
    events: list[dict[str, Any]] = [{"type": "message_start", "message": start}, {"type": "ping"}]
    for index, block in enumerate(message["content"]):
        if block["type"] == "tool_use":
            opened = {**block, "input": {}}
            raw = json.dumps(block["input"])
            deltas = [
                {"type": "input_json_delta", "partial_json": p}
                for p in (raw[: len(raw) // 2], raw[len(raw) // 2 :])
            ]
        else:
            opened = {"type": "text", "text": ""}
            words = block["text"].split(" ")
            deltas = [
                {"type": "text_delta", "text": w if i == 0 else " " + w}
                for i, w in enumerate(words)
            ]
        events.append({"type": "content_block_start", "index": index, "content_block": opened})
        events += [{"type": "content_block_delta", "index": index, "delta": d} for d in deltas]
        events.append({"type": "content_block_stop", "index": index})
    delta = {"stop_reason": message["stop_reason"], "stop_sequence": None}
    events.append(
        {
            "type": "message_delta",
            "delta": delta,
            "usage": {"output_tokens": message["usage"]["output_tokens"]},
        }
    )
    events.append({"type": "message_stop"})
    return events


async def _stream(request: web.Request, body: dict[str, Any], mode: str) -> web.StreamResponse:
    response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
    await response.prepare(request)
    events = stream_events(body)
    for i, event in enumerate(events):
        if i == len(events) // 2 and mode == "break_stream":
            assert request.transport is not None
            request.transport.close()
            return response
        sent = (
            anthropic_error(529, "Overloaded")
            if i == len(events) // 2 and mode == "stream_error"
            else event
        )
        await response.write(f"event: {sent['type']}\ndata: {json.dumps(sent)}\n\n".encode())
        if sent["type"] == "error":
            return response
    return response


async def messages(request: web.Request) -> web.StreamResponse:
    try:
        body = await request.json()
    except ValueError:
        return _invalid("body: invalid JSON")
    behaviour = record(request, body)
    key = request.headers.get("x-api-key")
    if not key:
        return web.json_response(anthropic_error(401, "x-api-key header is required"), status=401)
    if not request.headers.get("anthropic-version"):
        return _invalid("anthropic-version: header is required")
    if problem := check_body(body):
        return _invalid(problem)
    mode = behaviour.take()
    if (refusal := await misbehave(request, mode, anthropic_error, key)) is not None:
        return refusal
    if body.get("stream"):
        return await _stream(request, body, mode)
    return web.json_response(_message(body))


def make_app() -> web.Application:
    app = web.Application()
    app[BEHAVIOUR] = Behaviour()
    app.router.add_post("/v1/messages", messages)
    app.router.add_post("/_control", control)
    app.router.add_get("/_stats", stats)
    return app


class AnthropicThread(UpstreamThread):
    """The stand-in on its own event loop in a thread; ``base`` is the provider's base_url."""

    def __init__(self) -> None:
        super().__init__(make_app())
