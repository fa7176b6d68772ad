"""Embedding calls through the proxy's limits, ledger and audit (``POST /v1/embeddings``).

An embedding call is a metered call (``proxy/metered.py``): admitted by the same limit step
as a chat call, it runs the embedder in a worker thread and leaves one ledger row and one
audit record like any other AI call: the alias is the embedding model's id, the deployment
``local`` (cost 0) or the remote model's name (priced per million input tokens).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any, Protocol, runtime_checkable

from opentelemetry.context import Context

from outrigger.embeddings.base import Embedder, Vectors
from outrigger.embeddings.settings import EmbeddingSettings
from outrigger.errors import OutriggerError, TransientError
from outrigger.llm.types import ChatRequest, Usage, estimate_tokens
from outrigger.proxy.context import BadRequest, CallContext, ProxyError, Unavailable
from outrigger.proxy.metered import Done, metered
from outrigger.proxy.service import LlmProxy
from outrigger.storage.audit import sha256_text
from outrigger.storage.tenants import Tenant
from outrigger.utf8 import refusal, unencodable

LOCAL_DEPLOYMENT = "local"


class EmbeddingFailed(ProxyError):
    status, kind, code = 502, "server_error", "embedding_failed"


def model_names(embedder: Embedder, settings: EmbeddingSettings) -> frozenset[str]:
    """The names a caller may ask embeddings of: the embedder's id, and the remote model's."""
    return frozenset({embedder.model_id, *([settings.model] if settings.kind == "openai" else [])})


@runtime_checkable
class TokenCounter(Protocol):
    """An embedder that can say how many tokens its model reads (the local one can)."""

    def count_tokens(self, texts: Sequence[str]) -> int: ...


@dataclass(frozen=True)
class Embedded:
    vectors: Vectors
    model: str
    prompt_tokens: int
    call_id: str
    deployment: str


class EmbedCall:
    def __init__(self, proxy: LlmProxy, embedder: Embedder, settings: EmbeddingSettings) -> None:
        self.proxy = proxy
        self.embedder = embedder
        remote = settings.kind == "openai"
        self.deployment = settings.model if remote else LOCAL_DEPLOYMENT
        self.input_price = settings.input_price if remote else 0.0
        self.names = model_names(embedder, settings)

    async def __call__(
        self,
        tenant: Tenant,
        feature: str,
        texts: Sequence[str],
        trace_id: str | None = None,
        parent: Context | None = None,
    ) -> Embedded:
        """Embed ``texts`` for ``tenant``; ``ProxyError`` when refused or failed. ``parent``:
        the caller's trace context, which the call's span joins."""
        where = unencodable(list(texts), "input")
        if where is not None:  # the tokenizer and the prompt's hash would fail on it
            raise BadRequest(refusal(where))
        # One user message per input: the limit step estimates tokens from them (TPM).
        messages: list[dict[str, Any]] = [{"role": "user", "content": t} for t in texts]
        ctx = CallContext(
            tenant=tenant,
            feature=feature,
            request=ChatRequest(self.embedder.model_id, messages),
            trace_id=trace_id,
            parent=parent,
            fallback_answer=False,
        )
        prompt = sha256_text(json.dumps(list(texts), ensure_ascii=False))
        work = partial(self._work, texts)
        vectors, tokens = await metered(self.proxy, ctx, work, prompt, "embeddings")
        return Embedded(vectors, self.embedder.model_id, tokens, ctx.call_id, self.deployment)

    async def _work(self, texts: Sequence[str], ctx: CallContext) -> Done[tuple[Vectors, int]]:
        ctx.alias = self.embedder.model_id
        ctx.deployment = ctx.model = self.deployment
        vectors, tokens = await self._embed(texts)
        digest = hashlib.sha256(vectors.tobytes()).hexdigest()
        cost = tokens * self.input_price / 1e6
        return Done((vectors, tokens), Usage(tokens, 0), cost, digest)

    async def _embed(self, texts: Sequence[str]) -> tuple[Vectors, int]:
        try:
            return await asyncio.to_thread(self._embed_sync, texts)
        except TransientError as exc:
            raise Unavailable(f"embeddings: {exc}") from exc
        except OutriggerError as exc:
            raise EmbeddingFailed(f"embeddings: {exc}") from exc

    def _embed_sync(self, texts: Sequence[str]) -> tuple[Vectors, int]:
        vectors = self.embedder.embed(texts)
        if isinstance(self.embedder, TokenCounter):
            return vectors, self.embedder.count_tokens(texts)
        return vectors, sum(estimate_tokens(t) for t in texts)
