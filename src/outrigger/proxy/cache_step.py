"""The response cache in the proxy: exact, then verified semantic hits, per tenant.

It sits after the privacy step, so what it stores holds placeholders, never identifiers;
the digest of the replaced identifiers is part of the keys, so an answer about one person
is never served for a question about another. Hits cost nothing (no deployment); a
streamed request is answered from the cache as SSE. Only complete, successful answers
are stored (no fallbacks, no broken streams, no tool calls in a stream).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from outrigger.cache.request import CacheRequest
from outrigger.cache.semantic import SemanticCache
from outrigger.cache.settings import CachePolicy
from outrigger.llm.types import Usage
from outrigger.proxy.chain import Next
from outrigger.proxy.context import CallContext, Completion, Reply, Stream
from outrigger.proxy.replies import completion_chunks, with_new_id


class CacheStep:
    def __init__(self, cache: SemanticCache) -> None:
        self.cache = cache

    async def __call__(self, ctx: CallContext, call_next: Next) -> Reply:
        policy = self.cache.settings.policy(ctx.feature)
        ctx.cache_policy = policy.describe()
        if ctx.cache_bypass or not policy.enabled:
            ctx.cache = "bypass"
            return await call_next(ctx)
        request = cache_request(ctx, policy)
        hit = await self.cache.lookup(ctx.tenant.id, request)
        if hit is not None:
            ctx.cache = "hit"
            ctx.alias = ctx.alias or ctx.request.model
            ctx.model = str(hit.response.get("model") or "")
            ctx.usage = Usage.from_body(hit.response) or Usage()
            body = with_new_id(hit.response, "chatcmpl-cached")
            if ctx.request.stream:
                return Stream(completion_chunks(body))
            return Completion(body)
        ctx.cache = "miss"
        reply = await call_next(ctx)
        if isinstance(reply, Completion):
            if ctx.status == "ok":
                await self.cache.store(ctx.tenant.id, request, reply.body)
            return reply
        return Stream(self._store_when_done(ctx, request, reply.chunks))

    async def _store_when_done(
        self, ctx: CallContext, request: CacheRequest, chunks: AsyncIterator[dict[str, Any]]
    ) -> AsyncIterator[dict[str, Any]]:
        collected = _Collected()
        try:
            async for chunk in chunks:
                collected.add(chunk)
                yield chunk
        finally:
            await chunks.aclose()  # type: ignore[attr-defined]
        body = collected.body()
        if body is not None and ctx.status == "ok":
            await self.cache.store(ctx.tenant.id, request, body)


def cache_request(ctx: CallContext, policy: CachePolicy) -> CacheRequest:
    """The request as the cache keys it: with the digest of its personal data, and with the
    user it is for when the policy keeps its answers to that user."""
    params = dict(ctx.request.params)
    if ctx.pii_digest is not None:
        params["_pii"] = ctx.pii_digest
    if policy.scope == "user" or (policy.scope == "auto" and ctx.pii_digest is not None):
        params["_user"] = user_of(ctx)
    return CacheRequest(
        tenant=ctx.tenant.id,
        feature=ctx.feature,
        model=ctx.request.model,
        messages=ctx.request.messages,
        params=params,
    )


def user_of(ctx: CallContext) -> str:
    """The end user a request is for: the API key it came with, and within it OpenAI's
    ``user`` field when the caller sets it (two applications numbering their users alike,
    or a caller naming someone else's user, never meet). Pipelines have no key."""
    return f"key:{ctx.tenant.key_id or ''}|user:{ctx.end_user or ''}"


class _Collected:
    """A streamed answer put back together as a ``chat.completion`` body."""

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.finish: str | None = None
        self.usage: dict[str, Any] | None = None
        self.first: dict[str, Any] = {}
        self.cacheable = True

    def add(self, chunk: dict[str, Any]) -> None:
        self.first = self.first or chunk
        if isinstance(chunk.get("usage"), dict):
            self.usage = chunk["usage"]
        for choice in chunk.get("choices") or []:
            if choice.get("index", 0) != 0:
                self.cacheable = False  # n > 1: not worth rebuilding
                continue
            delta = choice.get("delta") or {}
            if delta.get("tool_calls") or delta.get("function_call"):
                self.cacheable = False
            if isinstance(delta.get("content"), str):
                self.parts.append(delta["content"])
            if choice.get("finish_reason"):
                self.finish = choice["finish_reason"]

    def body(self) -> dict[str, Any] | None:
        if not self.cacheable or self.finish is None:
            return None
        return {
            "id": self.first.get("id", "chatcmpl-outrigger"),
            "object": "chat.completion",
            "created": self.first.get("created", 0),
            "model": self.first.get("model", ""),
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": "".join(self.parts)},
                    "finish_reason": self.finish,
                }
            ],
            "usage": self.usage or Usage().as_dict(),
        }
