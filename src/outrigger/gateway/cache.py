"""``DELETE /v1/cache``: a tenant forgets its own cached answers (and nobody else's)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Header, Request
from fastapi.responses import JSONResponse

from outrigger.gateway.chat import proxy_error
from outrigger.gateway.openapi import error_responses
from outrigger.proxy.context import ProxyError
from outrigger.proxy.service import LlmProxy

router = APIRouter()


@router.delete("/v1/cache", response_model=None, responses=error_responses(401))
async def purge_cache(
    request: Request, authorization: str | None = Header(default=None)
) -> dict[str, Any] | JSONResponse:
    """Delete every cached answer of the calling tenant."""
    proxy: LlmProxy = request.app.state.proxy
    try:
        tenant = await proxy.auth.tenant(authorization)
    except ProxyError as exc:
        return proxy_error(exc)
    if proxy.cache is None:
        return {"object": "cache.purge", "tenant": tenant.id, "deleted": 0, "enabled": False}
    deleted = await proxy.cache.count(tenant.id)
    await proxy.cache.purge(tenant.id)
    return {"object": "cache.purge", "tenant": tenant.id, "deleted": deleted, "enabled": True}
