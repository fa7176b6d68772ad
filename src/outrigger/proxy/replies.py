"""Answers the proxy makes itself (fallbacks, cache hits, withheld outputs), as a whole
``chat.completion`` body or replayed as ``chat.completion.chunk`` events."""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

from outrigger.llm.types import Usage


def new_id(prefix: str = "chatcmpl-outrigger") -> str:
    """An answer id in OpenAI's style: ``<prefix>-<16 hex digits>``."""
    return f"{prefix}-{uuid.uuid4().hex[:16]}"


def completion_body(
    model: str, answer: str, usage: Usage | None = None, id_prefix: str = "chatcmpl-outrigger"
) -> dict[str, Any]:
    return {
        "id": new_id(id_prefix),
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": answer},
                "finish_reason": "stop",
            }
        ],
        "usage": (usage or Usage()).as_dict(),
    }


async def completion_chunks(body: dict[str, Any]) -> AsyncIterator[dict[str, Any]]:
    """A whole completion replayed as a stream: one content chunk per choice, the finish
    chunks, then the usage chunk (as OpenAI sends with ``include_usage``)."""
    base = {
        "id": body["id"] if "id" in body else new_id(),
        "object": "chat.completion.chunk",
        "created": body.get("created", int(time.time())),
        "model": body.get("model", ""),
    }
    choices = body.get("choices") or []
    for choice in choices:
        message = choice.get("message") or {}
        delta = {"role": "assistant", "content": message.get("content") or ""}
        if message.get("tool_calls"):
            delta["tool_calls"] = [
                {**call, "index": i} for i, call in enumerate(message["tool_calls"])
            ]
        yield {**base, "choices": [{"index": choice.get("index", 0), "delta": delta,
                                    "finish_reason": None}]}  # fmt: skip
    for choice in choices:
        finish = choice.get("finish_reason") or "stop"
        yield {**base, "choices": [{"index": choice.get("index", 0), "delta": {},
                                    "finish_reason": finish}]}  # fmt: skip
    yield {**base, "choices": [], "usage": body.get("usage") or Usage().as_dict()}


def with_new_id(body: dict[str, Any], id_prefix: str) -> dict[str, Any]:
    """A copy of a stored answer under a fresh id and timestamp."""
    return {
        **body,
        "id": new_id(id_prefix),
        "created": int(time.time()),
    }
