"""Subscriptions, invoices and test clocks: billing lives in our database; PSPs only
collect the payments of invoices."""

from __future__ import annotations

import uuid
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from app.domain.billing import (
    BillingReason,
    CouponDuration,
    InvoiceStatus,
    RecurringInterval,
    SubscriptionStatus,
)
from app.domain.dunning import CollectionStopReason, CustomerAction
from app.models.base import Base, Entity, UTCDateTime, enum_column


class CollectionStopped:
    """Why automatic collection stopped and what the customer must do (null: it did not):
    on a subscription, and on the invoice it stopped on."""

    collection_stop_reason: Mapped[CollectionStopReason | None] = mapped_column(
        enum_column(CollectionStopReason, "collection_stop_reason")
    )
    collection_stop_action: Mapped[CustomerAction | None] = mapped_column(
        enum_column(CustomerAction, "customer_action")
    )
    collection_stopped_at: Mapped[datetime | None]


class TestClock(Entity):
    """A simulated clock (sandbox mode): customers attached to it live on its time."""

    __tablename__ = "test_clocks"
    __test__ = False  # not a pytest test class

    name: Mapped[str] = mapped_column(sa.String(256))
    frozen_time: Mapped[datetime]


class Coupon(Entity):
    """A discount customers redeem by code: a percentage or a fixed amount, for one
    invoice, some months, or for ever."""

    __tablename__ = "coupons"
    __table_args__ = (
        sa.CheckConstraint(
            "(percent_off_bp IS NOT NULL AND percent_off_bp BETWEEN 1 AND 10000 "
            "AND amount_off_minor IS NULL) OR (percent_off_bp IS NULL AND amount_off_minor > 0 "
            "AND currency IS NOT NULL)",
            name="one_kind",
        ),
        sa.CheckConstraint(
            "max_redemptions IS NULL OR times_redeemed <= max_redemptions",
            name="redemptions_within_max",
        ),
    )

    code: Mapped[str] = mapped_column(sa.String(64), unique=True)
    name: Mapped[str] = mapped_column(sa.String(256))
    percent_off_bp: Mapped[int | None]
    amount_off_minor: Mapped[int | None] = mapped_column(sa.BigInteger)
    currency: Mapped[str | None] = mapped_column(sa.String(3))
    duration: Mapped[CouponDuration] = mapped_column(enum_column(CouponDuration, "coupon_duration"))
    duration_in_months: Mapped[int | None]
    max_redemptions: Mapped[int | None]
    times_redeemed: Mapped[int] = mapped_column(default=0)
    redeem_by: Mapped[datetime | None]
    active: Mapped[bool] = mapped_column(default=True)


class TaxRate(Entity):
    """A tax rate of a country (or of every country when ``country`` is null)."""

    __tablename__ = "tax_rates"
    __table_args__ = (
        sa.CheckConstraint("percentage_bp BETWEEN 0 AND 10000", name="percentage_range"),
    )

    display_name: Mapped[str] = mapped_column(sa.String(64))
    percentage_bp: Mapped[int]
    inclusive: Mapped[bool]
    country: Mapped[str | None] = mapped_column(sa.String(2), index=True)
    active: Mapped[bool] = mapped_column(default=True)


