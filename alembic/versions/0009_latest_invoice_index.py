"""invoices indexed by (subscription_id, id): a subscription's latest invoice by one backward
index scan (the ``latestInvoice`` field, the renewal jobs), instead of fetching and sorting
its whole history

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-21
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_invoices_subscription_id_id", "invoices", ["subscription_id", "id"])
    op.drop_index("ix_invoices_subscription_id", table_name="invoices")


def downgrade() -> None:
    op.create_index("ix_invoices_subscription_id", "invoices", ["subscription_id"])
    op.drop_index("ix_invoices_subscription_id_id", table_name="invoices")
