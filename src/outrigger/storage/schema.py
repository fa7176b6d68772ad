"""SQLAlchemy Core tables. Every change comes with an Alembic migration in ``migrations/``."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
)

# Deterministic constraint names, identical on SQLite and PostgreSQL, so a later migration can
# drop or alter a constraint by name (SQLite batch mode needs the names too).
metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_name)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

idempotency_keys = Table(
    "idempotency_keys",
    metadata,
    Column("key", String(128), primary_key=True),
    Column("value", String(256), nullable=False),
    Column("created_at", Float, nullable=False),
    Column("expires_at", Float, nullable=False),
    Index("ix_idempotency_keys_expires_at", "expires_at"),
)

tenants = Table(
    "tenants",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("tier", String(64), nullable=False),
    Column("region", String(64), nullable=True),  # None: may be served from any region
    Column("created_at", Float, nullable=False),
    # USD a month; None: the tier's budget (revision 0006)
    Column("monthly_budget_usd", Float, nullable=True),
)

api_keys = Table(
    "api_keys",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("tenant_id", String(64), ForeignKey("tenants.id"), nullable=False),
    Column("prefix", String(32), nullable=False),  # shown in listings; not enough to log in
    Column("key_hash", String(64), nullable=False, unique=True),  # sha256 of the whole key
    Column("name", String(200), nullable=False),
    Column("created_at", Float, nullable=False),
    Column("expires_at", Float, nullable=True),
    Column("revoked_at", Float, nullable=True),
    # Comma-separated roles of the key's holder (e.g. ``clinician``): privacy policies
    # re-hydrate PII only for callers holding one of the roles they name.
    Column("roles", String(500), nullable=True),
    # The key's own limits within the tenant's (revision 0006); None: only the tenant's.
    Column("rpm", Integer, nullable=True),
    Column("tpm", Integer, nullable=True),
    Column("monthly_budget_usd", Float, nullable=True),
    Column("models", String(1000), nullable=True),  # comma-separated aliases it may ask for
    Index("ix_api_keys_tenant_id", "tenant_id"),
)

llm_calls = Table(
    "llm_calls",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("ts", Float, nullable=False),
    Column("month", String(7), nullable=False),  # YYYY-MM (UTC), for quotas and reports
    Column("tenant_id", String(64), nullable=False),
    Column("feature", String(128), nullable=False),
    Column("alias", String(128), nullable=False),
    Column("deployment", String(128), nullable=True),  # None: no deployment answered
    Column("tokens_in", Integer, nullable=False),
    Column("tokens_out", Integer, nullable=False),
    Column("cost_usd", Float, nullable=False),
    Column("latency_ms", Float, nullable=False),
    Column("cache", String(16), nullable=False),  # hit | miss | bypass
    Column("status", String(16), nullable=False),  # ok | fallback | error
    Column("trace_id", String(32), nullable=True),
    Column("flags", String(200), nullable=True),  # guard marks (revision 0005)
    Column("key_id", String(32), nullable=True),  # the API key (revision 0006); None: pipelines
    Index("ix_llm_calls_tenant_id", "tenant_id", "month"),
)

#: The audit chain's sequence number (revision 0008).
AUDIT_SEQ = BigInteger().with_variant(Integer(), "sqlite")

audit_log = Table(
    "audit_log",
    metadata,
    # 64-bit: a 32-bit sequence ends at 2**31 records (25 days at 1,000 calls/s). SQLite's
    # INTEGER is 64-bit already (and stays the rowid).
    Column("seq", AUDIT_SEQ, primary_key=True, autoincrement=False),
    Column("ts", Float, nullable=False),
    Column("call_id", String(32), nullable=False),
    Column("tenant_id", String(64), nullable=False),
    Column("feature", String(128), nullable=False),
    Column("alias", String(128), nullable=False),
    Column("deployment", String(128), nullable=True),
    Column("model", String(200), nullable=True),
    Column("prompt_hash", String(64), nullable=False),
    Column("response_hash", String(64), nullable=False),
    Column("tokens_in", Integer, nullable=False),
    Column("tokens_out", Integer, nullable=False),
    Column("cost_usd", Float, nullable=False),
    Column("status", String(16), nullable=False),
    Column("trace_id", String(32), nullable=True),
    Column("prev_hash", String(64), nullable=False),
    Column("hash", String(64), nullable=False),
    # Added in revision 0004; hashed only when set, so older records keep their hashes.
    Column("actor", String(64), nullable=True),
    Column("detail", String(1000), nullable=True),
    # Added in revision 0005, hashed only when set: the guard's marks of the call.
    Column("flags", String(200), nullable=True),
)

# Sealed pseudonymisation vaults of async pipelines (outrigger.privacy.stores).
privacy_vaults = Table(
    "privacy_vaults",
    metadata,
    Column("vault_id", String(128), primary_key=True),
    Column("sealed", LargeBinary, nullable=False),
    Column("created_at", Float, nullable=False),
    Column("expires_at", Float, nullable=False),
    Index("ix_privacy_vaults_expires_at", "expires_at"),
)

# Sessions of the operator's web console (outrigger.console.sessions): only the SHA-256 of
# the session id is kept, so a copy of this table signs nobody in.
console_sessions = Table(
    "console_sessions",
    metadata,
    Column("id_hash", String(64), primary_key=True),
    Column("key_id", String(32), nullable=False),  # the API key it was opened with
    Column("created_at", Float, nullable=False),
    Column("expires_at", Float, nullable=False),  # absolute end, whatever the activity
    Column("last_seen", Float, nullable=False),  # for the idle timeout
    Index("ix_console_sessions_expires_at", "expires_at"),
)
