"""billing

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-21
"""

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "invoice_sequences",
        sa.Column("prefix", sa.String(length=16), nullable=False),
        sa.Column("next_number", sa.BigInteger(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_invoice_sequences")),
        sa.UniqueConstraint("prefix", name=op.f("uq_invoice_sequences_prefix")),
    )
    op.create_index(
        op.f("ix_invoice_sequences_created_at"), "invoice_sequences", ["created_at"], unique=False
    )
    op.create_table(
        "test_clocks",
        sa.Column("name", sa.String(length=256), nullable=False),
        sa.Column("frozen_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_test_clocks")),
    )
    op.create_index(op.f("ix_test_clocks_created_at"), "test_clocks", ["created_at"], unique=False)
    op.create_table(
        "subscriptions",
        sa.Column("customer_id", sa.Uuid(), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "incomplete",
                "incomplete_expired",
                "trialing",
                "active",
                "past_due",
                "unpaid",
                "paused",
                "canceled",
                name="subscription_status",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column(
            "interval",
            sa.Enum(
                "day",
                "week",
                "month",
                "year",
                name="subscription_interval",
                native_enum=False,
                create_constraint=True,
                length=16,
            ),
            nullable=False,
        ),
        sa.Column("interval_count", sa.SmallInteger(), nullable=False),
        sa.Column("billing_cycle_anchor", sa.DateTime(timezone=True), nullable=False),
        sa.Column("current_period_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("current_period_end", sa.DateTime(timezone=True), nullable=False),
        sa.Column("trial_start", sa.DateTime(timezone=True), nullable=True),
        sa.Column("trial_end", sa.DateTime(timezone=True), nullable=True),
        sa.Column("cancel_at_period_end", sa.Boolean(), nullable=False),
        sa.Column("canceled_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("default_payment_method_id", sa.Uuid(), nullable=True),
        sa.Column("next_retry_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("retry_count", sa.Integer(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["customer_id"], ["customers.id"], name=op.f("fk_subscriptions_customer_id_customers")
        ),
        sa.ForeignKeyConstraint(
            ["default_payment_method_id"],
            ["payment_methods.id"],
            name=op.f("fk_subscriptions_default_payment_method_id_payment_methods"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_subscriptions")),
    )
    op.create_index(
        op.f("ix_subscriptions_created_at"), "subscriptions", ["created_at"], unique=False
    )
    op.create_index(
        op.f("ix_subscriptions_current_period_end"),
        "subscriptions",
        ["current_period_end"],
        unique=False,
    )
    op.create_index(
        op.f("ix_subscriptions_customer_id"), "subscriptions", ["customer_id"], unique=False
    )
    op.create_index(
        op.f("ix_subscriptions_next_retry_at"), "subscriptions", ["next_retry_at"], unique=False
    )
    op.create_table(
        "invoices",
        sa.Column("customer_id", sa.Uuid(), nullable=False),
        sa.Column("subscription_id", sa.Uuid(), nullable=True),
        sa.Column("billing_period_start", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "billing_reason",
            sa.Enum(
                "subscription_create",
                "subscription_cycle",
                "subscription_update",
                "manual",
                name="billing_reason",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("number", sa.String(length=32), nullable=True),
        sa.Column(
            "status",
            sa.Enum(
                "draft",
                "open",
                "paid",
                "void",
                "uncollectible",
                name="invoice_status",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("period_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("period_end", sa.DateTime(timezone=True), nullable=False),
        sa.Column("subtotal_minor", sa.BigInteger(), nullable=False),
        sa.Column("discount_minor", sa.BigInteger(), nullable=False),
        sa.Column("tax_minor", sa.BigInteger(), nullable=False),
        sa.Column("total_minor", sa.BigInteger(), nullable=False),
        sa.Column("amount_paid_minor", sa.BigInteger(), nullable=False),
        sa.Column("attempt_count", sa.Integer(), nullable=False),
        sa.Column("due_date", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finalized_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("paid_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("voided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "amount_paid_minor = 0 OR amount_paid_minor BETWEEN 0 AND total_minor",
            name=op.f("ck_invoices_paid_within"),
        ),
        sa.CheckConstraint(
            "total_minor = subtotal_minor - discount_minor + tax_minor",
            name=op.f("ck_invoices_total_adds_up"),
        ),
        sa.ForeignKeyConstraint(
            ["customer_id"], ["customers.id"], name=op.f("fk_invoices_customer_id_customers")
        ),
        sa.ForeignKeyConstraint(
            ["subscription_id"],
            ["subscriptions.id"],
            name=op.f("fk_invoices_subscription_id_subscriptions"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_invoices")),
        sa.UniqueConstraint("number", name=op.f("uq_invoices_number")),
        sa.UniqueConstraint(
            "subscription_id", "billing_period_start", name="uq_invoices_subscription_period"
        ),
    )
    op.create_index(op.f("ix_invoices_created_at"), "invoices", ["created_at"], unique=False)
    op.create_index(op.f("ix_invoices_customer_id"), "invoices", ["customer_id"], unique=False)
    op.create_index(
        op.f("ix_invoices_subscription_id"), "invoices", ["subscription_id"], unique=False
    )
    op.create_table(
        "subscription_items",
        sa.Column("subscription_id", sa.Uuid(), nullable=False),
        sa.Column("price_id", sa.Uuid(), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("unit_amount_minor", sa.BigInteger(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("quantity >= 1", name=op.f("ck_subscription_items_quantity_positive")),
        sa.CheckConstraint(
            "unit_amount_minor >= 0", name=op.f("ck_subscription_items_unit_amount_not_negative")
        ),
        sa.ForeignKeyConstraint(
            ["price_id"], ["prices.id"], name=op.f("fk_subscription_items_price_id_prices")
        ),
        sa.ForeignKeyConstraint(
            ["subscription_id"],
            ["subscriptions.id"],
            name=op.f("fk_subscription_items_subscription_id_subscriptions"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_subscription_items")),
    )
    op.create_index(
        op.f("ix_subscription_items_created_at"), "subscription_items", ["created_at"], unique=False
    )
    op.create_index(
        op.f("ix_subscription_items_subscription_id"),
        "subscription_items",
        ["subscription_id"],
        unique=False,
    )
    op.create_table(
        "invoice_lines",
        sa.Column("invoice_id", sa.Uuid(), nullable=True),
        sa.Column("customer_id", sa.Uuid(), nullable=False),
        sa.Column("subscription_id", sa.Uuid(), nullable=True),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("description", sa.String(length=500), nullable=False),
        sa.Column("price_id", sa.Uuid(), nullable=True),
        sa.Column("subscription_item_id", sa.Uuid(), nullable=True),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("unit_amount_minor", sa.BigInteger(), nullable=False),
        sa.Column("amount_minor", sa.BigInteger(), nullable=False),
        sa.Column("proration", sa.Boolean(), nullable=False),
        sa.Column("period_start", sa.DateTime(timezone=True), nullable=True),
        sa.Column("period_end", sa.DateTime(timezone=True), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["invoice_id"], ["invoices.id"], name=op.f("fk_invoice_lines_invoice_id_invoices")
        ),
        sa.ForeignKeyConstraint(
            ["customer_id"], ["customers.id"], name=op.f("fk_invoice_lines_customer_id_customers")
        ),
        sa.ForeignKeyConstraint(
            ["subscription_id"],
            ["subscriptions.id"],
            name=op.f("fk_invoice_lines_subscription_id_subscriptions"),
        ),
        sa.ForeignKeyConstraint(
            ["price_id"], ["prices.id"], name=op.f("fk_invoice_lines_price_id_prices")
        ),
        sa.ForeignKeyConstraint(
            ["subscription_item_id"],
            ["subscription_items.id"],
            name=op.f("fk_invoice_lines_subscription_item_id_subscription_items"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_invoice_lines")),
    )
    op.create_index(
        op.f("ix_invoice_lines_created_at"), "invoice_lines", ["created_at"], unique=False
    )
    op.create_index(
        op.f("ix_invoice_lines_invoice_id"), "invoice_lines", ["invoice_id"], unique=False
    )
    op.create_index(
        op.f("ix_invoice_lines_customer_id"), "invoice_lines", ["customer_id"], unique=False
    )
    # The invoice number sequence exists from the start, so that concurrent finalizations
    # only ever update (lock) it and never race to create it.
    sequences = sa.table(
        "invoice_sequences",
        sa.column("id", sa.Uuid()),
        sa.column("prefix", sa.String()),
        sa.column("next_number", sa.BigInteger()),
        sa.column("created_at", sa.DateTime(timezone=True)),
        sa.column("updated_at", sa.DateTime(timezone=True)),
    )
    created = datetime(2026, 11, 21, tzinfo=UTC)
    op.bulk_insert(
        sequences,
        [{"id": uuid.UUID("0196a000-0000-7000-8000-000000000001"), "prefix": "PG",
          "next_number": 1, "created_at": created, "updated_at": created}],
    )  # fmt: skip
    for table, column, target in (
        ("customers", "test_clock_id", "test_clocks"),
        ("payments", "invoice_id", "invoices"),
    ):
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column(column, sa.Uuid(), nullable=True))
            batch.create_index(f"ix_{table}_{column}", [column], unique=False)
            batch.create_foreign_key(f"fk_{table}_{column}_{target}", target, [column], ["id"])


def downgrade() -> None:
    for table, column, target in (
        ("payments", "invoice_id", "invoices"),
        ("customers", "test_clock_id", "test_clocks"),
    ):
        with op.batch_alter_table(table) as batch:
            batch.drop_constraint(f"fk_{table}_{column}_{target}", type_="foreignkey")
            batch.drop_index(f"ix_{table}_{column}")
            batch.drop_column(column)
    op.drop_index(op.f("ix_invoice_lines_customer_id"), table_name="invoice_lines")
    op.drop_index(op.f("ix_invoice_lines_invoice_id"), table_name="invoice_lines")
    op.drop_index(op.f("ix_invoice_lines_created_at"), table_name="invoice_lines")
    op.drop_table("invoice_lines")
    op.drop_index(op.f("ix_subscription_items_subscription_id"), table_name="subscription_items")
    op.drop_index(op.f("ix_subscription_items_created_at"), table_name="subscription_items")
    op.drop_table("subscription_items")
    op.drop_index(op.f("ix_invoices_subscription_id"), table_name="invoices")
    op.drop_index(op.f("ix_invoices_customer_id"), table_name="invoices")
    op.drop_index(op.f("ix_invoices_created_at"), table_name="invoices")
    op.drop_table("invoices")
    op.drop_index(op.f("ix_subscriptions_next_retry_at"), table_name="subscriptions")
    op.drop_index(op.f("ix_subscriptions_customer_id"), table_name="subscriptions")
    op.drop_index(op.f("ix_subscriptions_current_period_end"), table_name="subscriptions")
    op.drop_index(op.f("ix_subscriptions_created_at"), table_name="subscriptions")
    op.drop_table("subscriptions")
    op.drop_index(op.f("ix_test_clocks_created_at"), table_name="test_clocks")
    op.drop_table("test_clocks")
    op.drop_index(op.f("ix_invoice_sequences_created_at"), table_name="invoice_sequences")
    op.drop_table("invoice_sequences")
