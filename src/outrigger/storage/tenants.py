"""Tenants and their API keys.

A key is ``ork-<id>-<secret>``: the id is shown in listings (with the ``ork-<id>`` prefix),
the secret only once, at creation. Only the SHA-256 of the whole key is stored: keys are 256
random bits, so a fast hash is as safe as a slow one and keeps authentication off the CPU.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from outrigger.errors import OutriggerError
from outrigger.storage.db import Database
from outrigger.storage.schema import api_keys, tenants

KEY_PREFIX = "ork"
TENANT_ID = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,63}$")
ROLE = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,63}$")


class TenantError(OutriggerError):
    """A tenant or key command cannot be done (unknown tenant, duplicate id ...)."""


@dataclass(frozen=True)
class KeyLimits:
    """A key's own limits, within its tenant's (None: only the tenant's apply)."""

    rpm: int | None = None
    tpm: int | None = None
    budget_usd: float | None = None  # a month
    #: The model aliases the key may ask for; None: every alias.
    models: frozenset[str] | None = None

    def __bool__(self) -> bool:
        return any(v is not None for v in (self.rpm, self.tpm, self.budget_usd, self.models))

    def columns(self) -> dict[str, Any]:
        models = ",".join(sorted(self.models)) if self.models is not None else None
        return {
            "rpm": self.rpm,
            "tpm": self.tpm,
            "monthly_budget_usd": self.budget_usd,
            "models": models,
        }


def _limits(row: Any) -> KeyLimits | None:
    models = None if row.models is None else frozenset(m for m in row.models.split(",") if m)
    limits = KeyLimits(row.rpm, row.tpm, row.monthly_budget_usd, models)
    return limits or None


@dataclass(frozen=True)
class KeyInfo:
    id: str
    tenant_id: str
    prefix: str
    name: str
    created_at: float
    expires_at: float | None
    revoked_at: float | None
    roles: frozenset[str] = frozenset()
    limits: KeyLimits | None = None

    def status(self, now: float) -> str:
        if self.revoked_at is not None:
            return "revoked"
        if self.expires_at is not None and self.expires_at <= now:
            return "expired"
        return "active"


@dataclass(frozen=True)
class Tenant:
    id: str
    name: str
    tier: str
    region: str | None = None  # pinned: never served from another region
    #: The roles of the API key the call came with (not of the tenant as a whole).
    roles: frozenset[str] = frozenset()
    #: The id of that API key (None for calls made without one: pipelines).
    key_id: str | None = None
    #: The tenant's own monthly budget in USD (None: its tier's).
    budget_usd: float | None = None
    #: That API key's own limits (None: only the tenant's).
    key_limits: KeyLimits | None = None


def key_detail(info: KeyInfo) -> dict[str, Any]:
    """What the audit chain records about a new key (never the key): the same from the
    console and the CLI."""
    limits = info.limits.columns() if info.limits else {}
    return {
        "key": info.prefix,
        "name": info.name,
        "roles": sorted(info.roles),
        "expires_at": info.expires_at,
        "limits": {k: v for k, v in limits.items() if v is not None},
    }


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def roles_of(text: str | None) -> frozenset[str]:
    return frozenset(r for r in (text or "").split(",") if r)


TENANT_COLUMNS = (tenants.c.id, tenants.c.name, tenants.c.tier, tenants.c.region)
LIMIT_COLUMNS = (
    api_keys.c.rpm,
    api_keys.c.tpm,
    api_keys.c.monthly_budget_usd,
    api_keys.c.models,
)


def _tenant(row: Any) -> Tenant:
    return Tenant(id=row[0], name=row[1], tier=row[2], region=row[3], budget_usd=row[4])


class TenantStore:
    def __init__(self, db: Database, clock: Callable[[], float] = time.time) -> None:
        self.db = db
        self._clock = clock

    # -- tenants -------------------------------------------------------------------------
    def create_tenant(self, tenant: Tenant) -> Tenant:
        if not TENANT_ID.match(tenant.id):
            raise TenantError(f"tenant id {tenant.id!r}: use 1-64 of a-z 0-9 _ . - ")
        with self.db.engine.begin() as conn:
            if conn.execute(sa.select(tenants.c.id).where(tenants.c.id == tenant.id)).first():
                raise TenantError(f"tenant {tenant.id!r} already exists")
            conn.execute(
                tenants.insert().values(
                    id=tenant.id,
                    name=tenant.name,
                    tier=tenant.tier,
                    region=tenant.region,
                    created_at=self._clock(),
                    monthly_budget_usd=tenant.budget_usd,
                )
            )
        return tenant

    def get_tenant(self, tenant_id: str) -> Tenant | None:
        query = sa.select(*TENANT_COLUMNS, tenants.c.monthly_budget_usd).where(
            tenants.c.id == tenant_id
        )
        with self.db.engine.connect() as conn:
            row = conn.execute(query).first()
        return _tenant(row) if row else None

    def list_tenants(self) -> list[Tenant]:
        query = sa.select(*TENANT_COLUMNS, tenants.c.monthly_budget_usd)
        with self.db.engine.connect() as conn:
            return [_tenant(r) for r in conn.execute(query.order_by(tenants.c.id))]

    def set_budget(self, tenant_id: str, budget_usd: float | None) -> None:
        """The tenant's own monthly budget in USD (None: back to its tier's)."""
        with self.db.engine.begin() as conn:
            done = conn.execute(
                tenants.update()
                .where(tenants.c.id == tenant_id)
                .values(monthly_budget_usd=budget_usd)
            )
        if done.rowcount != 1:
            raise TenantError(f"no tenant {tenant_id!r}")

    def set_placement(self, tenant_id: str, tier: str, region: str | None) -> None:
        """The tenant's tier (its limits and quota) and the region it is pinned to."""
        with self.db.engine.begin() as conn:
            done = conn.execute(
                tenants.update().where(tenants.c.id == tenant_id).values(tier=tier, region=region)
            )
        if done.rowcount != 1:
            raise TenantError(f"no tenant {tenant_id!r}")

    # -- keys ----------------------------------------------------------------------------
    def create_key(
        self,
        tenant_id: str,
        name: str = "",
        expires_at: float | None = None,
        roles: frozenset[str] = frozenset(),
        limits: KeyLimits | None = None,
    ) -> tuple[str, KeyInfo]:
        """The new key (shown once, never stored) and what is stored about it."""
        if self.get_tenant(tenant_id) is None:
            raise TenantError(f"no tenant {tenant_id!r}")
        bad = sorted(r for r in roles if not ROLE.match(r))
        if bad:
            raise TenantError(f"roles {bad}: use 1-64 of a-z 0-9 _ . - each")
        key_id = secrets.token_hex(6)
        key = f"{KEY_PREFIX}-{key_id}-{secrets.token_urlsafe(32)}"
        info = KeyInfo(
            key_id,
            tenant_id,
            f"{KEY_PREFIX}-{key_id}",
            name,
            self._clock(),
            expires_at,
            None,
            frozenset(roles),
            limits or None,
        )
        with self.db.engine.begin() as conn:
            conn.execute(
                api_keys.insert().values(
                    id=info.id,
                    tenant_id=tenant_id,
                    prefix=info.prefix,
                    key_hash=hash_key(key),
                    name=name,
                    created_at=info.created_at,
                    expires_at=expires_at,
                    revoked_at=None,
                    roles=",".join(sorted(roles)) or None,
                    **(limits or KeyLimits()).columns(),
                )
            )
        return key, info

    def list_keys(self, tenant_id: str | None = None) -> list[KeyInfo]:
        query = sa.select(
            api_keys.c.id,
            api_keys.c.tenant_id,
            api_keys.c.prefix,
            api_keys.c.name,
            api_keys.c.created_at,
            api_keys.c.expires_at,
            api_keys.c.revoked_at,
            api_keys.c.roles,
            *LIMIT_COLUMNS,
        ).order_by(api_keys.c.created_at)
        if tenant_id is not None:
            query = query.where(api_keys.c.tenant_id == tenant_id)
        with self.db.engine.connect() as conn:
            return [
                KeyInfo(*row[:7], roles_of(row.roles), _limits(row)) for row in conn.execute(query)
            ]

    def revoke_key(self, key_id: str) -> bool:
        """True when the key existed and was active; revoking twice is harmless."""
        key_id = key_id.removeprefix(f"{KEY_PREFIX}-")
        with self.db.engine.begin() as conn:
            result = conn.execute(
                api_keys.update()
                .where(api_keys.c.id == key_id, api_keys.c.revoked_at.is_(None))
                .values(revoked_at=self._clock())
            )
        return result.rowcount == 1

    def authenticate(self, key: str) -> tuple[Tenant, float | None] | None:
        """The key's tenant and its expiry, or None for an unknown, revoked or expired key."""
        query = (
            sa.select(
                *TENANT_COLUMNS,
                tenants.c.monthly_budget_usd.label("tenant_budget"),
                api_keys.c.expires_at,
                api_keys.c.revoked_at,
                api_keys.c.roles,
                api_keys.c.id.label("key_id"),
                *LIMIT_COLUMNS,
            )
            .join(tenants, tenants.c.id == api_keys.c.tenant_id)
            .where(api_keys.c.key_hash == hash_key(key))
        )
        with self.db.engine.connect() as conn:
            row = conn.execute(query).first()
        if row is None or row.revoked_at is not None:
            return None
        if row.expires_at is not None and row.expires_at <= self._clock():
            return None
        tenant = Tenant(
            row.id,
            row.name,
            row.tier,
            row.region,
            roles_of(row.roles),
            row.key_id,
            row.tenant_budget,
            _limits(row),
        )
        return tenant, row.expires_at
