"""``outrigger tenants`` and ``outrigger keys``: who may call the LLM API, with which key."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import typer
from rich.table import Table

from outrigger.cli.changes import record_change
from outrigger.cli.common import fail, load_settings, out
from outrigger.proxy.service import proxy_database
from outrigger.storage.tenants import (
    KeyInfo,
    KeyLimits,
    Tenant,
    TenantError,
    TenantStore,
    key_detail,
)

tenants_app = typer.Typer(
    help="Tenants: id, tier (limits and quota), region, monthly budget.", no_args_is_help=True
)
keys_app = typer.Typer(help="API keys: shown once, stored as a hash.", no_args_is_help=True)


@contextmanager
def tenant_store() -> Iterator[TenantStore]:
    db = proxy_database(load_settings())
    try:
        yield TenantStore(db)
    finally:
        db.dispose()


def _chain(store: TenantStore, tenant_id: str, action: str, detail: Mapping[str, Any]) -> None:
    record_change(load_settings(), tenant_id, action, detail, store.db)


@tenants_app.command("create")
def create_tenant(
    tenant_id: str = typer.Argument(..., help="Stable id, e.g. acme-bank."),
    name: str = typer.Option("", help="Display name (default: the id)."),
    tier: str = typer.Option("free", help="A tier from tenancy.tiers (limits and quota)."),
    region: str | None = typer.Option(
        None, help="Pin to a region: only deployments there serve this tenant."
    ),
    budget: float | None = typer.Option(
        None, "--budget", min=0, help="Monthly budget in USD (default: the tier's)."
    ),
) -> None:
    """Add a tenant."""
    tiers = load_settings().tenancy.tiers
    if tier not in tiers:
        fail(f"no tier {tier!r}; configured tiers: {', '.join(sorted(tiers))}")
    with tenant_store() as store:
        try:
            store.create_tenant(
                Tenant(tenant_id, name or tenant_id, tier, region, budget_usd=budget)
            )
        except TenantError as exc:
            fail(str(exc))
        detail = {"tier": tier, "region": region, "budget_usd": budget}
        _chain(store, tenant_id, "tenant.create", detail)
    out.print(f"created tenant {tenant_id} (tier {tier}, region {region or 'any'})")


@tenants_app.command("budget")
def set_budget(
    tenant_id: str = typer.Argument(..., help="The tenant."),
    usd: float | None = typer.Option(
        None, "--usd", min=0, help="Monthly budget in USD; omit to use the tier's again."
    ),
) -> None:
    """Set a tenant's own monthly budget (an alert at tenancy.budgets.alert_at, a 429 once
    it is spent)."""
    with tenant_store() as store:
        try:
            store.set_budget(tenant_id, usd)
        except TenantError as exc:
            fail(str(exc))
        _chain(store, tenant_id, "tenant.budget", {"budget_usd": usd})
    shown = f"{usd:.2f} USD a month" if usd is not None else "the tier's budget"
    out.print(f"tenant {tenant_id}: {shown}")


@tenants_app.command("set")
def set_placement(
    tenant_id: str = typer.Argument(..., help="The tenant."),
    tier: str = typer.Option(..., help="A tier from tenancy.tiers (limits and quota)."),
    region: str | None = typer.Option(None, help="Pin to a region; omit for any region."),
) -> None:
    """Change a tenant's tier and region."""
    if tier not in load_settings().tenancy.tiers:
        fail(f"no tier {tier!r}")
    with tenant_store() as store:
        try:
            store.set_placement(tenant_id, tier, region)
        except TenantError as exc:
            fail(str(exc))
        _chain(store, tenant_id, "tenant.placement", {"tier": tier, "region": region})
    out.print(f"tenant {tenant_id}: tier {tier}, region {region or 'any'}")


@tenants_app.command("list")
def list_tenants() -> None:
    """List tenants."""
    with tenant_store() as store:
        rows = store.list_tenants()
    table = Table("id", "name", "tier", "region")
    for t in rows:
        table.add_row(t.id, t.name, t.tier, t.region or "any")
    out.print(table)


