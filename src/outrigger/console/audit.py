"""The audit trail, for keys with the ``auditor`` role: browse, verify the chain, export a
range. Every read is chained before anything is shown, as over ``/v1/audit/*``. An
auditor of the operator tenant reads every tenant's records (and the deployment's);
any other auditor its own tenant's."""

from __future__ import annotations

import calendar
import json
import time
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response, StreamingResponse

from outrigger.console.deps import ConsoleDeps
from outrigger.console.sessions import Session
from outrigger.console.web import HEADERS, Refused, deps_of, render, require_role, session_of
from outrigger.storage.audit import Window, action_entry

router = APIRouter()
PAGE = 100
EXPORT_PAGE = 500


def _day(text: str | None, end: bool = False) -> float | None:
    """A date (YYYY-MM-DD, UTC) as Unix time: its start, or the next day's for ``end``."""
    if not text:
        return None
    try:
        start = calendar.timegm(time.strptime(text, "%Y-%m-%d"))
    except ValueError as exc:
        raise Refused(400, f"not a date (YYYY-MM-DD): {text!r}") from exc
    return float(start + (86_400 if end else 0))


def _scope(session: Session, tenant: str | None) -> str | None:
    """The tenant whose records are read (None: every tenant, operator auditors only)."""
    require_role(session, "auditor")
    if session.operator:
        return tenant or None
    if tenant and tenant != session.tenant_id:
        raise Refused(403, "an auditor of this tenant reads only its own records")
    return session.tenant_id


async def _chain_read(
    deps: ConsoleDeps, session: Session, action: str, detail: dict[str, Any]
) -> None:
    """No record of the read, no data (the same rule as the HTTP API's)."""
    entry = action_entry(session.tenant_id, session.actor, "audit", action,
                         {"via": "console", **detail}, "read")  # fmt: skip
    await deps.proxy.db.run(deps.proxy.audit.append, [entry])


@router.get("/console/audit", include_in_schema=False)
async def audit_page(
    request: Request,
    session: Session = Depends(session_of),
    tenant: str | None = Query(None, max_length=64),
    after: int = Query(0, ge=0, le=2**63 - 1),
) -> Response:
    scope = _scope(session, tenant)
    deps = deps_of(request)
    rows = await deps.proxy.db.run(deps.proxy.audit.page, scope, Window(after), PAGE + 1)
    page, more = rows[:PAGE], len(rows) > PAGE
    await _chain_read(deps, session, "read", {"tenant": scope, "after": after,
                                              "returned": len(page)})  # fmt: skip
    return render(request, "audit.html", session, records=page, tenant=scope or "",
                  next_after=page[-1]["seq"] if more else None, verdict=None)  # fmt: skip


@router.get("/console/audit/verify", include_in_schema=False)
async def verify(request: Request, session: Session = Depends(session_of)) -> Response:
    require_role(session, "auditor")
    deps = deps_of(request)
    checked, broken = await deps.proxy.db.run(deps.proxy.audit.verify)
    await _chain_read(deps, session, "verify", {"intact": broken is None})
    verdict = {"intact": broken is None, "broken_at": broken.seq if broken else None,
               "reason": broken.reason if broken else None,
               "checked": checked if session.operator else None}  # fmt: skip
    return render(request, "audit.html", session, records=[], tenant="", next_after=None,
                  verdict=verdict)  # fmt: skip


@router.get("/console/audit/export", include_in_schema=False)
async def export(
    request: Request,
    session: Session = Depends(session_of),
    tenant: str | None = Query(None, max_length=64),
    since: str | None = Query(None, max_length=10),
    until: str | None = Query(None, max_length=10),
) -> Response:
    """JSON Lines of the range's records (dates inclusive, UTC), chained before the first."""
    scope = _scope(session, tenant)
    window = Window(0, _day(since), _day(until, end=True))
    deps = deps_of(request)
    await _chain_read(deps, session, "export", {"tenant": scope, "since": window.since,
                                                "until": window.until})  # fmt: skip
    headers = {**HEADERS, "Content-Disposition": 'attachment; filename="audit.jsonl"'}
    return StreamingResponse(_lines(deps, scope, window), media_type="application/x-ndjson",
                             headers=headers)  # fmt: skip


async def _lines(deps: ConsoleDeps, tenant: str | None, window: Window) -> AsyncIterator[str]:
    while True:
        rows = await deps.proxy.db.run(deps.proxy.audit.page, tenant, window, EXPORT_PAGE)
        for row in rows:
            yield json.dumps(row, sort_keys=True) + "\n"
        if len(rows) < EXPORT_PAGE:
            return
        window = Window(rows[-1]["seq"], window.since, window.until)
