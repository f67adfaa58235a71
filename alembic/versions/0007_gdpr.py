"""gdpr: erased customers, PSP customer deletions

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-22
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("customers") as batch:
        batch.add_column(sa.Column("erased_at", sa.DateTime(timezone=True), nullable=True))
    with op.batch_alter_table("psp_customers") as batch:
        batch.add_column(
            sa.Column("deletion_requested_at", sa.DateTime(timezone=True), nullable=True)
        )
        batch.add_column(sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(
            sa.Column(
                "deletion_attempts", sa.Integer(), server_default=sa.text("0"), nullable=False
            )
        )
        batch.add_column(sa.Column("deletion_error", sa.String(length=500), nullable=True))
    op.create_index(
        op.f("ix_psp_customers_deletion_requested_at"),
        "psp_customers",
        ["deletion_requested_at"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_psp_customers_deletion_requested_at"), table_name="psp_customers")
    with op.batch_alter_table("psp_customers") as batch:
        batch.drop_column("deletion_error")
        batch.drop_column("deletion_attempts")
        batch.drop_column("deleted_at")
        batch.drop_column("deletion_requested_at")
    with op.batch_alter_table("customers") as batch:
        batch.drop_column("erased_at")
