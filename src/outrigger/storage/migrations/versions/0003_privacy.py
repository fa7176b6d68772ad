"""key roles (who may see re-hydrated PII) and the persisted privacy vaults

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("api_keys") as batch:
        batch.add_column(sa.Column("roles", sa.String(500), nullable=True))
    op.create_table(
        "privacy_vaults",
        sa.Column("vault_id", sa.String(128), nullable=False),
        sa.Column("sealed", sa.LargeBinary, nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("expires_at", sa.Float, nullable=False),
        sa.PrimaryKeyConstraint("vault_id", name="pk_privacy_vaults"),
    )
    op.create_index("ix_privacy_vaults_expires_at", "privacy_vaults", ["expires_at"])


def downgrade() -> None:
    op.drop_index("ix_privacy_vaults_expires_at", "privacy_vaults")
    op.drop_table("privacy_vaults")
    with op.batch_alter_table("api_keys") as batch:
        batch.drop_column("roles")