@keys_app.command("create")
def create_key(
    tenant: str = typer.Option(..., "--tenant", help="The tenant the key acts for."),
    name: str = typer.Option("", help="What the key is for (shown in listings)."),
    expires_in_days: float | None = typer.Option(None, min=0.001, help="Expire after N days."),
    role: list[str] = typer.Option(
        [],
        "--role",
        help="A role of the key's holder (repeatable); privacy policies "
        "re-hydrate PII only for the roles they name; 'auditor' reads the audit trail "
        "over HTTP (/v1/audit/*).",
    ),
    rpm: int | None = typer.Option(None, min=1, help="The key's own requests per minute."),
    tpm: int | None = typer.Option(None, min=1, help="The key's own tokens per minute."),
    budget: float | None = typer.Option(
        None, "--budget", min=0, help="The key's own monthly budget in USD."
    ),
    model: list[str] = typer.Option(
        [], "--model", help="A model alias the key may use (repeatable; default: every one)."
    ),
) -> None:
    """Create a key. It is printed once and never stored: copy it now. Its own limits
    (--rpm, --tpm, --budget, --model) apply within the tenant's."""
    expires = time.time() + expires_in_days * 86_400 if expires_in_days else None
    limits = KeyLimits(rpm, tpm, budget, frozenset(model) if model else None)
    with tenant_store() as store:
        try:
            key, info = store.create_key(tenant, name, expires, frozenset(role), limits)
        except TenantError as exc:
            fail(str(exc))
        _chain(store, tenant, "key.create", key_detail(info))
    out.print(f"key {info.prefix} for tenant {tenant} (shown once, store it safely):")
    print(key)


@keys_app.command("list")
def list_keys(
    tenant: str | None = typer.Option(None, "--tenant", help="Only this tenant's keys."),
    as_json: bool = typer.Option(False, "--json", help="One JSON object per key."),
) -> None:
    """List keys by prefix and status (never the key itself)."""
    now = time.time()
    with tenant_store() as store:
        keys = store.list_keys(tenant)
    if as_json:
        for k in keys:
            print(json.dumps({"id": k.id, "tenant": k.tenant_id, "prefix": k.prefix,
                              "name": k.name, "status": k.status(now),
                              "roles": sorted(k.roles), "limits": _limits(k)}))  # fmt: skip
        return
    table = Table("prefix", "tenant", "name", "roles", "limits", "status", "expires")
    for k in keys:
        expires = time.strftime("%Y-%m-%d %H:%M", time.gmtime(k.expires_at)) if k.expires_at else ""
        limits = " ".join(f"{n}={v}" for n, v in _limits(k).items())
        table.add_row(
            k.prefix, k.tenant_id, k.name, ",".join(sorted(k.roles)), limits, k.status(now), expires
        )
    out.print(table)


def _limits(key: KeyInfo) -> dict[str, object]:
    limits = key.limits
    if limits is None:
        return {}
    found: dict[str, object] = {
        "rpm": limits.rpm,
        "tpm": limits.tpm,
        "budget_usd": limits.budget_usd,
        "models": ",".join(sorted(limits.models)) if limits.models is not None else None,
    }
    return {n: v for n, v in found.items() if v is not None}


@keys_app.command("revoke")
def revoke_key(
    key_id: str = typer.Argument(..., help="The key's prefix, e.g. ork-1a2b3c4d5e6f."),
) -> None:
    """Revoke a key (gateways stop accepting it within tenancy.auth_cache_s)."""
    with tenant_store() as store:
        found = [k for k in store.list_keys() if k.id == key_id.removeprefix("ork-")]
        if not store.revoke_key(key_id):
            fail(f"no active key {key_id!r}")
        _chain(store, found[0].tenant_id, "key.revoke", {"key": found[0].prefix})
    out.print(f"revoked {key_id}")
