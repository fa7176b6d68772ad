"""An OpenAI-compatible upstream for the tests and benchmarks, on 127.0.0.1.

It stands in for the paid providers we cannot reach from here, and is hit through the same
code path as a real one. It answers ``POST /v1/chat/completions`` (and Azure's deployment
path) with an echo of the last user message, plain or streamed, and can be told to
misbehave through ``POST /_control``: ``{"mode": "slow" | "429" | "500" | "503" | "400" |
"401" | "drop" | "break_stream" | "stream_error", "times": N, "delay_s": S, "retry_after":
"2"}`` (``times`` requests, then back to normal; ``retry_after`` is sent as ``Retry-After`` with a 429 or 503;
``401`` echoes the credential it was sent in its message, as careless upstreams do;
``stream_error`` sends an ``error`` event half-way through a stream).

Tools and JSON mode, the same rules as the other stand-ins (tests/upstreams/): a conversation
ending with ``tool`` messages is answered ``tool said: <their contents>``; with ``tools`` and
either a forced ``tool_choice`` (``required`` or a named function) or a line ``CALL_TOOL`` in
the last user message, the answer is a call of the named (or first) tool whose arguments are
the JSON on a line ``ARGS:<json>``, else ``{"text": <the user's text>}``; with
``response_format`` ``json_schema`` the answer is ``{"text": <the user's text>}``
(``json_object`` is answered like any other request).

``GET /_stats`` returns the request count and the last request's path, headers and body;
``Behaviour.bodies`` keeps the last 1,000 request bodies (tests assert on what left us).

Run alone (benchmarks): ``python tests/upstream.py --port 8999``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web


@dataclass
class Behaviour:
    mode: str = "ok"
    times: int = 0
    delay_s: float = 0.0
    retry_after: str | None = None  # ``Retry-After`` of a 429 or 503, when set
    requests: int = 0
    last: dict[str, Any] = field(default_factory=dict)
    bodies: deque[dict[str, Any]] = field(default_factory=lambda: deque(maxlen=1000))

    def take(self) -> str:
        """The mode for this request (a limited mode counts down, then back to ok)."""
        self.requests += 1
        if self.mode == "ok":
            return "ok"
        mode = self.mode
        if self.times > 0:
            self.times -= 1
            if self.times == 0:
                self.mode = "ok"
        return mode


BEHAVIOUR = web.AppKey("behaviour", Behaviour)


def _answer(body: dict[str, Any]) -> str:
    """``echo: <last user message>``; a message holding ``REPLY:<text>`` on a line is
    answered with exactly ``<text>`` (tests that need a JSON answer), one holding the line
    ``ECHO_SYSTEM`` with the system prompt (a model talked into leaking it), one holding
    ``ECHO_INPUT`` with the first user message whatever follows (a model that echoes its
    input)."""
    messages = body.get("messages", [])
    users = [m for m in messages if m.get("role") == "user"]
    text = users[-1].get("content", "") if users else ""
    if not isinstance(text, str):
        return "echo"
    for message in users:
        for line in str(message.get("content", "")).splitlines():
            if line.startswith("REPLY:"):
                return line.removeprefix("REPLY:")
            if line.strip() == "ECHO_INPUT":
                return str(users[0].get("content", ""))
            if line.strip() == "ECHO_SYSTEM":
                return " ".join(
                    str(m.get("content")) for m in messages if m.get("role") == "system"
                )
    return f"echo: {text}"


def tool_input(text: str) -> Any:
    """A called tool's input: the JSON on a line ``ARGS:<json>``, else ``{"text": text}``."""
    args = next((ln[5:] for ln in text.splitlines() if ln.startswith("ARGS:")), None)
    return json.loads(args) if args else {"text": text}


def wants_tool(text: str, forced: bool) -> bool:
    return forced or "CALL_TOOL" in text.splitlines()


