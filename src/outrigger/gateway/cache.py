"""``DELETE /v1/cache``: a tenant forgets its own cached answers (and nobody else's)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Header, Request
from fastapi.responses import JSONResponse

from outrigger.gateway.caller import client_address
from outrigger.gateway.chat import proxy_error
from outrigger.gateway.openapi import error_responses
from outrigger.proxy.context import ProxyError
from outrigger.proxy.service import LlmProxy

router = APIRouter()


@router.get("/v1/cache/policy", response_model=None, responses=error_responses(401, 429, 503))
async def cache_policy(
    request: Request, authorization: str | None = Header(default=None)
) -> dict[str, Any] | JSONResponse:
    """The cache policy of each configured feature and of every other one (``default``): off,
    exact-only or semantic with its similarity floor, entry lifetime, and who shares an
    answer (``scope``). The same as each answer's ``X-Outrigger-Cache-Policy`` header."""
    proxy: LlmProxy = request.app.state.proxy
    try:
        await proxy.auth.tenant(authorization, client_address(request))
    except ProxyError as exc:
        return proxy_error(exc)
    settings = proxy.settings.cache
    if proxy.cache is None:
        return {
            "object": "cache.policy",
            "enabled": False,
            "default": {"mode": "off"},
            "features": {},
        }
    return {
        "object": "cache.policy",
        "enabled": True,
        "default": settings.policy("").as_dict(),
        "features": {name: settings.policy(name).as_dict() for name in sorted(settings.features)},
    }


@router.delete("/v1/cache", response_model=None, responses=error_responses(401, 429, 503))
async def purge_cache(
    request: Request, authorization: str | None = Header(default=None)
) -> dict[str, Any] | JSONResponse:
    """Delete every cached answer of the calling tenant."""
    proxy: LlmProxy = request.app.state.proxy
    try:
        tenant = await proxy.auth.tenant(authorization, client_address(request))
    except ProxyError as exc:
        return proxy_error(exc)
    if proxy.cache is None:
        return {"object": "cache.purge", "tenant": tenant.id, "deleted": 0, "enabled": False}
    deleted = await proxy.cache.count(tenant.id)
    await proxy.cache.purge(tenant.id)
    return {"object": "cache.purge", "tenant": tenant.id, "deleted": deleted, "enabled": True}
