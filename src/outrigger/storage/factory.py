"""Build stores from a URL: ``memory://`` or any SQLAlchemy URL (SQLite, PostgreSQL)."""

from __future__ import annotations

from outrigger.storage.base import IdempotencyStore
from outrigger.storage.db import Database
from outrigger.storage.memory import MemoryIdempotencyStore
from outrigger.storage.sql import SqlIdempotencyStore


def open_database(url: str) -> Database:
    """A database with its migrations applied."""
    db = Database(url)
    db.upgrade()
    return db


def open_idempotency_store(url: str | None, ttl_s: float) -> IdempotencyStore:
    if url is None or url == "memory://":
        return MemoryIdempotencyStore(ttl_s)
    return SqlIdempotencyStore(open_database(url), ttl_s)
