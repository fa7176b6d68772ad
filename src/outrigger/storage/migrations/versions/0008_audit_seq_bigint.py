"""the audit chain's sequence number is 64-bit on PostgreSQL (it was a 32-bit integer: every
append would fail after 2**31 records); SQLite's INTEGER is 64-bit already

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.alter_column("audit_log", "seq", type_=sa.BigInteger(), existing_nullable=False)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.alter_column("audit_log", "seq", type_=sa.Integer(), existing_nullable=False)
