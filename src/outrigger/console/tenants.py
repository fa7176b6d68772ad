"""Tenants and keys: list, create, revoke, tier, region, budget. Each change is chained in
the audit trail the way the CLI chains it (``AuditStore.record_action``)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from outrigger.console.deps import ConsoleDeps
from outrigger.console.figures import month_start
from outrigger.console.sessions import Session
from outrigger.console.web import Refused, changing, deps_of, render, require_operator, session_of
from outrigger.storage.tenants import KeyLimits, Tenant, TenantError, key_detail

router = APIRouter()
#: The console's roles, offered as check boxes; others (those privacy policies name) are
#: typed in, comma-separated.
KEY_ROLES = ("admin", "auditor", "viewer")


async def _page(request: Request, session: Session, status: int = 200, **extra: Any) -> Response:
    deps = deps_of(request)
    db, store = deps.proxy.db, deps.proxy.tenants
    tenants = [t for t in await db.run(store.list_tenants) if session.sees(t.id)]
    keys = await db.run(store.list_keys, None if session.operator else session.tenant_id)
    now = time.time()
    spent = await db.run(deps.reports.spend_by_tenant, month_start(now), now + 1)
    spend = {t.id: spent.get(t.id, 0.0) for t in tenants}
    return render(
        request, "tenants.html", session, status, tenants=tenants, keys=keys, spend=spend,
        now=now, tiers=sorted(deps.settings.tenancy.tiers), key_roles=KEY_ROLES, **extra,
    )  # fmt: skip


@router.get("/console/tenants", include_in_schema=False)
async def tenants_page(request: Request, session: Session = Depends(session_of)) -> Response:
    return await _page(request, session)


async def _do(deps: ConsoleDeps, change: Callable[[], Any]) -> Any:
    """Make the change on the database threads; the store's refusal becomes a 400."""
    try:
        return await deps.proxy.db.run(change)
    except TenantError as exc:
        raise Refused(400, str(exc)) from exc


async def audited(
    deps: ConsoleDeps, session: Session, tenant_id: str, action: str, detail: dict[str, Any]
) -> None:
    audit = deps.proxy.audit
    await deps.proxy.db.run(audit.record_action, tenant_id, session.actor, action, detail)


def _tier(deps: ConsoleDeps, form: dict[str, str]) -> str:
    tier = form.get("tier", "")
    if tier not in deps.settings.tenancy.tiers:
        raise Refused(400, f"no tier {tier!r}")
    return tier


def _money(text: str | None, what: str = "an amount in USD") -> float | None:
    """A number of at least 0 from a form field (empty: None)."""
    if not text:
        return None
    try:
        value = float(text)
    except ValueError as exc:
        raise Refused(400, f"not {what}: {text!r}") from exc
    if not 0 <= value < float("inf"):  # negative, NaN or infinite
        raise Refused(400, f"{what} must be a positive number")
    return value


@router.post("/console/tenants", include_in_schema=False)
async def create_tenant(request: Request, session: Session = Depends(session_of)) -> Response:
    form = await changing(request, session)
    require_operator(session)
    deps = deps_of(request)
    tenant = Tenant(
        form.get("id", "").strip(), form.get("name", "").strip() or form.get("id", ""),
        _tier(deps, form), form.get("region") or None, budget_usd=_money(form.get("budget")),
    )  # fmt: skip
    detail = {"tier": tenant.tier, "region": tenant.region, "budget_usd": tenant.budget_usd}
    await _do(deps, lambda: deps.proxy.tenants.create_tenant(tenant))
    await audited(deps, session, tenant.id, "tenant.create", detail)
    return await _page(request, session, message=f"created tenant {tenant.id}")


@router.post("/console/tenants/{tenant_id}", include_in_schema=False)
async def update_tenant(
    tenant_id: str, request: Request, session: Session = Depends(session_of)
) -> Response:
    """Tier, region and budget of one tenant (operator admins only: they set its limits)."""
    form = await changing(request, session)
    require_operator(session)
    deps = deps_of(request)
    store = deps.proxy.tenants
    tier, region, budget = _tier(deps, form), form.get("region") or None, _money(form.get("budget"))
    await _do(deps, lambda: store.set_placement(tenant_id, tier, region))
    await audited(deps, session, tenant_id, "tenant.placement", {"tier": tier, "region": region})
    await _do(deps, lambda: store.set_budget(tenant_id, budget))
    await audited(deps, session, tenant_id, "tenant.budget", {"budget_usd": budget})
    return await _page(request, session, message=f"updated tenant {tenant_id}")


@router.post("/console/keys", include_in_schema=False)
async def create_key(request: Request, session: Session = Depends(session_of)) -> Response:
    form = await changing(request, session)
    tenant_id = form.get("tenant", "")
    if not session.sees(tenant_id):
        raise Refused(403, "a key of this tenant cannot create keys for another")
    roles = frozenset(r for r in KEY_ROLES if form.get(f"role_{r}")) | frozenset(
        r.strip() for r in form.get("roles", "").split(",") if r.strip()
    )
    limits = KeyLimits(_count(form.get("rpm")), _count(form.get("tpm")), _money(form.get("budget")),
                       _models(form.get("models")))  # fmt: skip
    deps = deps_of(request)
    name = form.get("name", "")[:200]
    days = _money(form.get("expires_days"), "a number of days")
    expires = time.time() + days * 86_400 if days else None
    key, info = await _do(
        deps, lambda: deps.proxy.tenants.create_key(tenant_id, name, expires, roles, limits)
    )
    await audited(deps, session, tenant_id, "key.create", key_detail(info))
    message = f"created key {info.prefix}; copy it now, it is shown once"
    return await _page(request, session, new_key=key, new_key_info=info, message=message)


def _count(text: str | None) -> int | None:
    if not text:
        return None
    if not text.isdigit() or int(text) < 1:
        raise Refused(400, f"not a positive whole number: {text!r}")
    return int(text)


def _models(text: str | None) -> frozenset[str] | None:
    names = frozenset(m.strip() for m in (text or "").split(",") if m.strip())
    return names or None


@router.post("/console/keys/{key_id}/revoke", include_in_schema=False)
async def revoke_key(
    key_id: str, request: Request, session: Session = Depends(session_of)
) -> Response:
    await changing(request, session)
    deps = deps_of(request)
    key_id = key_id.removeprefix("ork-")
    keys = await deps.proxy.db.run(deps.proxy.tenants.list_keys, None)
    found = next((k for k in keys if k.id == key_id and session.sees(k.tenant_id)), None)
    if found is None:
        raise Refused(404, f"no key ork-{key_id} here")
    revoked = await _do(deps, lambda: deps.proxy.tenants.revoke_key(key_id))
    if not revoked:
        raise Refused(409, f"{found.prefix} is not active")
    await audited(deps, session, found.tenant_id, "key.revoke", {"key": found.prefix})
    message = f"revoked {found.prefix}"
    return await _page(request, session, message=message)
