"""pricing experiments: experiments, variants, assignments, exposures; a product's default
price; the experiment a subscription was sold under

Revision ID: 0008
Revises: 0007 (re-chained after the security migration 0006 when the branches merge)
Create Date: 2026-11-21
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "experiments",
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=256), nullable=False),
        sa.Column("hypothesis", sa.Text(), nullable=True),
        sa.Column(
            "status",
            sa.Enum(
                "draft",
                "running",
                "paused",
                "concluded",
                "archived",
                name="experiment_status",
                native_enum=False,
                create_constraint=True,
                length=16,
            ),
            nullable=False,
        ),
        sa.Column("status_reason", sa.String(length=500), nullable=True),
        sa.Column("product_id", sa.Uuid(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("traffic_bp", sa.Integer(), nullable=False),
        sa.Column("salt", sa.String(length=64), nullable=False),
        sa.Column("layer", sa.String(length=64), nullable=False),
        sa.Column("layer_offset", sa.Integer(), nullable=True),
        sa.Column("new_customers_only", sa.Boolean(), nullable=False),
        sa.Column(
            "countries",
            sa.JSON(none_as_null=True).with_variant(
                postgresql.JSONB(none_as_null=True, astext_type=sa.Text()), "postgresql"
            ),
            nullable=False,
        ),
        sa.Column(
            "platforms",
            sa.JSON(none_as_null=True).with_variant(
                postgresql.JSONB(none_as_null=True, astext_type=sa.Text()), "postgresql"
            ),
            nullable=False,
        ),
        sa.Column("max_refund_rate_bp", sa.Integer(), nullable=True),
        sa.Column("max_dispute_rate_bp", sa.Integer(), nullable=True),
        sa.Column("max_payment_failure_rate_bp", sa.Integer(), nullable=True),
        sa.Column("guardrail_min_payments", sa.Integer(), nullable=False),
        sa.Column("alpha_bp", sa.Integer(), nullable=False),
        sa.Column("mde_bp", sa.Integer(), nullable=False),
        sa.Column("winner_variant_id", sa.Uuid(), nullable=True),
        sa.Column("winner_shipped", sa.Boolean(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("paused_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("concluded_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("archived_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("alpha_bp BETWEEN 1 AND 2000", name=op.f("ck_experiments_alpha_range")),
        sa.CheckConstraint(
            "layer_offset IS NULL OR (layer_offset >= 0 AND layer_offset + traffic_bp <= 10000)",
            name=op.f("ck_experiments_layer_range"),
        ),
        sa.CheckConstraint("mde_bp BETWEEN 1 AND 10000", name=op.f("ck_experiments_mde_range")),
        sa.CheckConstraint(
            "traffic_bp BETWEEN 1 AND 10000", name=op.f("ck_experiments_traffic_range")
        ),
        sa.ForeignKeyConstraint(
            ["product_id"], ["products.id"], name=op.f("fk_experiments_product_id_products")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_experiments")),
        sa.UniqueConstraint("key", name=op.f("uq_experiments_key")),
    )
    op.create_index(op.f("ix_experiments_created_at"), "experiments", ["created_at"], unique=False)
    op.create_index(op.f("ix_experiments_layer"), "experiments", ["layer"], unique=False)
    op.create_index(op.f("ix_experiments_product_id"), "experiments", ["product_id"], unique=False)
    op.create_index(op.f("ix_experiments_status"), "experiments", ["status"], unique=False)
    op.create_table(
        "experiment_variants",
        sa.Column("experiment_id", sa.Uuid(), nullable=False),
        sa.Column("position", sa.SmallInteger(), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("weight", sa.Integer(), nullable=False),
        sa.Column("price_id", sa.Uuid(), nullable=True),
        sa.Column("trial_period_days", sa.SmallInteger(), nullable=True),
        sa.Column("coupon_id", sa.Uuid(), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "trial_period_days IS NULL OR trial_period_days BETWEEN 0 AND 730",
            name=op.f("ck_experiment_variants_trial_range"),
        ),
        sa.CheckConstraint(
            "weight BETWEEN 1 AND 10000", name=op.f("ck_experiment_variants_weight_range")
        ),
        sa.ForeignKeyConstraint(
            ["coupon_id"], ["coupons.id"], name=op.f("fk_experiment_variants_coupon_id_coupons")
        ),
        sa.ForeignKeyConstraint(
            ["experiment_id"],
            ["experiments.id"],
            name=op.f("fk_experiment_variants_experiment_id_experiments"),
        ),
        sa.ForeignKeyConstraint(
            ["price_id"], ["prices.id"], name=op.f("fk_experiment_variants_price_id_prices")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_experiment_variants")),
        sa.UniqueConstraint("experiment_id", "name", name="uq_experiment_variants_name"),
        sa.UniqueConstraint("experiment_id", "position", name="uq_experiment_variants_position"),
    )
    op.create_index(
        op.f("ix_experiment_variants_created_at"),
        "experiment_variants",
        ["created_at"],
        unique=False,
    )
    op.create_index(
        op.f("ix_experiment_variants_experiment_id"),
        "experiment_variants",
        ["experiment_id"],
        unique=False,
    )
    op.create_table(
        "experiment_assignments",
        sa.Column("experiment_id", sa.Uuid(), nullable=False),
        sa.Column("variant_id", sa.Uuid(), nullable=False),
        sa.Column("unit", sa.String(length=200), nullable=False),
        sa.Column("anonymous_id", sa.String(length=128), nullable=True),
        sa.Column("customer_id", sa.Uuid(), nullable=True),
        sa.Column(
            "platform",
            sa.Enum(
                "web",
                "ios",
                "android",
                name="platform",
                native_enum=False,
                create_constraint=True,
                length=16,
            ),
            nullable=True,
        ),
        sa.Column("country", sa.String(length=2), nullable=True),
        sa.Column("first_exposed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("pre_revenue_minor", sa.BigInteger(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["customers.id"],
            name=op.f("fk_experiment_assignments_customer_id_customers"),
        ),
        sa.ForeignKeyConstraint(
            ["experiment_id"],
            ["experiments.id"],
            name=op.f("fk_experiment_assignments_experiment_id_experiments"),
        ),
        sa.ForeignKeyConstraint(
            ["variant_id"],
            ["experiment_variants.id"],
            name=op.f("fk_experiment_assignments_variant_id_experiment_variants"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_experiment_assignments")),
        sa.UniqueConstraint(
            "experiment_id", "customer_id", name="uq_experiment_assignments_customer"
        ),
        sa.UniqueConstraint("experiment_id", "unit", name="uq_experiment_assignments_unit"),
    )
    op.create_index(
        op.f("ix_experiment_assignments_anonymous_id"),
        "experiment_assignments",
        ["anonymous_id"],
        unique=False,
    )
    op.create_index(
        op.f("ix_experiment_assignments_created_at"),
        "experiment_assignments",
        ["created_at"],
        unique=False,
    )
    op.create_index(
        op.f("ix_experiment_assignments_customer_id"),
        "experiment_assignments",
        ["customer_id"],
        unique=False,
    )
    op.create_index(
        op.f("ix_experiment_assignments_variant_id"),
        "experiment_assignments",
        ["variant_id"],
        unique=False,
    )
    op.create_table(
        "experiment_exposures",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("experiment_id", sa.Uuid(), nullable=False),
        sa.Column("assignment_id", sa.Uuid(), nullable=False),
        sa.Column("variant_id", sa.Uuid(), nullable=False),
        sa.Column("price_id", sa.Uuid(), nullable=False),
        sa.Column("trial_period_days", sa.SmallInteger(), nullable=True),
        sa.Column("coupon_id", sa.Uuid(), nullable=True),
        sa.Column(
            "platform",
            sa.Enum(
                "web",
                "ios",
                "android",
                name="platform",
                native_enum=False,
                create_constraint=True,
                length=16,
            ),
            nullable=True,
        ),
        sa.Column("country", sa.String(length=2), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["assignment_id"],
            ["experiment_assignments.id"],
            name=op.f("fk_experiment_exposures_assignment_id_experiment_assignments"),
        ),
        sa.ForeignKeyConstraint(
            ["coupon_id"], ["coupons.id"], name=op.f("fk_experiment_exposures_coupon_id_coupons")
        ),
        sa.ForeignKeyConstraint(
            ["experiment_id"],
            ["experiments.id"],
            name=op.f("fk_experiment_exposures_experiment_id_experiments"),
        ),
        sa.ForeignKeyConstraint(
            ["price_id"], ["prices.id"], name=op.f("fk_experiment_exposures_price_id_prices")
        ),
        sa.ForeignKeyConstraint(
            ["variant_id"],
            ["experiment_variants.id"],
            name=op.f("fk_experiment_exposures_variant_id_experiment_variants"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_experiment_exposures")),
    )
    op.create_index(
        op.f("ix_experiment_exposures_assignment_id"),
        "experiment_exposures",
        ["assignment_id"],
        unique=False,
    )
    op.create_index(
        op.f("ix_experiment_exposures_experiment_id"),
        "experiment_exposures",
        ["experiment_id"],
        unique=False,
    )
    with op.batch_alter_table("experiments") as batch:
        batch.create_foreign_key(
            "fk_experiments_winner_variant_id_experiment_variants",
            "experiment_variants",
            ["winner_variant_id"],
            ["id"],
        )
    with op.batch_alter_table("products") as batch:
        batch.add_column(sa.Column("default_price_id", sa.Uuid(), nullable=True))
        batch.create_foreign_key(
            "fk_products_default_price_id_prices", "prices", ["default_price_id"], ["id"]
        )
    with op.batch_alter_table("subscriptions") as batch:
        for column in ("experiment_id", "experiment_variant_id", "experiment_assignment_id"):
            batch.add_column(sa.Column(column, sa.Uuid(), nullable=True))
        batch.create_index("ix_subscriptions_experiment_id", ["experiment_id"])
        batch.create_index(
            "ix_subscriptions_experiment_assignment_id", ["experiment_assignment_id"]
        )
        batch.create_foreign_key(
            "fk_subscriptions_experiment_id_experiments", "experiments", ["experiment_id"], ["id"]
        )
        batch.create_foreign_key(
            "fk_subscriptions_experiment_variant_id_experiment_variants",
            "experiment_variants",
            ["experiment_variant_id"],
            ["id"],
        )
        batch.create_foreign_key(
            "fk_subscriptions_experiment_assignment_id",
            "experiment_assignments",
            ["experiment_assignment_id"],
            ["id"],
        )


def downgrade() -> None:
    with op.batch_alter_table("subscriptions") as batch:
        for name in (
            "fk_subscriptions_experiment_assignment_id",
            "fk_subscriptions_experiment_variant_id_experiment_variants",
            "fk_subscriptions_experiment_id_experiments",
        ):
            batch.drop_constraint(name, type_="foreignkey")
        batch.drop_index("ix_subscriptions_experiment_assignment_id")
        batch.drop_index("ix_subscriptions_experiment_id")
        for column in ("experiment_assignment_id", "experiment_variant_id", "experiment_id"):
            batch.drop_column(column)
    with op.batch_alter_table("products") as batch:
        batch.drop_constraint("fk_products_default_price_id_prices", type_="foreignkey")
        batch.drop_column("default_price_id")
    with op.batch_alter_table("experiments") as batch:
        batch.drop_constraint(
            "fk_experiments_winner_variant_id_experiment_variants", type_="foreignkey"
        )
    op.drop_index(op.f("ix_experiment_exposures_experiment_id"), table_name="experiment_exposures")
    op.drop_index(op.f("ix_experiment_exposures_assignment_id"), table_name="experiment_exposures")
    op.drop_table("experiment_exposures")
    op.drop_index(op.f("ix_experiment_assignments_variant_id"), table_name="experiment_assignments")
    op.drop_index(
        op.f("ix_experiment_assignments_customer_id"), table_name="experiment_assignments"
    )
    op.drop_index(op.f("ix_experiment_assignments_created_at"), table_name="experiment_assignments")
    op.drop_index(
        op.f("ix_experiment_assignments_anonymous_id"), table_name="experiment_assignments"
    )
    op.drop_table("experiment_assignments")
    op.drop_index(op.f("ix_experiment_variants_experiment_id"), table_name="experiment_variants")
    op.drop_index(op.f("ix_experiment_variants_created_at"), table_name="experiment_variants")
    op.drop_table("experiment_variants")
    op.drop_index(op.f("ix_experiments_status"), table_name="experiments")
    op.drop_index(op.f("ix_experiments_product_id"), table_name="experiments")
    op.drop_index(op.f("ix_experiments_layer"), table_name="experiments")
    op.drop_index(op.f("ix_experiments_created_at"), table_name="experiments")
    op.drop_table("experiments")
