"""``outrigger tenants`` and ``outrigger keys``: who may call the LLM API, with which key."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager

import typer
from rich.table import Table

from outrigger.cli.common import fail, load_settings, out
from outrigger.proxy.service import proxy_database
from outrigger.storage.tenants import Tenant, TenantError, TenantStore

tenants_app = typer.Typer(
    help="Tenants: id, tier (limits and quota), region.", no_args_is_help=True
)
keys_app = typer.Typer(help="API keys: shown once, stored as a hash.", no_args_is_help=True)


@contextmanager
def tenant_store() -> Iterator[TenantStore]:
    db = proxy_database(load_settings())
    try:
        yield TenantStore(db)
    finally:
        db.dispose()


@tenants_app.command("create")
def create_tenant(
    tenant_id: str = typer.Argument(..., help="Stable id, e.g. acme-bank."),
    name: str = typer.Option("", help="Display name (default: the id)."),
    tier: str = typer.Option("free", help="A tier from tenancy.tiers (limits and quota)."),
    region: str | None = typer.Option(
        None, help="Pin to a region: only deployments there serve this tenant."
    ),
) -> None:
    """Add a tenant."""
    tiers = load_settings().tenancy.tiers
    if tier not in tiers:
        fail(f"no tier {tier!r}; configured tiers: {', '.join(sorted(tiers))}")
    with tenant_store() as store:
        try:
            store.create_tenant(Tenant(tenant_id, name or tenant_id, tier, region))
        except TenantError as exc:
            fail(str(exc))
    out.print(f"created tenant {tenant_id} (tier {tier}, region {region or 'any'})")


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
) -> None:
    """Create a key. It is printed once and never stored: copy it now."""
    expires = time.time() + expires_in_days * 86_400 if expires_in_days else None
    with tenant_store() as store:
        try:
            key, info = store.create_key(tenant, name, expires, frozenset(role))
        except TenantError as exc:
            fail(str(exc))
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
                              "roles": sorted(k.roles)}))  # fmt: skip
        return
    table = Table("prefix", "tenant", "name", "roles", "status", "expires")
    for k in keys:
        expires = time.strftime("%Y-%m-%d %H:%M", time.gmtime(k.expires_at)) if k.expires_at else ""
        table.add_row(
            k.prefix, k.tenant_id, k.name, ",".join(sorted(k.roles)), k.status(now), expires
        )
    out.print(table)


@keys_app.command("revoke")
def revoke_key(
    key_id: str = typer.Argument(..., help="The key's prefix, e.g. ork-1a2b3c4d5e6f."),
) -> None:
    """Revoke a key (gateways stop accepting it within tenancy.auth_cache_s)."""
    with tenant_store() as store:
        if not store.revoke_key(key_id):
            fail(f"no active key {key_id!r}")
    out.print(f"revoked {key_id}")