def _tool_reply(body: dict[str, Any]) -> dict[str, Any] | None:
    """The assistant message for a tool round (rules in the module's docstring), or None."""
    messages = body.get("messages", [])
    results = []
    for message in reversed(messages):
        if message.get("role") != "tool":
            break
        results.insert(0, str(message.get("content", "")))
    if results:
        return {"role": "assistant", "content": "tool said: " + " | ".join(results)}
    tools = [t["function"] for t in body.get("tools") or [] if t.get("type") == "function"]
    choice = body.get("tool_choice")
    users = [m for m in messages if m.get("role") == "user"]
    text = str(users[-1].get("content", "")) if users else ""
    if (
        not tools
        or choice == "none"
        or not wants_tool(text, choice == "required" or isinstance(choice, dict))
    ):
        return None
    name = ((choice or {}).get("function") or {}).get("name") if isinstance(choice, dict) else None
    call = {
        "id": f"call_{uuid.uuid4().hex[:12]}",
        "type": "function",
        "function": {"name": name or tools[0]["name"], "arguments": json.dumps(tool_input(text))},
    }
    return {"role": "assistant", "content": None, "tool_calls": [call]}


def _message(body: dict[str, Any]) -> dict[str, Any]:
    if (reply := _tool_reply(body)) is not None:
        return reply
    if (body.get("response_format") or {}).get("type") == "json_schema":
        users = [m for m in body.get("messages", []) if m.get("role") == "user"]
        text = str(users[-1].get("content", "")) if users else ""
        return {"role": "assistant", "content": json.dumps({"text": text})}
    return {"role": "assistant", "content": _answer(body)}


def _usage(body: dict[str, Any], answer: str) -> dict[str, int]:
    prompt = sum(len(str(m.get("content", "")).split()) for m in body.get("messages", []))
    completion = len(answer.split())
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
    }


def _completion(body: dict[str, Any]) -> dict[str, Any]:
    message = _message(body)
    answer = message["content"] or json.dumps(message.get("tool_calls"))
    return {
        "id": "chatcmpl-upstream",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": body.get("model", "unknown"),
        "choices": [
            {
                "index": 0,
                "message": message,
                "finish_reason": "tool_calls" if message.get("tool_calls") else "stop",
            }
        ],
        "usage": _usage(body, answer),
    }


def _chunk(body: dict[str, Any], delta: dict[str, Any], finish: str | None) -> bytes:
    chunk = {
        "id": "chatcmpl-upstream",
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": body.get("model", "unknown"),
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }
    return b"data: " + json.dumps(chunk).encode() + b"\n\n"


async def _stream(request: web.Request, body: dict[str, Any], mode: str) -> web.StreamResponse:
    response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
    await response.prepare(request)
    message = _message(body)
    answer = message["content"] or json.dumps(message.get("tool_calls"))
    deltas = [{"content": w if i == 0 else " " + w} for i, w in enumerate(answer.split(" "))]
    if message.get("tool_calls"):
        deltas = _tool_deltas(message["tool_calls"])
    await response.write(_chunk(body, {"role": "assistant", "content": ""}, None))
    for i, delta in enumerate(deltas):
        if mode == "break_stream" and i == len(deltas) // 2:
            assert request.transport is not None
            request.transport.close()  # the connection drops half-way through the answer
            return response
        if mode == "stream_error" and i == len(deltas) // 2:
            failed = {"error": {"message": "upstream failed mid-stream", "type": "server_error"}}
            await response.write(b"data: " + json.dumps(failed).encode() + b"\n\n")
            return response
        await response.write(_chunk(body, delta, None))
    finish = "tool_calls" if message.get("tool_calls") else "stop"
    await response.write(_chunk(body, {}, finish))
    if (body.get("stream_options") or {}).get("include_usage"):
        usage = {
            **json.loads(_chunk(body, {}, None)[6:]),
            "choices": [],
            "usage": _usage(body, answer),
        }
        await response.write(b"data: " + json.dumps(usage).encode() + b"\n\n")
    await response.write(b"data: [DONE]\n\n")
    return response


