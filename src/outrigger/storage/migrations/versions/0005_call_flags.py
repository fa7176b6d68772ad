"""ledger rows and audit records carry the guard's marks of a call (injection flags)

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    for table in ("llm_calls", "audit_log"):
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column("flags", sa.String(200), nullable=True))


def downgrade() -> None:
    for table in ("audit_log", "llm_calls"):
        with op.batch_alter_table(table) as batch:
            batch.drop_column("flags")
