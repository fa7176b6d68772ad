"""An OpenAI-compatible upstream for the tests and benchmarks, on 127.0.0.1.

It stands in for the paid providers we cannot reach from here, and is hit through the same
code path as a real one. It answers ``POST /v1/chat/completions`` (and Azure's deployment
path) with an echo of the last user message, plain or streamed, and can be told to
misbehave through ``POST /_control``: ``{"mode": "slow" | "429" | "500" | "drop" |
"break_stream", "times": N, "delay_s": S}`` (``times`` requests, then back to normal).
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
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web


@dataclass
class Behaviour:
    mode: str = "ok"
    times: int = 0
    delay_s: float = 0.0
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


def _usage(body: dict[str, Any], answer: str) -> dict[str, int]:
    prompt = sum(len(str(m.get("content", "")).split()) for m in body.get("messages", []))
    completion = len(answer.split())
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
    }


def _completion(body: dict[str, Any]) -> dict[str, Any]:
    answer = _answer(body)
    return {
        "id": "chatcmpl-upstream",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": body.get("model", "unknown"),
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": answer},
                "finish_reason": "stop",
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
    answer = _answer(body)
    words = answer.split(" ")
    await response.write(_chunk(body, {"role": "assistant", "content": ""}, None))
    for i, word in enumerate(words):
        if mode == "break_stream" and i == len(words) // 2:
            assert request.transport is not None
            request.transport.close()  # the connection drops half-way through the answer
            return response
        await response.write(_chunk(body, {"content": word if i == 0 else " " + word}, None))
    await response.write(_chunk(body, {}, "stop"))
    if (body.get("stream_options") or {}).get("include_usage"):
        usage = {
            **json.loads(_chunk(body, {}, None)[6:]),
            "choices": [],
            "usage": _usage(body, answer),
        }
        await response.write(b"data: " + json.dumps(usage).encode() + b"\n\n")
    await response.write(b"data: [DONE]\n\n")
    return response


async def chat(request: web.Request) -> web.StreamResponse:
    behaviour: Behaviour = request.app[BEHAVIOUR]
    body = await request.json()
    behaviour.last = {"path": request.path_qs, "headers": dict(request.headers), "body": body}
    behaviour.bodies.append(body)
    mode = behaviour.take()
    if mode == "slow":
        await asyncio.sleep(behaviour.delay_s)
    elif mode in ("429", "500"):
        error = {"error": {"message": f"upstream says {mode}", "type": "upstream_error"}}
        return web.json_response(error, status=int(mode))
    elif mode == "400":
        error = {"error": {"message": "bad parameter", "type": "invalid_request_error"}}
        return web.json_response(error, status=400)
    elif mode == "drop":
        assert request.transport is not None
        request.transport.close()
        return web.Response()
    if body.get("stream"):
        return await _stream(request, body, mode)
    return web.json_response(_completion(body))


async def control(request: web.Request) -> web.Response:
    behaviour: Behaviour = request.app[BEHAVIOUR]
    data = await request.json()
    behaviour.mode = data.get("mode", "ok")
    behaviour.times = int(data.get("times", 0))
    behaviour.delay_s = float(data.get("delay_s", 0.0))
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

    def __init__(self) -> None:
        self.app = make_app()
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

    def set(self, mode: str, times: int = 0, delay_s: float = 0.0) -> None:
        self.behaviour.mode, self.behaviour.times, self.behaviour.delay_s = mode, times, delay_s

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
