"""``/v1/audit/*``: the audit trail over HTTP, for keys with the ``auditor`` role only.

An auditor key reads the records of its own tenant (``records``, ``export``) and checks the
whole chain (``verify``: intact, or where it breaks; no record content). Every read is
written to the chain before anything is returned: who (the key's id), when, which range,
how many records. Without that write (the database refuses it) nothing is returned. The
``outrigger audit`` commands read the database directly with its credentials instead.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import JSONResponse, StreamingResponse

from outrigger.gateway.caller import client_address
from outrigger.gateway.chat import proxy_error
from outrigger.gateway.openapi import error_responses
from outrigger.proxy.context import (
    BadRequest,
    Forbidden,
    ProxyError,
    Unauthorized,
    Unavailable,
)
from outrigger.proxy.service import LlmProxy
from outrigger.storage.audit import Window, action_entry
from outrigger.storage.tenants import Tenant

AUDITOR = "auditor"
MAX_PAGE = 1000
MAX_SEQ = 2**63 - 1  # the largest sequence number a database integer holds
EXPORT_PAGE = 500

router = APIRouter()
log = logging.getLogger("outrigger.gateway.audit")


async def _auditor(request: Request, authorization: str | None) -> tuple[LlmProxy, Tenant]:
    proxy: LlmProxy | None = request.app.state.proxy
    if proxy is None:
        raise Unauthorized("this gateway has no LLM proxy to check API keys")
    tenant = await proxy.auth.tenant(authorization, client_address(request))
    if AUDITOR not in tenant.roles:
        raise Forbidden("the audit trail needs an API key with the 'auditor' role")
    return proxy, tenant


async def _record_read(
    proxy: LlmProxy, tenant: Tenant, action: str, detail: dict[str, Any]
) -> None:
    """Write the read to the chain now (not through the batching writer): no record, no data."""
    entry = action_entry(tenant.id, tenant.key_id, "audit", action, detail, "read")
    try:
        await proxy.db.run(proxy.audit.append, [entry])
    except Exception as exc:  # the database's words stay in the log, not in the answer
        log.error("audit read by key %s not recorded: %r", tenant.key_id, exc)
        raise Unavailable("the read could not be recorded in the audit trail") from exc


def _range(window: Window) -> dict[str, Any]:
    return {"after": window.after, "since": window.since, "until": window.until}


def _checked(window: Window) -> Window:
    if window.since is not None and window.until is not None and window.since > window.until:
        raise BadRequest("since must not be after until")
    return window


@router.get("/v1/audit/records", response_model=None, responses=error_responses(401, 403, 429, 503))
async def audit_records(
    request: Request,
    authorization: str | None = Header(default=None),
    after: int = Query(0, ge=0, le=MAX_SEQ, description="Only records after this sequence number."),
    since: float | None = Query(None, ge=0, description="Written at or after (Unix time)."),
    until: float | None = Query(None, ge=0, description="Written before (Unix time)."),
    limit: int = Query(100, ge=1, le=MAX_PAGE),
) -> dict[str, Any] | JSONResponse:
    """One page of the calling tenant's audit records in chain order; ``next_after``
    continues from where it ends."""
    try:
        proxy, tenant = await _auditor(request, authorization)
        window = _checked(Window(after, since, until))
        rows = await proxy.db.run(proxy.audit.page, tenant.id, window, limit + 1)
        page, more = rows[:limit], len(rows) > limit
        seqs = [r["seq"] for r in page]
        detail = {
            **_range(window),
            "limit": limit,
            "returned": len(page),
            "seqs": [seqs[0], seqs[-1]] if seqs else None,
        }
        await _record_read(proxy, tenant, "read", detail)
    except ProxyError as exc:
        return proxy_error(exc)
    return {
        "object": "list",
        "data": page,
        "has_more": more,
        "next_after": seqs[-1] if more else None,
    }


@router.get("/v1/audit/export", response_model=None, responses=error_responses(401, 403, 429, 503))
async def audit_export(
    request: Request,
    authorization: str | None = Header(default=None),
    after: int = Query(0, ge=0, le=MAX_SEQ),
    since: float | None = Query(None, ge=0),
    until: float | None = Query(None, ge=0),
) -> StreamingResponse | JSONResponse:
    """Every record of the calling tenant in the range, as JSON Lines in chain order. The
    read is recorded (with the range) before the first line is sent."""
    try:
        proxy, tenant = await _auditor(request, authorization)
        window = _checked(Window(after, since, until))
        await _record_read(proxy, tenant, "export", _range(window))
    except ProxyError as exc:
        return proxy_error(exc)
    return StreamingResponse(_lines(proxy, tenant.id, window), media_type="application/x-ndjson")


async def _lines(proxy: LlmProxy, tenant_id: str, window: Window) -> AsyncIterator[str]:
    while True:
        rows = await proxy.db.run(proxy.audit.page, tenant_id, window, EXPORT_PAGE)
        for row in rows:
            yield json.dumps(row, sort_keys=True) + "\n"
        if len(rows) < EXPORT_PAGE:
            return
        window = Window(rows[-1]["seq"], window.since, window.until)


@router.get("/v1/audit/verify", response_model=None, responses=error_responses(401, 403, 429, 503))
async def audit_verify(
    request: Request, authorization: str | None = Header(default=None)
) -> dict[str, Any] | JSONResponse:
    """Walk the whole hash chain: intact, or the first broken link (no record content)."""
    try:
        proxy, tenant = await _auditor(request, authorization)
        _, broken = await proxy.db.run(proxy.audit.verify)
        await _record_read(proxy, tenant, "verify", {"intact": broken is None})
    except ProxyError as exc:
        return proxy_error(exc)
    # No record count: the chain holds every tenant's records, and their number is not
    # this tenant's business (the sequence number of a broken link says little more).
    return {
        "object": "audit.verification",
        "intact": broken is None,
        "broken_at": broken.seq if broken else None,
        "reason": broken.reason if broken else None,
    }
