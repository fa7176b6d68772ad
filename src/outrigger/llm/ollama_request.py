"""An OpenAI chat request as a body for Ollama's own ``POST /api/chat``.

* Sampling parameters go under ``options``: ``temperature``, ``top_p``, ``seed``, ``stop``,
  ``presence_penalty``, ``frequency_penalty``; ``max_completion_tokens`` / ``max_tokens``
  become ``num_predict``. Other OpenAI parameters are dropped.
* JSON mode: ``json_object`` is ``format: "json"``, ``json_schema`` passes its schema as
  ``format`` (Ollama constrains the output to it).
* ``tools`` are sent as they are (Ollama takes OpenAI's function shape); ``tool_choice``
  ``none`` sends no tools; Ollama cannot force a tool, so ``required`` or a named tool is
  passed as the tools alone.
* A message's content is one string (text parts joined); images must be ``data:`` URLs
  (Ollama takes base64 only). An assistant's ``tool_calls`` carry their arguments as an
  object; a ``tool`` message names its tool (``tool_name``), found through its call id.
* ``stream`` is always sent: Ollama streams when it is absent.
"""

from __future__ import annotations

from typing import Any

from outrigger.llm.openai_shape import (
    call_arguments,
    data_url,
    json_mode,
    max_tokens,
    refuse,
    stop_list,
)
from outrigger.llm.types import ChatRequest

OPTIONS = ("temperature", "top_p", "seed", "presence_penalty", "frequency_penalty")


def ollama_body(provider: str, model: str, request: ChatRequest, *, stream: bool) -> dict[str, Any]:
    body: dict[str, Any] = {
        "model": model,
        "messages": _messages(provider, request.messages),
        "stream": stream,
    }
    options = {k: request.params[k] for k in OPTIONS if request.params.get(k) is not None}
    if (limit := max_tokens(request)) is not None:
        options["num_predict"] = limit
    if stop := stop_list(request):
        options["stop"] = stop
    if options:
        body["options"] = options
    mode = json_mode(request)
    if mode is not None:
        body["format"] = "json" if mode[0] == "json_object" else mode[1]
    tools = request.params.get("tools")
    if tools and request.params.get("tool_choice") != "none":
        body["tools"] = tools
    return body


def _messages(provider: str, messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    names: dict[str, str] = {}  # tool call id -> tool name, for the tool messages after it
    result: list[dict[str, Any]] = []
    for message in messages:
        role = message.get("role")
        if role == "developer":
            role = "system"
        if role not in ("system", "user", "assistant", "tool"):
            raise refuse(provider, f"messages with role {role!r} cannot be sent to Ollama")
        text, images = _content(provider, message.get("content"))
        out: dict[str, Any] = {"role": role, "content": text}
        if images:
            out["images"] = images
        if role == "assistant" and message.get("tool_calls"):
            out["tool_calls"] = [_call(provider, c, names) for c in message["tool_calls"]]
        if role == "tool":
            out["tool_name"] = names.get(str(message.get("tool_call_id")), "")
        result.append(out)
    return result


def _call(provider: str, call: dict[str, Any], names: dict[str, str]) -> dict[str, Any]:
    name = str((call.get("function") or {}).get("name", ""))
    names[str(call.get("id"))] = name
    return {"function": {"name": name, "arguments": call_arguments(call, provider)}}


def _content(provider: str, content: Any) -> tuple[str, list[str]]:
    if content is None or isinstance(content, str):
        return content or "", []
    texts: list[str] = []
    images: list[str] = []
    for part in content:
        if part.get("type") == "text":
            texts.append(str(part.get("text", "")))
        elif part.get("type") == "image_url":
            parsed = data_url(str((part.get("image_url") or {}).get("url", "")))
            if parsed is None:
                raise refuse(provider, "Ollama takes images as data: URLs (base64) only")
            images.append(parsed[1])
        else:
            raise refuse(
                provider, f"content parts of type {part.get('type')!r} cannot be sent to Ollama"
            )
    return "\n".join(texts), images
