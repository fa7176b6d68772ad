"""The LLM proxy as the pipelines' ``llm`` and ``embed`` steps see it: the tenant comes from
the event, the feature is the pipeline, and failures become delivery errors (retry or
dead-letter)."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

from opentelemetry.context import Context

from outrigger.embeddings.base import Embedder, Vectors
from outrigger.errors import PermanentError, TransientError
from outrigger.llm.types import ChatRequest, completion_text
from outrigger.proxy.context import (
    CallContext,
    Completion,
    ProxyError,
    QuotaExceeded,
    RateLimited,
    Unavailable,
)
from outrigger.proxy.embed_call import EmbedCall, EmbeddingFailed
from outrigger.proxy.service import LlmProxy
from outrigger.storage.tenants import Tenant

TENANT_CACHE_S = 30.0


@dataclass(frozen=True)
class LlmAnswer:
    text: str
    deployment: str | None
    model: str | None
    call_id: str
    #: The guard's marks of the call (``injection``: the event's text was flagged).
    flags: tuple[str, ...] = ()


class TenantLookup:
    """The tenant a pipeline call is made for, read from the database and kept 30 s."""

    def __init__(self, proxy: LlmProxy) -> None:
        self.proxy = proxy
        self._tenants: dict[str, tuple[Tenant, float]] = {}

    async def __call__(self, tenant_id: str) -> Tenant:
        cached = self._tenants.get(tenant_id)
        if cached is not None and cached[1] > time.monotonic():
            return cached[0]
        tenant = await self.proxy.db.run(self.proxy.tenants.get_tenant, tenant_id)
        if tenant is None:
            raise PermanentError(
                "unknown_tenant", f"no tenant {tenant_id!r} (outrigger tenants create)"
            )
        self._tenants[tenant_id] = (tenant, time.monotonic() + TENANT_CACHE_S)
        return tenant


def delivery_error(exc: ProxyError, what: str) -> TransientError | PermanentError:
    """A refused or failed proxy call as a delivery error: retry what may pass later (rate
    limits, unavailable providers), dead-letter the rest."""
    if isinstance(exc, RateLimited | Unavailable):
        return TransientError(f"{what}: {exc}")
    if isinstance(exc, QuotaExceeded):
        return PermanentError("quota_exceeded", f"{what}: {exc}")
    return PermanentError(exc.code or f"{what}_refused", f"{what}: {exc}")


class PipelineLlm:
    def __init__(self, proxy: LlmProxy) -> None:
        self.proxy = proxy
        self._tenant = TenantLookup(proxy)

    async def complete(
        self, tenant_id: str, feature: str, request: ChatRequest, trace_id: str | None = None
    ) -> LlmAnswer:
        """One answer, never the graceful fallback text: an event deserves a real result
        or a retry, so an unavailable provider is a transient error."""
        ctx = CallContext(
            tenant=await self._tenant(tenant_id),
            feature=feature,
            request=request,
            trace_id=trace_id,
            fallback_answer=False,
        )
        try:
            reply = await self.proxy.call(ctx)
        except ProxyError as exc:
            raise delivery_error(exc, "llm") from exc
        assert isinstance(reply, Completion)  # pipelines never stream
        return LlmAnswer(
            completion_text(reply.body), ctx.deployment, ctx.model, ctx.call_id, tuple(ctx.flags)
        )


class PipelineEmbeddings:
    """The proxy's embeddings as ``embed`` steps see them: each tenant's texts are one call
    through the limits, the ledger and the audit trail, like ``POST /v1/embeddings``."""

    def __init__(self, proxy: LlmProxy, embedder: Embedder) -> None:
        self.call = EmbedCall(proxy, embedder, proxy.settings.embeddings)
        self._tenant = TenantLookup(proxy)

    async def embed(
        self,
        tenant_id: str,
        feature: str,
        texts: Sequence[str],
        trace_id: str | None = None,
        parent: Context | None = None,
    ) -> Vectors:
        """The vectors of ``texts``; a failed embedding (a remote provider's refusal, say) is
        retried like an unavailable LLM, not dead-lettered at once."""
        tenant = await self._tenant(tenant_id)
        try:
            done = await self.call(tenant, feature, texts, trace_id, parent)
        except EmbeddingFailed as exc:
            raise TransientError(f"embeddings: {exc}") from exc
        except ProxyError as exc:
            raise delivery_error(exc, "embeddings") from exc
        return done.vectors
