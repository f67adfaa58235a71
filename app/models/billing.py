"""Subscriptions, invoices and test clocks: billing lives in our database; PSPs only
collect the payments of invoices."""

from __future__ import annotations

import uuid
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from app.domain.billing import (
    BillingReason,
    InvoiceStatus,
    RecurringInterval,
    SubscriptionStatus,
)
from app.models.base import Entity, enum_column


class TestClock(Entity):
    """A simulated clock (sandbox mode): customers attached to it live on its time."""

    __tablename__ = "test_clocks"
    __test__ = False  # not a pytest test class

    name: Mapped[str] = mapped_column(sa.String(256))
    frozen_time: Mapped[datetime]


class Subscription(Entity):
    __tablename__ = "subscriptions"

    customer_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("customers.id"), index=True)
    status: Mapped[SubscriptionStatus] = mapped_column(
        enum_column(SubscriptionStatus, "subscription_status")
    )
    currency: Mapped[str] = mapped_column(sa.String(3))
    interval: Mapped[RecurringInterval] = mapped_column(
        enum_column(RecurringInterval, "subscription_interval", 16)
    )
    interval_count: Mapped[int] = mapped_column(sa.SmallInteger)
    billing_cycle_anchor: Mapped[datetime]
    current_period_start: Mapped[datetime]
    current_period_end: Mapped[datetime] = mapped_column(index=True)
    trial_start: Mapped[datetime | None]
    trial_end: Mapped[datetime | None]
    cancel_at_period_end: Mapped[bool] = mapped_column(default=False)
    canceled_at: Mapped[datetime | None]
    ended_at: Mapped[datetime | None]
    default_payment_method_id: Mapped[uuid.UUID | None] = mapped_column(
        sa.ForeignKey("payment_methods.id")
    )
    # Dunning: when the open invoice is retried next, and how many retries were made.
    next_retry_at: Mapped[datetime | None] = mapped_column(index=True)
    retry_count: Mapped[int] = mapped_column(default=0)


class SubscriptionItem(Entity):
    """A price on a subscription, at the amount it was sold at (locked for its life)."""

    __tablename__ = "subscription_items"
    __table_args__ = (
        sa.CheckConstraint("quantity >= 1", name="quantity_positive"),
        sa.CheckConstraint("unit_amount_minor >= 0", name="unit_amount_not_negative"),
    )

    subscription_id: Mapped[uuid.UUID] = mapped_column(
        sa.ForeignKey("subscriptions.id"), index=True
    )
    price_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("prices.id"))
    quantity: Mapped[int]
    unit_amount_minor: Mapped[int] = mapped_column(sa.BigInteger)


class InvoiceSequence(Entity):
    """The next number of each invoice prefix: numbers are taken in the finalizing
    transaction, so they are sequential without gaps."""

    __tablename__ = "invoice_sequences"

    prefix: Mapped[str] = mapped_column(sa.String(16), unique=True)
    next_number: Mapped[int] = mapped_column(sa.BigInteger)


class Invoice(Entity):
    __tablename__ = "invoices"
    __table_args__ = (
        # One invoice per subscription period: several workers can never bill it twice.
        sa.UniqueConstraint(
            "subscription_id", "billing_period_start", name="uq_invoices_subscription_period"
        ),
        sa.CheckConstraint(
            "total_minor = subtotal_minor - discount_minor + tax_minor", name="total_adds_up"
        ),
        sa.CheckConstraint(
            "amount_paid_minor = 0 OR amount_paid_minor BETWEEN 0 AND total_minor",
            name="paid_within",
        ),
    )

    customer_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("customers.id"), index=True)
    subscription_id: Mapped[uuid.UUID | None] = mapped_column(
        sa.ForeignKey("subscriptions.id"), index=True
    )
    # Set for the invoices of a billing period (creation and renewals), null for others.
    billing_period_start: Mapped[datetime | None]
    billing_reason: Mapped[BillingReason] = mapped_column(
        enum_column(BillingReason, "billing_reason")
    )
    number: Mapped[str | None] = mapped_column(sa.String(32), unique=True)
    status: Mapped[InvoiceStatus] = mapped_column(enum_column(InvoiceStatus, "invoice_status"))
    currency: Mapped[str] = mapped_column(sa.String(3))
    period_start: Mapped[datetime]
    period_end: Mapped[datetime]
    subtotal_minor: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    discount_minor: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    tax_minor: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    total_minor: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    amount_paid_minor: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    attempt_count: Mapped[int] = mapped_column(default=0)
    due_date: Mapped[datetime | None]
    finalized_at: Mapped[datetime | None]
    paid_at: Mapped[datetime | None]
    voided_at: Mapped[datetime | None]


class InvoiceLine(Entity):
    """A line of an invoice, or a pending item (no invoice yet) that the customer's next
    invoice will carry: one-off charges and the prorations of subscription changes."""

    __tablename__ = "invoice_lines"

    invoice_id: Mapped[uuid.UUID | None] = mapped_column(sa.ForeignKey("invoices.id"), index=True)
    customer_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("customers.id"), index=True)
    subscription_id: Mapped[uuid.UUID | None] = mapped_column(sa.ForeignKey("subscriptions.id"))
    currency: Mapped[str] = mapped_column(sa.String(3))
    description: Mapped[str] = mapped_column(sa.String(500))
    price_id: Mapped[uuid.UUID | None] = mapped_column(sa.ForeignKey("prices.id"))
    subscription_item_id: Mapped[uuid.UUID | None] = mapped_column(
        sa.ForeignKey("subscription_items.id")
    )
    quantity: Mapped[int] = mapped_column(default=1)
    unit_amount_minor: Mapped[int] = mapped_column(sa.BigInteger)
    amount_minor: Mapped[int] = mapped_column(sa.BigInteger)
    proration: Mapped[bool] = mapped_column(default=False)
    period_start: Mapped[datetime | None]
    period_end: Mapped[datetime | None]
