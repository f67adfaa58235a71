"""retry advice: the network's codes and the advice on payments' declines, why collection
stopped on subscriptions and invoices, and one retry per invoice and new default method

Expand only (nullable columns, a new table): the previous release keeps working. Existing
declines get the advice the rules of this release give their code (frozen here: the rules
may change later, history does not).

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-09
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

STOP_REASONS = (
    "payment_method_refused",
    "customer_action_required",
    "retries_exhausted",
    "retry_limit_reached",
    "no_payment_method",
)
ACTIONS = ("add_payment_method", "authenticate", "update_payment_details", "contact_bank")
# app.domain.declines.RULES (then app.psp.declines) as of this release, for the codes
# stored before it.
_ADVICE = {
    "do_not_retry": (
        "lost_or_stolen", "lost_card", "stolen_card", "pickup_card", "invalid_account",
        "incorrect_number", "card_not_supported", "payment_stopped", "do_not_try_again",
        "fraudulent", "currency_not_supported",
    ),
    "customer_action_required": (
        "restricted_card", "expired_card", "incorrect_cvc", "authentication_required",
        "authentication_failed", "payer_action_required", "instrument_declined", "unknown",
    ),
    "retry_later": (
        "insufficient_funds", "limit_exceeded", "issuer_unavailable", "try_again_later",
        "card_declined", "do_not_honor", "processing_error",
    ),
}  # fmt: skip


def _stop_columns(table: str) -> None:
    with op.batch_alter_table(table) as batch:
        batch.add_column(
            sa.Column(
                "collection_stop_reason",
                sa.Enum(
                    *STOP_REASONS,
                    name="collection_stop_reason",
                    native_enum=False,
                    create_constraint=True,
                    length=32,
                ),
                nullable=True,
            )
        )
        batch.add_column(
            sa.Column(
                "collection_stop_action",
                sa.Enum(
                    *ACTIONS,
                    name="customer_action",
                    native_enum=False,
                    create_constraint=True,
                    length=32,
                ),
                nullable=True,
            )
        )
        batch.add_column(
            sa.Column("collection_stopped_at", sa.DateTime(timezone=True), nullable=True)
        )


def upgrade() -> None:
    with op.batch_alter_table("payments") as batch:
        batch.add_column(sa.Column("decline_network_code", sa.String(length=16), nullable=True))
        batch.add_column(
            sa.Column("decline_network_advice_code", sa.String(length=16), nullable=True)
        )
        batch.add_column(sa.Column("decline_advice", sa.String(length=32), nullable=True))
    payments = sa.table(
        "payments", sa.column("decline_code", sa.String), sa.column("decline_advice", sa.String)
    )
    for advice, codes in _ADVICE.items():
        op.execute(
            payments.update()
            .where(payments.c.decline_code.in_(codes))
            .values(decline_advice=advice)
        )
    _stop_columns("subscriptions")
    _stop_columns("invoices")
    op.create_table(
        "invoice_method_retries",
        sa.Column("invoice_id", sa.Uuid(), nullable=False),
        sa.Column("payment_method_id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["invoice_id"], ["invoices.id"], name="fk_invoice_method_retries_invoice_id_invoices"
        ),
        sa.ForeignKeyConstraint(
            ["payment_method_id"],
            ["payment_methods.id"],
            name="fk_invoice_method_retries_payment_method_id_payment_methods",
        ),
        sa.PrimaryKeyConstraint(
            "invoice_id", "payment_method_id", name="pk_invoice_method_retries"
        ),
    )


def downgrade() -> None:
    op.drop_table("invoice_method_retries")
    for table in ("invoices", "subscriptions"):
        with op.batch_alter_table(table) as batch:
            batch.drop_column("collection_stopped_at")
            batch.drop_column("collection_stop_action")
            batch.drop_column("collection_stop_reason")
    with op.batch_alter_table("payments") as batch:
        batch.drop_column("decline_advice")
        batch.drop_column("decline_network_advice_code")
        batch.drop_column("decline_network_code")
