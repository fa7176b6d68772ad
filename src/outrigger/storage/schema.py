"""SQLAlchemy Core tables. Every change comes with an Alembic migration in ``migrations/``."""

from __future__ import annotations

from sqlalchemy import Column, Float, Index, MetaData, String, Table

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
