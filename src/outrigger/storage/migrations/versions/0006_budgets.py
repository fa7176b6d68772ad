"""budgets in money and keys with their own limits: a tenant's monthly budget, a key's RPM,
TPM, monthly budget and allowed models, and the key each ledger row was called with

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

KEY_COLUMNS = (
    ("rpm", sa.Integer()),
    ("tpm", sa.Integer()),
    ("monthly_budget_usd", sa.Float()),
    ("models", sa.String(1000)),
)


def upgrade() -> None:
    with op.batch_alter_table("tenants") as batch:
        batch.add_column(sa.Column("monthly_budget_usd", sa.Float(), nullable=True))
    with op.batch_alter_table("api_keys") as batch:
        for name, kind in KEY_COLUMNS:
            batch.add_column(sa.Column(name, kind, nullable=True))
    with op.batch_alter_table("llm_calls") as batch:
        batch.add_column(sa.Column("key_id", sa.String(32), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("llm_calls") as batch:
        batch.drop_column("key_id")
    with op.batch_alter_table("api_keys") as batch:
        for name, _ in reversed(KEY_COLUMNS):
            batch.drop_column(name)
    with op.batch_alter_table("tenants") as batch:
        batch.drop_column("monthly_budget_usd")