def _tool_deltas(calls: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Tool calls as OpenAI streams them: name and id first, the arguments in two pieces."""
    deltas: list[dict[str, Any]] = []
    for index, call in enumerate(calls):
        head = {"index": index, "id": call["id"], "type": "function"}
        deltas.append({"tool_calls": [{**head, "function": {"name": call["function"]["name"]}}]})
        raw = call["function"]["arguments"]
        for piece in (raw[: len(raw) // 2], raw[len(raw) // 2 :]):
            deltas.append({"tool_calls": [{"index": index, "function": {"arguments": piece}}]})
    return deltas


#: An error body in a provider's shape, for a status and a message.
ErrorBody = Callable[[int, str], dict[str, Any]]


def openai_error(status: int, message: str) -> dict[str, Any]:
    kind = "invalid_request_error" if status < 429 else "upstream_error"
    return {"error": {"message": message, "type": kind}}


def record(request: web.Request, body: dict[str, Any]) -> Behaviour:
    """Keep what arrived (``last``, ``bodies``) and return the app's behaviour."""
    behaviour: Behaviour = request.app[BEHAVIOUR]
    behaviour.last = {"path": request.path_qs, "headers": dict(request.headers), "body": body}
    behaviour.bodies.append(body)
    return behaviour


async def misbehave(
    request: web.Request, mode: str, error: ErrorBody, credential: str | None
) -> web.StreamResponse | None:
    """The answer of a misbehaving mode, or None to answer normally (after ``slow``'s
    delay). Shared by every stand-in; ``error`` shapes the error bodies its way."""
    behaviour: Behaviour = request.app[BEHAVIOUR]
    if mode == "slow":
        await asyncio.sleep(behaviour.delay_s)
    elif mode in ("429", "500", "503"):
        headers = {"Retry-After": behaviour.retry_after} if behaviour.retry_after else {}
        body = error(int(mode), f"upstream says {mode}")
        return web.json_response(body, status=int(mode), headers=headers)
    elif mode == "400":
        return web.json_response(error(400, "bad parameter"), status=400)
    elif mode == "401":
        return web.json_response(error(401, f"invalid api key: {credential}"), status=401)
    elif mode == "drop":
        assert request.transport is not None
        request.transport.close()
        return web.Response()
    return None


async def chat(request: web.Request) -> web.StreamResponse:
    body = await request.json()
    behaviour = record(request, body)
    credential = request.headers.get("Authorization") or request.headers.get("api-key")
    mode = behaviour.take()
    refusal = await misbehave(request, mode, openai_error, credential)
    if refusal is not None:
        return refusal
    if body.get("stream"):
        return await _stream(request, body, mode)
    return web.json_response(_completion(body))


async def control(request: web.Request) -> web.Response:
    behaviour: Behaviour = request.app[BEHAVIOUR]
    data = await request.json()
    behaviour.mode = data.get("mode", "ok")
    behaviour.times = int(data.get("times", 0))
    behaviour.delay_s = float(data.get("delay_s", 0.0))
    behaviour.retry_after = data.get("retry_after")
    return web.json_response({"ok": True})


async def stats(request: web.Request) -> web.Response:
    behaviour: Behaviour = request.app[BEHAVIOUR]
    return web.json_response({"requests": behaviour.requests, "last": behaviour.last})


def make_app() -> web.Application:
    app = web.Application()
    app[BEHAVIOUR] = Behaviour()
    app.router.add_post("/v1/chat/completions", chat)
    app.router.add_post("/openai/deployments/{name}/chat/completions", chat)
    app.router.add_post("/_control", control)
    app.router.add_get("/_stats", stats)
    return app


class UpstreamThread:
    """The upstream on its own event loop in a thread; ``url`` ends in ``/v1``."""

    def __init__(self, app: web.Application | None = None) -> None:
        self.app = app if app is not None else make_app()
        self.port = 0
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)

    @property
    def behaviour(self) -> Behaviour:
        behaviour: Behaviour = self.app[BEHAVIOUR]
        return behaviour

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return f"{self.base}/v1"

    def set(
        self, mode: str, times: int = 0, delay_s: float = 0.0, retry_after: str | None = None
    ) -> None:
        self.behaviour.mode, self.behaviour.times, self.behaviour.delay_s = mode, times, delay_s
        self.behaviour.retry_after = retry_after

    def _serve(self) -> None:
        asyncio.set_event_loop(self._loop)
        runner = web.AppRunner(self.app, access_log=None)
        self._loop.run_until_complete(runner.setup())
        site = web.TCPSite(runner, "127.0.0.1", 0)
        self._loop.run_until_complete(site.start())
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self._runner = runner
        self._ready.set()
        self._loop.run_forever()
        self._loop.run_until_complete(runner.cleanup())

    def start(self) -> UpstreamThread:
        self._thread.start()
        self._ready.wait(10)
        return self

    def stop(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8999)
    args = parser.parse_args()
    web.run_app(make_app(), host="127.0.0.1", port=args.port, access_log=None, print=None)


if __name__ == "__main__":
    main()
