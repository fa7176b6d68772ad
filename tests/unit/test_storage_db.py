from pathlib import Path

import sqlalchemy as sa

from outrigger.storage.db import Database, normalise_url


def test_postgres_urls_use_psycopg3() -> None:
    assert normalise_url("postgresql://u:p@h/db") == "postgresql+psycopg://u:p@h/db"
    assert normalise_url("postgresql+psycopg2://u@h/db") == "postgresql+psycopg://u@h/db"
    assert normalise_url("sqlite:///x.db") == "sqlite:///x.db"


def test_sqlite_migrations_are_idempotent_and_create_parent(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "dir" / "db.sqlite3"
    db = Database(f"sqlite:///{path}")
    db.upgrade()
    db.upgrade()
    assert path.exists()
    with db.engine.connect() as conn:
        assert (
            conn.execute(sa.text("select version_num from alembic_version")).scalar_one() == "0001"
        )
        tables = set(sa.inspect(conn).get_table_names())
    assert {"idempotency_keys", "alembic_version"} <= tables
    db.dispose()
