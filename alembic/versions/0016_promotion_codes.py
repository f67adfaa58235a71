"""promotion codes: customer-facing codes of coupons with their own restrictions; the
ledger of coupon redemptions (one row per subscription that took a coupon, by its code or
a promotion code), filled with the past ones

Expand only (two new tables): the previous release keeps working. It does not write the
ledger, so a coupon it redeems while both releases run is one that ``paygate verify``
names (``coupon.redemptions``) until the ledger gets its row.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-08
"""

import uuid
from collections.abc import Sequence
from datetime import datetime

import sqlalchemy as sa
from alembic import op

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _times() -> list[sa.Column[datetime]]:
    return [
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    ]


def upgrade() -> None:
    op.create_table(
        "promotion_codes",
        sa.Column("coupon_id", sa.Uuid(), nullable=False),
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("max_redemptions", sa.Integer(), nullable=True),
        sa.Column("times_redeemed", sa.Integer(), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("first_time_only", sa.Boolean(), nullable=False),
        sa.Column("minimum_amount_minor", sa.BigInteger(), nullable=True),
        sa.Column("minimum_amount_currency", sa.String(length=3), nullable=True),
        sa.Column("customer_id", sa.Uuid(), nullable=True),
        *_times(),
        sa.CheckConstraint(
            "max_redemptions IS NULL OR times_redeemed <= max_redemptions",
            name=op.f("ck_promotion_codes_redemptions_within_max"),
        ),
        sa.CheckConstraint(
            "(minimum_amount_minor IS NULL) = (minimum_amount_currency IS NULL)",
            name=op.f("ck_promotion_codes_minimum_with_currency"),
        ),
        sa.ForeignKeyConstraint(
            ["coupon_id"], ["coupons.id"], name=op.f("fk_promotion_codes_coupon_id_coupons")
        ),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["customers.id"],
            name=op.f("fk_promotion_codes_customer_id_customers"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_promotion_codes")),
    )
    op.create_index(op.f("ix_promotion_codes_coupon_id"), "promotion_codes", ["coupon_id"])
    op.create_index(op.f("ix_promotion_codes_created_at"), "promotion_codes", ["created_at"])
    # Unique among active codes (a deactivated code's text may be given to a new one).
    op.create_index(
        "uq_promotion_codes_active_code",
        "promotion_codes",
        ["code"],
        unique=True,
        postgresql_where=sa.text("active"),
        sqlite_where=sa.text("active"),
    )
    op.create_table(
        "coupon_redemptions",
        sa.Column("coupon_id", sa.Uuid(), nullable=False),
        sa.Column("promotion_code_id", sa.Uuid(), nullable=True),
        sa.Column("subscription_id", sa.Uuid(), nullable=False),
        sa.Column("customer_id", sa.Uuid(), nullable=False),
        sa.Column("released_at", sa.DateTime(timezone=True), nullable=True),
        *_times(),
        sa.ForeignKeyConstraint(
            ["coupon_id"], ["coupons.id"], name=op.f("fk_coupon_redemptions_coupon_id_coupons")
        ),
        sa.ForeignKeyConstraint(
            ["promotion_code_id"],
            ["promotion_codes.id"],
            name=op.f("fk_coupon_redemptions_promotion_code_id_promotion_codes"),
        ),
        sa.ForeignKeyConstraint(
            ["subscription_id"],
            ["subscriptions.id"],
            name=op.f("fk_coupon_redemptions_subscription_id_subscriptions"),
        ),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["customers.id"],
            name=op.f("fk_coupon_redemptions_customer_id_customers"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_coupon_redemptions")),
        sa.UniqueConstraint(
            "promotion_code_id", "subscription_id", name="uq_coupon_redemptions_code_once"
        ),
    )
    for column in ("coupon_id", "created_at", "customer_id", "promotion_code_id"):
        op.create_index(op.f(f"ix_coupon_redemptions_{column}"), "coupon_redemptions", [column])
    _ledger_of_past_redemptions()


def _ledger_of_past_redemptions() -> None:
    """The redemptions made before the ledger: one per subscription holding a coupon (what
    the ``coupon.redemptions`` invariant counted until now). Offline (``--sql``) there are
    no rows to read."""
    if op.get_context().as_sql:
        return
    rows = op.get_bind().execute(
        sa.text(
            "SELECT id, coupon_id, customer_id, created_at FROM subscriptions "
            "WHERE coupon_id IS NOT NULL"
        )
    )
    table = sa.table(
        "coupon_redemptions",
        sa.column("id", sa.Uuid()),
        sa.column("coupon_id", sa.Uuid()),
        sa.column("subscription_id", sa.Uuid()),
        sa.column("customer_id", sa.Uuid()),
        sa.column("created_at", sa.DateTime(timezone=True)),
        sa.column("updated_at", sa.DateTime(timezone=True)),
    )
    ledger = [
        {"id": uuid.uuid4(), "coupon_id": coupon, "subscription_id": key,
         "customer_id": customer, "created_at": at, "updated_at": at}
        for key, coupon, customer, at in rows
    ]  # fmt: skip
    if ledger:
        op.bulk_insert(table, ledger)


def downgrade() -> None:
    op.drop_table("coupon_redemptions")
    op.drop_table("promotion_codes")
