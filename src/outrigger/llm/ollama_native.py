"""Ollama's own API (``POST {base_url}/api/chat``, NDJSON when streamed) behind the
OpenAI-shaped provider Protocol. The ``ollama`` kind speaks Ollama's OpenAI-compatible
``/v1`` instead; this one reaches what only the native API has (``format`` with a JSON
Schema, ``options`` such as ``num_predict``) and works with Ollama versions before ``/v1``.

Ollama gives tool calls no id (recent versions may): one is made up when missing. Its
``prompt_eval_count`` and ``eval_count`` are the prompt and completion tokens."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from outrigger.config.llm import DeploymentSettings, ProviderSettings
from outrigger.llm.http import HttpProvider, json_lines
from outrigger.llm.ollama_request import ollama_body
from outrigger.llm.openai_shape import assistant_message, chunk, completion, new_id, tool_call
from outrigger.llm.types import ChatRequest, ProviderError, Usage

#: Ollama's ``done_reason`` as OpenAI's ``finish_reason`` (``stop`` otherwise).
FINISH = {"length": "length"}


class OllamaNative:
    def __init__(self, name: str, settings: ProviderSettings, api_key: str | None) -> None:
        self.name = name
        self.settings = settings
        # Ollama itself takes no key; one behind an authenticating proxy (or Ollama's cloud)
        # takes a bearer token.
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._http = HttpProvider(name, settings, headers, api_key)
        self._url = f"{(settings.base_url or '').rstrip('/')}/api/chat"

    async def complete(
        self, deployment: DeploymentSettings, request: ChatRequest
    ) -> dict[str, Any]:
        body = ollama_body(self.name, deployment.model, request, stream=False)
        answer = await self._http.post_json(self._url, body, deployment)
        if "error" in answer:
            raise ProviderError("server", self._http.message(f"failed: {answer['error']}"))
        message = answer.get("message") or {}
        calls = [_tool_call(c) for c in message.get("tool_calls") or []]
        finish = _finish(answer, bool(calls))
        reply = assistant_message(str(message.get("content") or ""), calls)
        model = answer.get("model") or deployment.model
        return completion(new_id("chatcmpl-"), model, reply, finish, _usage(answer))

    async def stream(
        self, deployment: DeploymentSettings, request: ChatRequest
    ) -> AsyncIterator[dict[str, Any]]:
        body = ollama_body(self.name, deployment.model, request, stream=True)
        call_id, model, calls, started = new_id("chatcmpl-"), deployment.model, 0, False
        async with self._http.post(self._url, body, deployment) as response:
            async for event in json_lines(self._http, response.content):
                if "error" in event:
                    text = f"failed mid-stream: {event['error']}"
                    raise ProviderError("server", self._http.message(text))
                if not started:  # only once an event came: a failure before it is retried
                    started = True
                    yield chunk(call_id, model, {"role": "assistant", "content": ""})
                message = event.get("message") or {}
                if message.get("content"):
                    yield chunk(call_id, model, {"content": message["content"]})
                for call in message.get("tool_calls") or []:
                    delta = {"index": calls, **_tool_call(call)}
                    yield chunk(call_id, model, {"tool_calls": [delta]})
                    calls += 1
                if event.get("done"):
                    yield chunk(call_id, model, {}, _finish(event, calls > 0))
                    yield chunk(call_id, model, usage=_usage(event))
                    return
        raise ProviderError("connection", self._http.message("ended the stream before done"))

    async def close(self) -> None:
        await self._http.close()


def _tool_call(call: dict[str, Any]) -> dict[str, Any]:
    function = call.get("function") or {}
    call_id = str(call.get("id") or new_id("call_"))
    return tool_call(call_id, str(function.get("name", "")), function.get("arguments") or {})


def _finish(answer: dict[str, Any], tool_calls: bool) -> str:
    if tool_calls:
        return "tool_calls"
    return FINISH.get(str(answer.get("done_reason")), "stop")


def _usage(answer: dict[str, Any]) -> Usage:
    return Usage(int(answer.get("prompt_eval_count") or 0), int(answer.get("eval_count") or 0))
