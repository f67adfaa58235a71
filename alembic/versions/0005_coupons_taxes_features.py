"""coupons taxes features

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-21
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "coupons",
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=256), nullable=False),
        sa.Column("percent_off_bp", sa.Integer(), nullable=True),
        sa.Column("amount_off_minor", sa.BigInteger(), nullable=True),
        sa.Column("currency", sa.String(length=3), nullable=True),
        sa.Column(
            "duration",
            sa.Enum(
                "once",
                "repeating",
                "forever",
                name="coupon_duration",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("duration_in_months", sa.Integer(), nullable=True),
        sa.Column("max_redemptions", sa.Integer(), nullable=True),
        sa.Column("times_redeemed", sa.Integer(), nullable=False),
        sa.Column("redeem_by", sa.DateTime(timezone=True), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "(percent_off_bp IS NOT NULL AND percent_off_bp BETWEEN 1 AND 10000 AND amount_off_minor IS NULL) OR (percent_off_bp IS NULL AND amount_off_minor > 0 AND currency IS NOT NULL)",
            name=op.f("ck_coupons_one_kind"),
        ),
        sa.CheckConstraint(
            "max_redemptions IS NULL OR times_redeemed <= max_redemptions",
            name=op.f("ck_coupons_redemptions_within_max"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_coupons")),
        sa.UniqueConstraint("code", name=op.f("uq_coupons_code")),
    )
    op.create_index(op.f("ix_coupons_created_at"), "coupons", ["created_at"], unique=False)
    op.create_table(
        "tax_rates",
        sa.Column("display_name", sa.String(length=64), nullable=False),
        sa.Column("percentage_bp", sa.Integer(), nullable=False),
        sa.Column("inclusive", sa.Boolean(), nullable=False),
        sa.Column("country", sa.String(length=2), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "percentage_bp BETWEEN 0 AND 10000", name=op.f("ck_tax_rates_percentage_range")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tax_rates")),
    )
    op.create_index(op.f("ix_tax_rates_country"), "tax_rates", ["country"], unique=False)
    op.create_index(op.f("ix_tax_rates_created_at"), "tax_rates", ["created_at"], unique=False)
    zero = sa.text("0")
    with op.batch_alter_table("invoice_lines") as batch:
        for column in ("discount_minor", "tax_minor", "tax_included_minor"):
            batch.add_column(
                sa.Column(column, sa.BigInteger(), nullable=False, server_default=zero)
            )
    with op.batch_alter_table("invoices") as batch:
        batch.add_column(
            sa.Column("tax_included_minor", sa.BigInteger(), nullable=False, server_default=zero)
        )
        batch.add_column(sa.Column("coupon_id", sa.Uuid(), nullable=True))
        batch.add_column(sa.Column("tax_rate_id", sa.Uuid(), nullable=True))
        batch.create_foreign_key("fk_invoices_coupon_id_coupons", "coupons", ["coupon_id"], ["id"])
        batch.create_foreign_key(
            "fk_invoices_tax_rate_id_tax_rates", "tax_rates", ["tax_rate_id"], ["id"]
        )
    with op.batch_alter_table("products") as batch:
        batch.add_column(
            sa.Column(
                "features",
                sa.JSON(none_as_null=True).with_variant(
                    postgresql.JSONB(none_as_null=True, astext_type=sa.Text()), "postgresql"
                ),
                nullable=False,
                server_default=sa.text("'[]'"),
            )
        )
    with op.batch_alter_table("subscriptions") as batch:
        batch.add_column(sa.Column("coupon_id", sa.Uuid(), nullable=True))
        batch.add_column(sa.Column("discount_until", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("discount_uses_left", sa.Integer(), nullable=True))
        batch.create_foreign_key(
            "fk_subscriptions_coupon_id_coupons", "coupons", ["coupon_id"], ["id"]
        )


def downgrade() -> None:
    with op.batch_alter_table("subscriptions") as batch:
        batch.drop_constraint("fk_subscriptions_coupon_id_coupons", type_="foreignkey")
        for column in ("discount_uses_left", "discount_until", "coupon_id"):
            batch.drop_column(column)
    with op.batch_alter_table("products") as batch:
        batch.drop_column("features")
    with op.batch_alter_table("invoices") as batch:
        batch.drop_constraint("fk_invoices_tax_rate_id_tax_rates", type_="foreignkey")
        batch.drop_constraint("fk_invoices_coupon_id_coupons", type_="foreignkey")
        for column in ("tax_rate_id", "coupon_id", "tax_included_minor"):
            batch.drop_column(column)
    with op.batch_alter_table("invoice_lines") as batch:
        for column in ("tax_included_minor", "tax_minor", "discount_minor"):
            batch.drop_column(column)
    op.drop_index(op.f("ix_tax_rates_created_at"), table_name="tax_rates")
    op.drop_index(op.f("ix_tax_rates_country"), table_name="tax_rates")
    op.drop_table("tax_rates")
    op.drop_index(op.f("ix_coupons_created_at"), table_name="coupons")
    op.drop_table("coupons")
