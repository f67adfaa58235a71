"""Invoices: drafted from a subscription's items, finalized with a gap-free number, paid by
a payment of the customer's method (one payment per attempt, keyed by the attempt)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from app.domain.billing import BillingReason, InvoiceStatus
from app.domain.clock import Clock
from app.domain.declines import ADVICE, DeclineCode, RetryAdvice, customer_action, retry_wait
from app.domain.dunning import CollectionStopReason, CustomerAction
from app.domain.errors import UserInputError
from app.domain.ids import new_id
from app.domain.money import Money
from app.domain.payments import CaptureMethod, PaymentStatus
from app.models import (
    Invoice,
    InvoiceLine,
    InvoiceSequence,
    Payment,
    PaymentMethod,
    Price,
    Product,
    Subscription,
    SubscriptionItem,
)
from app.psp.registry import PspRegistry
from app.services.billing import coupons, credit_balance, retry_guard
from app.services.metering.pricing import is_simple, licensed_amount
from app.services.payments.create import create_payment
from app.services.payments.outcomes import Caller

PREFIX = "PG"


@dataclass(frozen=True, slots=True)
class Attempt:
    """How one attempt to collect an invoice went."""

    invoice_id: uuid.UUID
    payment: Payment | None
    paid: bool
    advice: RetryAdvice | None = None  # when it failed: what the decline advises
    action: CustomerAction | None = None  # …and what the customer must do
    wait: timedelta | None = None  # the least wait before a retry that the network asked
    refused: CollectionStopReason | None = None  # not attempted: why (the networks' rules)
    pending: bool = False  # the PSP's answer is not known yet (processing, a timeout)


def blank_invoice(
    *,
    customer_id: uuid.UUID,
    subscription_id: uuid.UUID | None,
    reason: BillingReason,
    currency: str,
    period_start: datetime,
    period_end: datetime,
    now: datetime,
) -> Invoice:
    """A new draft invoice with nothing on it yet."""
    return Invoice(
        id=new_id(),
        customer_id=customer_id,
        subscription_id=subscription_id,
        billing_reason=reason,
        status=InvoiceStatus.DRAFT,
        currency=currency,
        period_start=period_start,
        period_end=period_end,
        subtotal_minor=0,
        discount_minor=0,
        tax_minor=0,
        tax_included_minor=0,
        total_minor=0,
        amount_paid_minor=0,
        amount_credited_minor=0,
        balance_applied_minor=0,
        attempt_count=0,
        created_at=now,
        updated_at=now,
    )


async def draft_for_period(
    session: AsyncSession,
    *,
    subscription: Subscription,
    reason: BillingReason,
    period_start: datetime,
    period_end: datetime,
    clock: Clock,
) -> Invoice:
    """An invoice of one period of ``subscription`` (not committed): one line per licensed
    item at the item's locked price (metered items are billed in arrears:
    ``usage_lines.bill``)."""
    items = (
        await session.execute(
            sa.select(SubscriptionItem, Price, Product.name)
            .join(Price, Price.id == SubscriptionItem.price_id)
            .join(Product, Product.id == Price.product_id)
            .where(SubscriptionItem.subscription_id == subscription.id, Price.meter_id.is_(None))
            .order_by(SubscriptionItem.id)
        )
    ).all()
    invoice = blank_invoice(
        customer_id=subscription.customer_id,
        subscription_id=subscription.id,
        reason=reason,
        currency=subscription.currency,
        period_start=period_start,
        period_end=period_end,
        now=clock.now(),
    )
    invoice.billing_period_start = period_start  # one invoice per period (a constraint)
    session.add(invoice)
    for item, price, product_name in items:  # metered items bill in arrears (usage_lines)
        amount = licensed_amount(price, item)
        session.add(
            InvoiceLine(
                invoice_id=invoice.id,
                customer_id=subscription.customer_id,
                subscription_id=subscription.id,
                currency=subscription.currency,
                description=f"{item.quantity} x {product_name}",
                price_id=item.price_id,
                subscription_item_id=item.id,
                quantity=item.quantity,
                unit_amount_minor=item.unit_amount_minor if is_simple(price) else amount,
                amount_minor=amount,
                period_start=period_start,
                period_end=period_end,
                created_at=clock.now(),
                updated_at=clock.now(),
            )
        )
        invoice.subtotal_minor += amount
    await take_pending_items(session, invoice, subscription_id=subscription.id)
    return invoice


async def take_pending_items(
    session: AsyncSession, invoice: Invoice, *, subscription_id: uuid.UUID | None
) -> int:
    """Put the customer's pending items (one-off charges, prorations) of the invoice's
    currency on it: those of this subscription, or those of none."""
    pending = (
        await session.scalars(
            sa.select(InvoiceLine)
            .where(
                InvoiceLine.customer_id == invoice.customer_id,
                InvoiceLine.invoice_id.is_(None),
                InvoiceLine.currency == invoice.currency,
                sa.or_(
                    InvoiceLine.subscription_id.is_(None),
                    InvoiceLine.subscription_id == subscription_id,
                ),
            )
            .order_by(InvoiceLine.id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
    ).all()
    for line in pending:
        line.invoice_id = invoice.id
        invoice.subtotal_minor += line.amount_minor
    totals(invoice)
    return len(pending)


def totals(invoice: Invoice) -> None:
    """``total = subtotal - discount + tax`` (a CHECK constraint holds the database to it)."""
    invoice.total_minor = invoice.subtotal_minor - invoice.discount_minor + invoice.tax_minor


async def finalize(session: AsyncSession, invoice: Invoice, *, clock: Clock) -> None:
    """Price (discounts, tax), number and open the invoice, in the caller's transaction:
    numbers have no gaps."""
    await session.flush()
    await coupons.price_invoice(session, invoice)
    if invoice.total_minor < 0:
        _carry_credit(session, invoice, clock)
    await credit_balance.apply_to(session, invoice, clock.now())
    invoice.number = await next_number(session, PREFIX, clock)
    invoice.finalized_at = clock.now()
    invoice.due_date = clock.now()
    invoice.updated_at = clock.now()
    if amount_due(invoice) <= 0:  # nothing to collect (a credit stays with the invoice)
        invoice.status = InvoiceStatus.PAID
        invoice.paid_at = clock.now()
    else:
        invoice.status = InvoiceStatus.OPEN


def amount_due(invoice: Invoice) -> int:
    """What is left to pay: the total less payments, credit notes issued before payment,
    and the credit balance applied."""
    return (
        invoice.total_minor
        - invoice.amount_paid_minor
        - invoice.amount_credited_minor
        - invoice.balance_applied_minor
    )


async def next_number(session: AsyncSession, prefix: str, clock: Clock) -> str:
    """The next number of ``prefix``, taken under the sequence's row lock in the caller's
    transaction: sequential, without gaps or duplicates."""
    sequence = await session.scalar(
        sa.select(InvoiceSequence)
        .where(InvoiceSequence.prefix == prefix)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    if sequence is None:
        sequence = InvoiceSequence(
            prefix=prefix, next_number=1, created_at=clock.now(), updated_at=clock.now()
        )
        session.add(sequence)
        await session.flush()
    number = f"{prefix}-{sequence.next_number:06d}"
    sequence.next_number += 1
    sequence.updated_at = clock.now()
    return number


def _carry_credit(session: AsyncSession, invoice: Invoice, clock: Clock) -> None:
    """A net credit (a downgrade's proration) is not lost: the invoice closes at zero and
    the credit becomes a pending item of the customer's next invoice."""
    credit = invoice.total_minor
    common = {
        "customer_id": invoice.customer_id,
        "subscription_id": invoice.subscription_id,
        "currency": invoice.currency,
        "quantity": 1,
        "created_at": clock.now(),
        "updated_at": clock.now(),
    }
    session.add(
        InvoiceLine(id=new_id(), invoice_id=invoice.id, description="Credit carried forward",
                    unit_amount_minor=-credit, amount_minor=-credit, **common)
    )  # fmt: skip
    session.add(
        InvoiceLine(id=new_id(), invoice_id=None, description="Credit from a previous invoice",
                    unit_amount_minor=credit, amount_minor=credit, **common)
    )  # fmt: skip
    invoice.subtotal_minor -= credit
    totals(invoice)


async def collect(
    session: AsyncSession,
    *,
    psps: PspRegistry,
    clock: Clock,
    invoice_id: uuid.UUID,
    payment_method_id: uuid.UUID | None,
    off_session: bool,
    caller: Caller | None = None,
) -> Attempt:
    """One attempt to collect an open invoice, with a payment keyed by the attempt (so
    that two workers running the same attempt charge once), or by the caller's key. The
    invoice's attempts run one at a time, and none charges a card the networks' rules
    forbid charging again for it (``retry_guard``)."""
    async with retry_guard.one_attempt_at_a_time(session, invoice_id):
        return await _collect(session, psps, clock, invoice_id, payment_method_id,
                              off_session, caller)  # fmt: skip


async def _collect(
    session: AsyncSession,
    psps: PspRegistry,
    clock: Clock,
    invoice_id: uuid.UUID,
    payment_method_id: uuid.UUID | None,
    off_session: bool,
    caller: Caller | None,
) -> Attempt:
    invoice = await session.get(Invoice, invoice_id, with_for_update=True,
                                populate_existing=True)  # fmt: skip
    assert invoice is not None
    if invoice.status is not InvoiceStatus.OPEN:
        await session.commit()
        return Attempt(invoice_id, payment=None, paid=invoice.status is InvoiceStatus.PAID)
    method_id = payment_method_id or await _customer_default(session, invoice.customer_id)
    refused = (
        CollectionStopReason.NO_PAYMENT_METHOD
        if method_id is None
        else await retry_guard.refusal(
            session, invoice_id=invoice_id, payment_method_id=method_id, at=clock.now()
        )
    )
    if refused is not None:
        await session.commit()
        return Attempt(invoice_id, None, False, action=CustomerAction.ADD_PAYMENT_METHOD,
                       refused=refused)  # fmt: skip
    invoice.attempt_count += 1
    attempt, customer_id = invoice.attempt_count, invoice.customer_id
    amount = Money(amount_due(invoice), invoice.currency)
    number = invoice.number
    await session.commit()
    try:
        outcome = await create_payment(
            session,
            psps=psps,
            clock=clock,
            caller=caller or Caller("billing", f"invoice-{invoice_id}-attempt-{attempt}"),
            customer_id=customer_id,
            amount=amount.decimal_string(),
            currency=amount.currency,
            payment_method_id=method_id,
            capture_method=CaptureMethod.AUTOMATIC,
            off_session=off_session,
            return_url=None,
            description=f"Invoice {number}",
            metadata={"invoice": number or ""},
            invoice_id=invoice_id,
        )
    except UserInputError:  # the method was detached, or the customer erased
        await session.rollback()  # it may have locked rows before refusing
        return Attempt(invoice_id, None, False, action=CustomerAction.ADD_PAYMENT_METHOD,
                       refused=CollectionStopReason.NO_PAYMENT_METHOD)  # fmt: skip
    return attempt_of(invoice_id, outcome.payment)


def attempt_of(invoice_id: uuid.UUID, payment: Payment) -> Attempt:
    """What a payment of the invoice tells dunning."""
    if payment.status is PaymentStatus.SUCCEEDED:
        return Attempt(invoice_id, payment, paid=True)
    if payment.status is PaymentStatus.FAILED:
        code = DeclineCode(payment.decline_code or DeclineCode.UNKNOWN.value)
        advice = RetryAdvice(payment.decline_advice or ADVICE[code].value)
        return Attempt(
            invoice_id, payment, False, advice, customer_action(code, advice),
            retry_wait(payment.decline_network_advice_code, advice),
        )  # fmt: skip
    if payment.status is PaymentStatus.REQUIRES_ACTION:  # 3-D Secure: the customer acts
        return Attempt(invoice_id, payment, False, RetryAdvice.CUSTOMER_ACTION_REQUIRED,
                       CustomerAction.AUTHENTICATE)  # fmt: skip
    # processing, or an outcome still unknown: the PSP's answer (webhook, reconciliation)
    # settles the invoice
    return Attempt(invoice_id, payment, False, pending=True)


async def _customer_default(session: AsyncSession, customer_id: uuid.UUID) -> uuid.UUID | None:
    return await session.scalar(
        sa.select(PaymentMethod.id).where(
            PaymentMethod.customer_id == customer_id, PaymentMethod.is_default.is_(True)
        )
    )


async def default_method(session: AsyncSession, subscription: Subscription) -> uuid.UUID | None:
    if subscription.default_payment_method_id is not None:
        return subscription.default_payment_method_id
    return await session.scalar(
        sa.select(PaymentMethod.id).where(
            PaymentMethod.customer_id == subscription.customer_id,
            PaymentMethod.is_default.is_(True),
        )
    )
