"""Payment methods: tokenised at a PSP; we keep only what is safe to show (SAQ A)."""

from __future__ import annotations

import uuid
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Entity


class PspCustomer(Entity):
    """Our customer's counterpart at one PSP."""

    __tablename__ = "psp_customers"
    __table_args__ = (
        sa.UniqueConstraint("customer_id", "psp", name="uq_psp_customers_customer_psp"),
        sa.UniqueConstraint("psp", "psp_customer_id", name="uq_psp_customers_reference"),
    )

    customer_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("customers.id"))
    psp: Mapped[str] = mapped_column(sa.String(32))
    psp_customer_id: Mapped[str] = mapped_column(sa.String(255))
    # GDPR erasure: the customer is to be deleted at the PSP (set in the erasing
    # transaction: an outbox), and was (``deleted_at``). Pending ones are retried.
    deletion_requested_at: Mapped[datetime | None] = mapped_column(index=True)
    deleted_at: Mapped[datetime | None]
    deletion_attempts: Mapped[int] = mapped_column(default=0, server_default=sa.text("0"))
    deletion_error: Mapped[str | None] = mapped_column(sa.String(500))


class PaymentMethod(Entity):
    __tablename__ = "payment_methods"
    __table_args__ = (
        sa.UniqueConstraint("psp", "psp_reference", name="uq_payment_methods_reference"),
        # At most one default method per customer.
        sa.Index(
            "uq_payment_methods_default",
            "customer_id",
            unique=True,
            postgresql_where=sa.text("is_default"),
            sqlite_where=sa.text("is_default"),
        ),
        sa.CheckConstraint(
            "exp_month IS NULL OR exp_month BETWEEN 1 AND 12", name="exp_month_range"
        ),
        sa.CheckConstraint("NOT (is_default AND detached_at IS NOT NULL)", name="default_attached"),
    )

    customer_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("customers.id"), index=True)
    psp: Mapped[str] = mapped_column(sa.String(32))
    psp_reference: Mapped[str] = mapped_column(sa.String(255))
    type: Mapped[str] = mapped_column(sa.String(32))
    brand: Mapped[str | None] = mapped_column(sa.String(32))
    last4: Mapped[str | None] = mapped_column(sa.String(4))
    exp_month: Mapped[int | None] = mapped_column(sa.SmallInteger)
    exp_year: Mapped[int | None] = mapped_column(sa.SmallInteger)
    wallet: Mapped[str | None] = mapped_column(sa.String(32))
    fingerprint: Mapped[str | None] = mapped_column(sa.String(64))
    # The card's issuing country (ISO 3166-1 alpha-2, from its BIN, as the PSP reports it).
    country: Mapped[str | None] = mapped_column(sa.String(2))
    email: Mapped[str | None] = mapped_column(sa.String(254))
    is_default: Mapped[bool] = mapped_column(default=False)
    detached_at: Mapped[datetime | None]
