"""Everything we hold about one customer (GDPR access and portability), as rows.

One query per table, whatever the number of payments or invoices; the GraphQL layer turns
the rows into the documented JSON (``app.schema.customer_export``).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import (
    Coupon,
    Customer,
    Dispute,
    Invoice,
    InvoiceLine,
    Payment,
    PaymentEvent,
    PaymentMethod,
    PspCustomer,
    Refund,
    Subscription,
    SubscriptionItem,
    TestClock,
)
from app.services.customers import get_customer


@dataclass(frozen=True, slots=True)
class CustomerRecords:
    customer: Customer
    test_clock: TestClock | None
    psp_customers: Sequence[PspCustomer]
    payment_methods: Sequence[PaymentMethod]
    payments: Sequence[Payment]
    payment_events: Sequence[PaymentEvent]
    refunds: Sequence[Refund]
    disputes: Sequence[Dispute]
    subscriptions: Sequence[Subscription]
    subscription_items: Sequence[SubscriptionItem]
    invoices: Sequence[Invoice]
    invoice_lines: Sequence[InvoiceLine]  # of the invoices, and pending items (no invoice)
    coupons: Sequence[Coupon]  # redeemed by the customer's subscriptions or invoices


async def _all(session: AsyncSession, statement: sa.Select[Any]) -> list[Any]:
    return list(await session.scalars(statement))


async def customer_records(session: AsyncSession, *, customer_id: uuid.UUID) -> CustomerRecords:
    customer = await get_customer(session, customer_id, "customerId")
    test_clock = (
        await session.get(TestClock, customer.test_clock_id) if customer.test_clock_id else None
    )
    payments = await _all(
        session,
        sa.select(Payment)
        .where(Payment.customer_id == customer_id)
        .order_by(Payment.created_at, Payment.id),
    )
    payment_ids = sa.select(Payment.id).where(Payment.customer_id == customer_id)
    subscriptions = await _all(
        session,
        sa.select(Subscription)
        .where(Subscription.customer_id == customer_id)
        .order_by(Subscription.created_at, Subscription.id),
    )
    subscription_ids = sa.select(Subscription.id).where(Subscription.customer_id == customer_id)
    invoices = await _all(
        session,
        sa.select(Invoice)
        .where(Invoice.customer_id == customer_id)
        .order_by(Invoice.created_at, Invoice.id),
    )
    coupon_ids = {s.coupon_id for s in subscriptions} | {i.coupon_id for i in invoices}
    coupon_ids.discard(None)
    return CustomerRecords(
        customer=customer,
        test_clock=test_clock,
        psp_customers=await _all(
            session,
            sa.select(PspCustomer)
            .where(PspCustomer.customer_id == customer_id)
            .order_by(PspCustomer.created_at, PspCustomer.id),
        ),
        payment_methods=await _all(
            session,
            sa.select(PaymentMethod)
            .where(PaymentMethod.customer_id == customer_id)
            .order_by(PaymentMethod.created_at, PaymentMethod.id),
        ),
        payments=payments,
        payment_events=await _all(
            session,
            sa.select(PaymentEvent)
            .where(PaymentEvent.payment_id.in_(payment_ids))
            .order_by(PaymentEvent.created_at, PaymentEvent.id),
        ),
        refunds=await _all(
            session,
            sa.select(Refund)
            .where(Refund.payment_id.in_(payment_ids))
            .order_by(Refund.created_at, Refund.id),
        ),
        disputes=await _all(
            session,
            sa.select(Dispute)
            .where(Dispute.payment_id.in_(payment_ids))
            .order_by(Dispute.created_at, Dispute.id),
        ),
        subscriptions=subscriptions,
        subscription_items=await _all(
            session,
            sa.select(SubscriptionItem)
            .where(SubscriptionItem.subscription_id.in_(subscription_ids))
            .order_by(SubscriptionItem.created_at, SubscriptionItem.id),
        ),
        invoices=invoices,
        invoice_lines=await _all(
            session,
            sa.select(InvoiceLine)
            .where(InvoiceLine.customer_id == customer_id)
            .order_by(InvoiceLine.created_at, InvoiceLine.id),
        ),
        coupons=await _all(
            session,
            sa.select(Coupon).where(Coupon.id.in_(coupon_ids)).order_by(Coupon.code),
        ),
    )
