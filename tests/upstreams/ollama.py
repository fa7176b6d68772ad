"""A stand-in for Ollama's own chat API (``POST /api/chat``) on 127.0.0.1.

It answers as Ollama does: one JSON object, or (``stream`` true, which is the default when
the field is absent) newline-delimited JSON objects ending with ``"done": true``,
``done_reason``, ``prompt_eval_count`` and ``eval_count``; tool calls arrive whole in one
message, their ``arguments`` an object. Errors are ``{"error": "..."}``; a failure after the
stream began is one such line.

It checks, and refuses with 400 like Ollama's request decoding would: ``model`` present;
``messages`` a list; roles ``system``, ``user``, ``assistant``, ``tool``; ``content`` a
string (Ollama's field is a string: a list of parts does not decode); ``images`` a list of
strings; a tool call's ``arguments`` an object; ``options`` an object whose ``num_predict``
and ``seed`` are whole numbers and ``stop`` a list; ``format`` ``"json"`` or an object;
``tools`` in the function shape. It does not check model names (no pull), image data,
``keep_alive`` or the options it does not name; unknown fields are ignored, as Ollama does.

The answer: a conversation ending with ``tool`` messages is answered ``tool said: <their
contents>``; with tools and a line ``CALL_TOOL`` in the last user text (Ollama cannot be
forced to call a tool), a call of the first tool whose arguments are the JSON on a line
``ARGS:<json>``, else ``{"text": <the user's text>}``; with ``format``, the JSON
``{"text": <the user's text>}``; otherwise ``echo: <text>``, or exactly ``<text>`` for a line
``REPLY:<text>``. Token counts count words.

Misbehaviour through ``POST /_control`` or ``set()`` (tests/upstream.py's modes), and
``stream_error``: an ``{"error"}`` line half-way through a stream.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
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

ROLES = ("system", "user", "assistant", "tool")


def ollama_error(status: int, message: str) -> dict[str, Any]:
    return {"error": message}


def check_body(body: Any) -> str | None:
    """What Ollama would refuse in ``body`` (the first problem), or None."""
    if not isinstance(body, dict):
        return "json: cannot unmarshal into Go value of type api.ChatRequest"
    if not body.get("model"):
        return "model is required"
    messages = body.get("messages")
    if not isinstance(messages, list):
        return "messages: must be a list"
    for i, message in enumerate(messages):
        if message.get("role") not in ROLES:
            return f"messages.{i}: invalid role {message.get('role')!r}"
        if not isinstance(message.get("content", ""), str):
            return "json: cannot unmarshal array into Go struct field Message.messages.content of type string"
        images = message.get("images", [])
        if not isinstance(images, list) or not all(isinstance(x, str) for x in images):
            return "json: cannot unmarshal images: a list of base64 strings"
        for call in message.get("tool_calls") or []:
            if not isinstance((call.get("function") or {}).get("arguments"), dict):
                return (
                    "json: cannot unmarshal string into Go struct field ToolCallFunction.arguments"
                )
    return _check_options(body)


def _check_options(body: dict[str, Any]) -> str | None:
    options = body.get("options", {})
    if not isinstance(options, dict):
        return "json: cannot unmarshal options: must be an object"
    for name in ("num_predict", "seed"):
        if name in options and not isinstance(options[name], int):
            return f"option {name!r} must be of type integer"
    if "stop" in options and not isinstance(options["stop"], list):
        return "option 'stop' must be of type array"
    fmt = body.get("format")
    if fmt is not None and fmt != "json" and not isinstance(fmt, dict):
        return f'invalid format: {fmt!r}; expected "json" or a valid JSON Schema'
    for tool in body.get("tools") or []:
        if tool.get("type") != "function" or not (tool.get("function") or {}).get("name"):
            return "json: tools must be functions with a name"
    return None


def answer(body: dict[str, Any]) -> dict[str, Any]:
    """The answer's message (rules in the module's docstring)."""
    messages = body["messages"]
    results: list[str] = []
    for message in reversed(messages):
        if message["role"] != "tool":
            break
        results.insert(0, str(message.get("content", "")))
    if results:
        return {"role": "assistant", "content": "tool said: " + " | ".join(results)}
    users = [m for m in messages if m["role"] == "user"]
    text = str(users[-1].get("content", "")) if users else ""
    if body.get("tools") and wants_tool(text, forced=False):
        name = body["tools"][0]["function"]["name"]
        call = {"function": {"name": name, "arguments": tool_input(text)}}
        return {"role": "assistant", "content": "", "tool_calls": [call]}
    if body.get("format") is not None:
        return {"role": "assistant", "content": json.dumps({"text": text})}
    reply = next((ln[6:] for ln in text.splitlines() if ln.startswith("REPLY:")), None)
    return {"role": "assistant", "content": reply if reply is not None else f"echo: {text}"}


def counts(body: dict[str, Any], message: dict[str, Any]) -> dict[str, int]:
    prompt = sum(len(str(m.get("content", "")).split()) for m in body["messages"])
    said = [message["content"]] + [json.dumps(c) for c in message.get("tool_calls") or []]
    return {"prompt_eval_count": prompt, "eval_count": sum(len(s.split()) for s in said)}


def _line(body: dict[str, Any], message: dict[str, Any], **extra: Any) -> dict[str, Any]:
    now = datetime.now(UTC).isoformat()
    return {"model": body["model"], "created_at": now, "message": message, **extra}


def _done(body: dict[str, Any], message: dict[str, Any]) -> dict[str, Any]:
    return {"done": True, "done_reason": "stop", "total_duration": 1000, **counts(body, message)}


async def _stream(request: web.Request, body: dict[str, Any], mode: str) -> web.StreamResponse:
    response = web.StreamResponse(headers={"Content-Type": "application/x-ndjson"})
    await response.prepare(request)
    message = answer(body)
    lines: list[dict[str, Any]] = []
    if message.get("tool_calls"):
        tool = {"role": "assistant", "content": "", "tool_calls": message["tool_calls"]}
        lines.append(_line(body, tool, done=False))
    else:
        words = message["content"].split(" ")
        for i, word in enumerate(words):
            delta = {"role": "assistant", "content": word if i == 0 else " " + word}
            lines.append(_line(body, delta, done=False))
    lines.append(_line(body, {"role": "assistant", "content": ""}, **_done(body, message)))
    for i, line in enumerate(lines):
        if i == len(lines) // 2 and mode == "break_stream":
            assert request.transport is not None
            request.transport.close()
            return response
        if i == len(lines) // 2 and mode == "stream_error":
            await response.write(b'{"error":"an error was encountered while running the model"}\n')
            return response
        await response.write(json.dumps(line).encode() + b"\n")
    return response


async def chat(request: web.Request) -> web.StreamResponse:
    try:
        body = await request.json()
    except ValueError:
        return web.json_response({"error": "invalid character in request body"}, status=400)
    behaviour = record(request, body)
    if problem := check_body(body):
        return web.json_response({"error": problem}, status=400)
    mode = behaviour.take()
    credential = request.headers.get("Authorization")
    if (refusal := await misbehave(request, mode, ollama_error, credential)) is not None:
        return refusal
    if body.get("stream", True):
        return await _stream(request, body, mode)
    message = answer(body)
    return web.json_response(_line(body, message, **_done(body, message)))


def make_app() -> web.Application:
    app = web.Application()
    app[BEHAVIOUR] = Behaviour()
    app.router.add_post("/api/chat", chat)
    app.router.add_post("/_control", control)
    app.router.add_get("/_stats", stats)
    return app


class OllamaThread(UpstreamThread):
    """The stand-in on its own event loop in a thread; ``base`` is the provider's base_url."""

    def __init__(self) -> None:
        super().__init__(make_app())
