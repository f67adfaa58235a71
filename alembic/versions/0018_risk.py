"""risk: rules, block and allow lists, the attempts they judged, the review queue; the
card's issuing country on payment methods

Expand only (new tables, a nullable column): the previous release keeps working, unscreened.

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-08
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0018"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    op.create_table(
        "risk_list_entries",
        sa.Column(
            "list",
            sa.Enum(
                "BLOCK",
                "ALLOW",
                name="risk_list_kind",
                native_enum=False,
                create_constraint=True,
                length=16,
            ),
            nullable=False,
        ),
        sa.Column(
            "dimension",
            sa.Enum(
                "CARD_FINGERPRINT",
                "CUSTOMER",
                "IP_ADDRESS",
                "DEVICE_ID",
                "EMAIL",
                "COUNTRY",
                name="risk_dimension",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("value", sa.String(length=254), nullable=False),
        sa.Column("note", sa.String(length=500), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_risk_list_entries")),
        sa.UniqueConstraint("list", "dimension", "value", name="uq_risk_list_entries_value"),
    )
    op.create_index(
        op.f("ix_risk_list_entries_created_at"), "risk_list_entries", ["created_at"], unique=False
    )
    op.create_table(
        "risk_rules",
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("condition", JSON, nullable=False),
        sa.Column(
            "action",
            sa.Enum(
                "ALLOW",
                "REVIEW",
                "BLOCK",
                name="risk_action",
                native_enum=False,
                create_constraint=True,
                length=16,
            ),
            nullable=False,
        ),
        sa.Column("score", sa.SmallInteger(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("score BETWEEN 0 AND 100", name=op.f("ck_risk_rules_score_range")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_risk_rules")),
    )
    op.create_index(op.f("ix_risk_rules_created_at"), "risk_rules", ["created_at"], unique=False)
    op.create_table(
        "reviews",
        sa.Column("payment_id", sa.Uuid(), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "OPEN",
                "CLOSED",
                name="review_status",
                native_enum=False,
                create_constraint=True,
                length=16,
            ),
            nullable=False,
        ),
        sa.Column("reason", sa.String(length=500), nullable=False),
        sa.Column("capture_on_approve", sa.Boolean(), nullable=False),
        sa.Column("closes_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "closed_reason",
            sa.Enum(
                "APPROVED",
                "REJECTED",
                "EXPIRED",
                name="review_closed_reason",
                native_enum=False,
                create_constraint=True,
                length=16,
            ),
            nullable=True,
        ),
        sa.Column("closed_by", sa.String(length=200), nullable=True),
        sa.Column("approved", sa.Boolean(), nullable=True),
        sa.Column("note", sa.String(length=500), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["payment_id"], ["payments.id"], name=op.f("fk_reviews_payment_id_payments")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reviews")),
        sa.UniqueConstraint("payment_id", name=op.f("uq_reviews_payment_id")),
    )
    op.create_index(op.f("ix_reviews_closes_at"), "reviews", ["closes_at"], unique=False)
    op.create_index(op.f("ix_reviews_created_at"), "reviews", ["created_at"], unique=False)
    op.create_table(
        "risk_attempts",
        sa.Column(
            "kind",
            sa.Enum(
                "CHARGE",
                "ATTACH",
                name="risk_attempt_kind",
                native_enum=False,
                create_constraint=True,
                length=16,
            ),
            nullable=False,
        ),
        sa.Column("customer_id", sa.Uuid(), nullable=False),
        sa.Column("payment_id", sa.Uuid(), nullable=True),
        sa.Column("payment_method_id", sa.Uuid(), nullable=True),
        sa.Column("fingerprint", sa.String(length=64), nullable=True),
        sa.Column("ip_address", sa.String(length=45), nullable=True),
        sa.Column("device_id", sa.String(length=128), nullable=True),
        sa.Column("email", sa.String(length=254), nullable=True),
        sa.Column("currency", sa.String(length=3), nullable=True),
        sa.Column("amount_minor", sa.BigInteger(), nullable=True),
        sa.Column(
            "action",
            sa.Enum(
                "ALLOW",
                "REVIEW",
                "BLOCK",
                name="risk_action",
                native_enum=False,
                create_constraint=True,
                length=16,
            ),
            nullable=False,
        ),
        sa.Column("score", sa.SmallInteger(), nullable=False),
        sa.Column(
            "level",
            sa.Enum(
                "NORMAL",
                "ELEVATED",
                "HIGHEST",
                name="risk_level",
                native_enum=False,
                create_constraint=True,
                length=16,
            ),
            nullable=False,
        ),
        sa.Column("reasons", JSON, nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["customer_id"], ["customers.id"], name=op.f("fk_risk_attempts_customer_id_customers")
        ),
        sa.ForeignKeyConstraint(
            ["payment_id"], ["payments.id"], name=op.f("fk_risk_attempts_payment_id_payments")
        ),
        sa.ForeignKeyConstraint(
            ["payment_method_id"],
            ["payment_methods.id"],
            name=op.f("fk_risk_attempts_payment_method_id_payment_methods"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_risk_attempts")),
        sa.UniqueConstraint("payment_id", name=op.f("uq_risk_attempts_payment_id")),
    )
    op.create_index(
        op.f("ix_risk_attempts_created_at"), "risk_attempts", ["created_at"], unique=False
    )
    op.create_index(
        "ix_risk_attempts_customer_id", "risk_attempts", ["customer_id", "created_at"], unique=False
    )
    op.create_index(
        "ix_risk_attempts_device_id", "risk_attempts", ["device_id", "created_at"], unique=False
    )
    op.create_index(
        "ix_risk_attempts_email", "risk_attempts", ["email", "created_at"], unique=False
    )
    op.create_index(
        "ix_risk_attempts_fingerprint", "risk_attempts", ["fingerprint", "created_at"], unique=False
    )
    op.create_index(
        "ix_risk_attempts_ip_address", "risk_attempts", ["ip_address", "created_at"], unique=False
    )
    op.add_column("payment_methods", sa.Column("country", sa.String(length=2), nullable=True))


def downgrade() -> None:
    op.drop_column("payment_methods", "country")
    op.drop_index("ix_risk_attempts_ip_address", table_name="risk_attempts")
    op.drop_index("ix_risk_attempts_fingerprint", table_name="risk_attempts")
    op.drop_index("ix_risk_attempts_email", table_name="risk_attempts")
    op.drop_index("ix_risk_attempts_device_id", table_name="risk_attempts")
    op.drop_index("ix_risk_attempts_customer_id", table_name="risk_attempts")
    op.drop_index(op.f("ix_risk_attempts_created_at"), table_name="risk_attempts")
    op.drop_table("risk_attempts")
    op.drop_index(op.f("ix_reviews_created_at"), table_name="reviews")
    op.drop_index(op.f("ix_reviews_closes_at"), table_name="reviews")
    op.drop_table("reviews")
    op.drop_index(op.f("ix_risk_rules_created_at"), table_name="risk_rules")
    op.drop_table("risk_rules")
    op.drop_index(op.f("ix_risk_list_entries_created_at"), table_name="risk_list_entries")
    op.drop_table("risk_list_entries")
