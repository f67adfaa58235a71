"""payment methods

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-21
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "payment_methods",
        sa.Column("customer_id", sa.Uuid(), nullable=False),
        sa.Column("psp", sa.String(length=32), nullable=False),
        sa.Column("psp_reference", sa.String(length=255), nullable=False),
        sa.Column("type", sa.String(length=32), nullable=False),
        sa.Column("brand", sa.String(length=32), nullable=True),
        sa.Column("last4", sa.String(length=4), nullable=True),
        sa.Column("exp_month", sa.SmallInteger(), nullable=True),
        sa.Column("exp_year", sa.SmallInteger(), nullable=True),
        sa.Column("wallet", sa.String(length=32), nullable=True),
        sa.Column("fingerprint", sa.String(length=64), nullable=True),
        sa.Column("email", sa.String(length=254), nullable=True),
        sa.Column("is_default", sa.Boolean(), nullable=False),
        sa.Column("detached_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "NOT (is_default AND detached_at IS NOT NULL)",
            name=op.f("ck_payment_methods_default_attached"),
        ),
        sa.CheckConstraint(
            "exp_month IS NULL OR exp_month BETWEEN 1 AND 12",
            name=op.f("ck_payment_methods_exp_month_range"),
        ),
        sa.ForeignKeyConstraint(
            ["customer_id"], ["customers.id"], name=op.f("fk_payment_methods_customer_id_customers")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_payment_methods")),
        sa.UniqueConstraint("psp", "psp_reference", name="uq_payment_methods_reference"),
    )
    op.create_index(
        op.f("ix_payment_methods_created_at"), "payment_methods", ["created_at"], unique=False
    )
    op.create_index(
        op.f("ix_payment_methods_customer_id"), "payment_methods", ["customer_id"], unique=False
    )
    op.create_index(
        "uq_payment_methods_default",
        "payment_methods",
        ["customer_id"],
        unique=True,
        postgresql_where=sa.text("is_default"),
        sqlite_where=sa.text("is_default"),
    )
    op.create_table(
        "psp_customers",
        sa.Column("customer_id", sa.Uuid(), nullable=False),
        sa.Column("psp", sa.String(length=32), nullable=False),
        sa.Column("psp_customer_id", sa.String(length=255), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["customer_id"], ["customers.id"], name=op.f("fk_psp_customers_customer_id_customers")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_psp_customers")),
        sa.UniqueConstraint("customer_id", "psp", name="uq_psp_customers_customer_psp"),
        sa.UniqueConstraint("psp", "psp_customer_id", name="uq_psp_customers_reference"),
    )
    op.create_index(
        op.f("ix_psp_customers_created_at"), "psp_customers", ["created_at"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_psp_customers_created_at"), table_name="psp_customers")
    op.drop_table("psp_customers")
    op.drop_index(
        "uq_payment_methods_default",
        table_name="payment_methods",
        postgresql_where=sa.text("is_default"),
        sqlite_where=sa.text("is_default"),
    )
    op.drop_index(op.f("ix_payment_methods_customer_id"), table_name="payment_methods")
    op.drop_index(op.f("ix_payment_methods_created_at"), table_name="payment_methods")
    op.drop_table("payment_methods")
