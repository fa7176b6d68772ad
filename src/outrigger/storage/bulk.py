"""Batch inserts for the background writers (ledger rows, audit records).

On SQLite a batch goes in as one multi-row ``INSERT ... VALUES (...), (...)`` per chunk, run
as the driver's own SQL: SQLAlchemy's executemany costs Python work per row, and the sqlite3
driver releases and retakes the GIL around every row it steps, so a flush of a few hundred
rows used to hand the GIL back and forth with the event loop a few hundred times. Other
dialects (PostgreSQL: SQLAlchemy already sends batches as multi-row statements) go through
SQLAlchemy Core unchanged.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection

# SQLite's bound-variable limit: 32766 since 3.32, 999 before.
_SQLITE_VARIABLES = 32_766 if sqlite3.sqlite_version_info >= (3, 32) else 999
_MAX_ROWS = 500  # rows per statement (keeps each statement's text small)


def insert_rows(
    conn: Connection,
    table: sa.Table,
    rows: Sequence[Mapping[str, Any]],
    *,
    skip_duplicates_of: str | None = None,
    fallback: sa.Insert | None = None,
) -> None:
    """Insert ``rows`` (dicts keyed by column name). ``skip_duplicates_of`` names the key
    column whose clashes are skipped (``ON CONFLICT (...) DO NOTHING``); off SQLite
    ``fallback`` (default: a plain insert of ``table``) runs with the rows instead."""
    if not rows:
        return
    if conn.dialect.name != "sqlite":
        conn.execute(fallback if fallback is not None else table.insert(), list(rows))
        return
    columns = [c.name for c in table.columns]
    quote = conn.dialect.identifier_preparer.quote
    head = f"INSERT INTO {quote(table.name)} ({', '.join(map(quote, columns))}) VALUES "
    tail = f" ON CONFLICT ({quote(skip_duplicates_of)}) DO NOTHING" if skip_duplicates_of else ""
    one = "(" + ", ".join("?" * len(columns)) + ")"
    per_statement = max(1, min(_MAX_ROWS, _SQLITE_VARIABLES // len(columns)))
    for start in range(0, len(rows), per_statement):
        chunk = rows[start : start + per_statement]
        params = [row[c] for row in chunk for c in columns]
        conn.exec_driver_sql(head + ", ".join([one] * len(chunk)) + tail, tuple(params))
