"""The LLM proxy as the pipelines' ``llm`` steps see it: the tenant comes from the event,
the feature is the pipeline, and failures become delivery errors (retry or dead-letter)."""

from __future__ import annotations

import time
from dataclasses import dataclass

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
from outrigger.proxy.service import LlmProxy
from outrigger.storage.tenants import Tenant

TENANT_CACHE_S = 30.0


@dataclass(frozen=True)
class LlmAnswer:
    text: str
    deployment: str | None
    model: str | None
    call_id: str


class PipelineLlm:
    def __init__(self, proxy: LlmProxy) -> None:
        self.proxy = proxy
        self._tenants: dict[str, tuple[Tenant, float]] = {}

    async def _tenant(self, tenant_id: str) -> Tenant:
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
        except (RateLimited, Unavailable) as exc:
            raise TransientError(f"llm: {exc}") from exc
        except QuotaExceeded as exc:
            raise PermanentError("quota_exceeded", f"llm: {exc}") from exc
        except ProxyError as exc:
            raise PermanentError(exc.code or "llm_refused", f"llm: {exc}") from exc
        assert isinstance(reply, Completion)  # pipelines never stream
        return LlmAnswer(completion_text(reply.body), ctx.deployment, ctx.model, ctx.call_id)
