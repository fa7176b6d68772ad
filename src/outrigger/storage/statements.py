"""``INSERT … ON CONFLICT`` statements for the dialects that have it (SQLite, PostgreSQL),
shared by the stores that build their statements once at start-up."""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite


def conflict_insert(dialect: str, table: sa.Table) -> sqlite.Insert | postgresql.Insert | None:
    """An ``INSERT`` into ``table`` that takes ``ON CONFLICT``, or None for other dialects."""
    if dialect == "postgresql":
        return postgresql.insert(table)
    if dialect == "sqlite":
        return sqlite.insert(table)
    return None


def upsert(dialect: str, table: sa.Table, key: str, updated: Sequence[str]) -> sa.Insert:
    """``INSERT … ON CONFLICT (key) DO UPDATE`` of the ``updated`` columns (SQLite's form
    for every dialect but PostgreSQL)."""
    insert = conflict_insert(dialect, table)
    if insert is None:
        insert = sqlite.insert(table)
    return insert.on_conflict_do_update(
        index_elements=[key], set_={column: insert.excluded[column] for column in updated}
    )


def insert_skipping_duplicates(dialect: str, table: sa.Table, key: str) -> sa.Insert | None:
    """``INSERT … ON CONFLICT (key) DO NOTHING``, or None where the dialect lacks it."""
    insert = conflict_insert(dialect, table)
    return None if insert is None else insert.on_conflict_do_nothing(index_elements=[key])