class Subscription(CollectionStopped, Entity):
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
    coupon_id: Mapped[uuid.UUID | None] = mapped_column(sa.ForeignKey("coupons.id"))
    # The coupon applies to invoices of periods starting before this time (null: for ever)…
    discount_until: Mapped[datetime | None]
    # …and to this many more invoices (null: no count; 1 for a coupon of one invoice).
    discount_uses_left: Mapped[int | None]
    # Dunning: when the open invoice is retried next, and how many retries were made.
    next_retry_at: Mapped[datetime | None] = mapped_column(index=True)
    retry_count: Mapped[int] = mapped_column(default=0)
    # The pricing experiment, variant and assignment it was sold under (if any).
    experiment_id: Mapped[uuid.UUID | None] = mapped_column(
        sa.ForeignKey("experiments.id"), index=True
    )
    experiment_variant_id: Mapped[uuid.UUID | None] = mapped_column(
        sa.ForeignKey("experiment_variants.id")
    )
    experiment_assignment_id: Mapped[uuid.UUID | None] = mapped_column(
        sa.ForeignKey(
            "experiment_assignments.id", name="fk_subscriptions_experiment_assignment_id"
        ),
        index=True,
    )
    # Usage billing: the draft invoice of the last boundary is finalized at this time, once
    # the grace window for late usage has passed (null: no invoice waits).
    invoice_finalizes_at: Mapped[datetime | None]
    # Progressive billing: when the usage billed so far in a period reaches this amount,
    # it is invoiced at once (null: only at the period's end).
    usage_threshold_minor: Mapped[int | None] = mapped_column(sa.BigInteger)


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


class Invoice(CollectionStopped, Entity):
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
        sa.Index("ix_invoices_subscription_id_id", "subscription_id", "id"),
    )

    customer_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("customers.id"), index=True)
    # indexed with the (time-ordered) key: a subscription's latest invoices by one backward
    # index scan, without sorting its whole history (ix_invoices_subscription_id_id)
    subscription_id: Mapped[uuid.UUID | None] = mapped_column(sa.ForeignKey("subscriptions.id"))
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
    tax_minor: Mapped[int] = mapped_column(sa.BigInteger, default=0)  # exclusive, added
    tax_included_minor: Mapped[int] = mapped_column(  # inside the lines' amounts
        sa.BigInteger, default=0, server_default=sa.text("0")
    )
    total_minor: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    coupon_id: Mapped[uuid.UUID | None] = mapped_column(sa.ForeignKey("coupons.id"))
    tax_rate_id: Mapped[uuid.UUID | None] = mapped_column(sa.ForeignKey("tax_rates.id"))
    amount_paid_minor: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    # What credit notes took off the amount due before payment (issued notes only), and
    # what the customer's credit balance paid of it at finalization.
    amount_credited_minor: Mapped[int] = mapped_column(
        sa.BigInteger, default=0, server_default=sa.text("0")
    )
    balance_applied_minor: Mapped[int] = mapped_column(
        sa.BigInteger, default=0, server_default=sa.text("0")
    )
    attempt_count: Mapped[int] = mapped_column(default=0)
    due_date: Mapped[datetime | None]
    finalized_at: Mapped[datetime | None]
    paid_at: Mapped[datetime | None]
    voided_at: Mapped[datetime | None]
    # The usage this invoice bills in arrears runs from here to ``period_start`` (null: none,
    # e.g. after a trial, whose usage is free).
    usage_period_start: Mapped[datetime | None]


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
    discount_minor: Mapped[int] = mapped_column(
        sa.BigInteger, default=0, server_default=sa.text("0")
    )
    tax_minor: Mapped[int] = mapped_column(sa.BigInteger, default=0, server_default=sa.text("0"))
    tax_included_minor: Mapped[int] = mapped_column(
        sa.BigInteger, default=0, server_default=sa.text("0")
    )
    proration: Mapped[bool] = mapped_column(default=False)
    period_start: Mapped[datetime | None]
    period_end: Mapped[datetime | None]
    # A usage line: the meter's quantity it bills (exact decimal text); an adjustment bills
    # the difference that late usage made to an earlier, finalized period.
    usage_quantity: Mapped[str | None] = mapped_column(sa.String(80))
    usage_adjustment: Mapped[bool] = mapped_column(default=False, server_default=sa.text("false"))


class InvoiceMethodRetry(Base):
    """An invoice retried at once with a payment method the customer has just made their
    default (Stripe does the same): the primary key makes it once per invoice and method,
    however many times the method is set, on every database."""

    __tablename__ = "invoice_method_retries"

    invoice_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("invoices.id"), primary_key=True)
    payment_method_id: Mapped[uuid.UUID] = mapped_column(
        sa.ForeignKey("payment_methods.id"), primary_key=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
