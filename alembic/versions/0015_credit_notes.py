"""credit notes and customer credit balances

Credit notes (numbered from invoice_sequences under their own prefix), their lines, the
customers' credit balances per currency with their append-only movements, and two amounts
of an invoice: what credit notes took off its amount due, and what the customer's credit
balance paid of it. New tables only, and two columns with a constant default (no rewrite
on PostgreSQL 11+).

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-08
"""

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


_SEQUENCE = uuid.UUID("0196a000-0000-7000-8000-000000000015")


def _entity() -> list[sa.Column[object]]:
    return [
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    ]


def _minor(name: str) -> sa.Column[object]:
    return sa.Column(name, sa.BigInteger(), nullable=False)


def upgrade() -> None:
    zero = sa.text("0")
    with op.batch_alter_table("invoices") as batch:
        for column in ("amount_credited_minor", "balance_applied_minor"):
            batch.add_column(
                sa.Column(column, sa.BigInteger(), nullable=False, server_default=zero)
            )
    op.create_table(
        "credit_notes",
        sa.Column("invoice_id", sa.Uuid(), nullable=False),
        sa.Column("customer_id", sa.Uuid(), nullable=False),
        sa.Column("number", sa.String(length=32), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "issued",
                "void",
                name="credit_note_status",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column(
            "reason",
            sa.Enum(
                "duplicate",
                "fraudulent",
                "order_change",
                "product_unsatisfactory",
                name="credit_note_reason",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=True,
        ),
        sa.Column("memo", sa.String(length=500), nullable=True),
        sa.Column("currency", sa.String(length=3), nullable=False),
        *(
            _minor(name)
            for name in (
                "subtotal_minor",
                "tax_minor",
                "tax_included_minor",
                "total_minor",
                "pre_payment_minor",
                "refund_minor",
                "credit_balance_minor",
                "out_of_band_minor",
            )
        ),
        sa.Column("payment_id", sa.Uuid(), nullable=True),
        sa.Column("refund_id", sa.Uuid(), nullable=True),
        sa.Column("request_digest", sa.String(length=64), nullable=True),
        sa.Column("voided_at", sa.DateTime(timezone=True), nullable=True),
        *_entity(),
        sa.CheckConstraint(
            "total_minor = subtotal_minor + tax_minor", name=op.f("ck_credit_notes_total_adds_up")
        ),
        sa.CheckConstraint(
            "total_minor > 0 AND total_minor = pre_payment_minor + refund_minor "
            "+ credit_balance_minor + out_of_band_minor",
            name=op.f("ck_credit_notes_total_spent"),
        ),
        sa.CheckConstraint(
            "pre_payment_minor >= 0 AND refund_minor >= 0 AND credit_balance_minor >= 0 "
            "AND out_of_band_minor >= 0",
            name=op.f("ck_credit_notes_parts_not_negative"),
        ),
        sa.ForeignKeyConstraint(
            ["invoice_id"], ["invoices.id"], name=op.f("fk_credit_notes_invoice_id_invoices")
        ),
        sa.ForeignKeyConstraint(
            ["customer_id"], ["customers.id"], name=op.f("fk_credit_notes_customer_id_customers")
        ),
        sa.ForeignKeyConstraint(
            ["payment_id"], ["payments.id"], name=op.f("fk_credit_notes_payment_id_payments")
        ),
        sa.ForeignKeyConstraint(
            ["refund_id"], ["refunds.id"], name=op.f("fk_credit_notes_refund_id_refunds")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_credit_notes")),
        sa.UniqueConstraint("number", name=op.f("uq_credit_notes_number")),
        sa.UniqueConstraint("refund_id", name=op.f("uq_credit_notes_refund_id")),
        sa.UniqueConstraint("request_digest", name=op.f("uq_credit_notes_request_digest")),
    )
    op.create_index(op.f("ix_credit_notes_created_at"), "credit_notes", ["created_at"])
    op.create_index(op.f("ix_credit_notes_customer_id"), "credit_notes", ["customer_id"])
    op.create_index("ix_credit_notes_invoice_id_id", "credit_notes", ["invoice_id", "id"])
    op.create_table(
        "credit_note_lines",
        sa.Column("credit_note_id", sa.Uuid(), nullable=False),
        sa.Column("invoice_line_id", sa.Uuid(), nullable=False),
        sa.Column("description", sa.String(length=500), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=True),
        _minor("amount_minor"),
        _minor("tax_minor"),
        _minor("tax_included_minor"),
        *_entity(),
        sa.CheckConstraint(
            "amount_minor >= 0 AND tax_minor >= 0 AND tax_included_minor >= 0",
            name=op.f("ck_credit_note_lines_not_negative"),
        ),
        sa.ForeignKeyConstraint(
            ["credit_note_id"],
            ["credit_notes.id"],
            name=op.f("fk_credit_note_lines_credit_note_id_credit_notes"),
        ),
        sa.ForeignKeyConstraint(
            ["invoice_line_id"],
            ["invoice_lines.id"],
            name=op.f("fk_credit_note_lines_invoice_line_id_invoice_lines"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_credit_note_lines")),
    )
    for column in ("created_at", "credit_note_id", "invoice_line_id"):
        op.create_index(op.f(f"ix_credit_note_lines_{column}"), "credit_note_lines", [column])
    op.create_table(
        "customer_balances",
        sa.Column("customer_id", sa.Uuid(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        _minor("balance_minor"),
        *_entity(),
        sa.CheckConstraint("balance_minor >= 0", name=op.f("ck_customer_balances_not_negative")),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["customers.id"],
            name=op.f("fk_customer_balances_customer_id_customers"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_customer_balances")),
        sa.UniqueConstraint("customer_id", "currency", name="uq_customer_balances_currency"),
    )
    op.create_index(op.f("ix_customer_balances_created_at"), "customer_balances", ["created_at"])
    op.create_table(
        "customer_balance_transactions",
        sa.Column("customer_id", sa.Uuid(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        _minor("amount_minor"),
        _minor("balance_after_minor"),
        sa.Column("credit_note_id", sa.Uuid(), nullable=True),
        sa.Column("invoice_id", sa.Uuid(), nullable=True),
        *_entity(),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["customers.id"],
            name=op.f("fk_customer_balance_transactions_customer_id_customers"),
        ),
        sa.ForeignKeyConstraint(
            ["credit_note_id"],
            ["credit_notes.id"],
            name=op.f("fk_customer_balance_transactions_credit_note_id_credit_notes"),
        ),
        sa.ForeignKeyConstraint(
            ["invoice_id"],
            ["invoices.id"],
            name=op.f("fk_customer_balance_transactions_invoice_id_invoices"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_customer_balance_transactions")),
    )
    for column in ("created_at", "customer_id"):
        op.create_index(
            op.f(f"ix_customer_balance_transactions_{column}"),
            "customer_balance_transactions",
            [column],
        )
    # Credit notes' numbers: a sequence of their own, made now so that concurrent notes only
    # ever lock it (as 0004 made the invoices').
    created = datetime(2026, 12, 8, tzinfo=UTC)
    op.bulk_insert(
        sa.table(
            "invoice_sequences",
            sa.column("id", sa.Uuid()),
            sa.column("prefix", sa.String()),
            sa.column("next_number", sa.BigInteger()),
            sa.column("created_at", sa.DateTime(timezone=True)),
            sa.column("updated_at", sa.DateTime(timezone=True)),
        ),
        [
            {
                "id": _SEQUENCE,
                "prefix": "PG-CN",
                "next_number": 1,
                "created_at": created,
                "updated_at": created,
            }
        ],
    )


def downgrade() -> None:
    op.execute(sa.text("DELETE FROM invoice_sequences WHERE prefix = 'PG-CN'"))
    op.drop_table("customer_balance_transactions")
    op.drop_table("customer_balances")
    op.drop_table("credit_note_lines")
    op.drop_table("credit_notes")
    with op.batch_alter_table("invoices") as batch:
        for column in ("balance_applied_minor", "amount_credited_minor"):
            batch.drop_column(column)
