"""What people do with invoices: one-off items, manual invoices, finalize, pay, void,
write off. Subscriptions draft and collect their own invoices (``subscriptions``)."""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from app.domain import validation as check
from app.domain.billing import BillingReason, InvoiceStatus
from app.domain.clock import Clock
from app.domain.dunning import CollectionStopReason
from app.domain.errors import ErrorCode, Problem, Problems, UserInputError
from app.domain.ids import new_id
from app.domain.money import MAX_MINOR, parse_money
from app.models import Invoice, InvoiceLine, Subscription
from app.psp.registry import PspRegistry
from app.services import test_clocks
from app.services.billing import invoices
from app.services.customers import live_customer
from app.services.payments.outcomes import Caller


async def create_invoice_item(
    session: AsyncSession,
    *,
    clock: Clock,
    customer_id: uuid.UUID,
    amount: str,
    currency: str,
    description: str,
    subscription_id: uuid.UUID | None,
) -> InvoiceLine:
    """A one-off charge (or credit, when negative) for the customer's next invoice."""
    problems = Problems()
    text = check.text(problems, description, "description", max_length=500, required=True)
    money = None
    try:
        money = parse_money(amount, currency, allow_negative=True, field=("amount",))
        if money.amount_minor == 0 or abs(money.amount_minor) > MAX_MINOR // 1000:
            problems.add(ErrorCode.INVALID_AMOUNT, "A non-zero, reasonable amount.", "amount")
    except UserInputError as error:
        problems.extend(error.problems)
    problems.raise_if_any()
    assert money is not None and text is not None
    await live_customer(session, customer_id, "customerId")
    if subscription_id is not None:
        subscription = await session.get(Subscription, subscription_id)
        if subscription is None or subscription.customer_id != customer_id:
            raise UserInputError(
                Problem(ErrorCode.NOT_FOUND, "No such subscription.", ("subscriptionId",))
            )
    now = (await test_clocks.clock_of(session, customer_id, clock)).now()
    line = InvoiceLine(
        id=new_id(),
        customer_id=customer_id,
        subscription_id=subscription_id,
        currency=money.currency,
        description=text,
        quantity=1,
        unit_amount_minor=money.amount_minor,
        amount_minor=money.amount_minor,
        proration=False,
        created_at=now,
        updated_at=now,
    )
    session.add(line)
    await session.commit()
    return line


async def create_invoice(
    session: AsyncSession, *, clock: Clock, customer_id: uuid.UUID, currency: str
) -> Invoice:
    """A draft invoice of the customer's pending items in ``currency``."""
    problems = Problems()
    check.currency(problems, currency, "currency")
    problems.raise_if_any()
    await live_customer(session, customer_id, "customerId")
    now = (await test_clocks.clock_of(session, customer_id, clock)).now()
    invoice = invoices.blank_invoice(
        customer_id=customer_id,
        subscription_id=None,
        reason=BillingReason.MANUAL,
        currency=currency,
        period_start=now,
        period_end=now,
        now=now,
    )
    session.add(invoice)
    await session.flush()
    if not await invoices.take_pending_items(session, invoice, subscription_id=None):
        await session.rollback()
        raise UserInputError(
            Problem(
                ErrorCode.INVALID_STATE,
                f"The customer has no pending items in {currency}: add some with "
                "createInvoiceItem first.",
                ("currency",),
            )
        )
    await session.commit()
    return invoice


async def _invoice(session: AsyncSession, invoice_id: uuid.UUID) -> Invoice:
    invoice = await session.get(Invoice, invoice_id, with_for_update=True,
                                populate_existing=True)  # fmt: skip
    if invoice is None:
        raise UserInputError(Problem(ErrorCode.NOT_FOUND, "No such invoice.", ("invoiceId",)))
    return invoice


def _state(invoice: Invoice, wanted: tuple[InvoiceStatus, ...], action: str) -> None:
    if invoice.status not in wanted:
        raise UserInputError(
            Problem(
                ErrorCode.INVALID_STATE,
                f"A {invoice.status.value} invoice cannot be {action}.",
                ("invoiceId",),
            )
        )


async def finalize_invoice(
    session: AsyncSession, *, clock: Clock, invoice_id: uuid.UUID
) -> Invoice:
    invoice = await _invoice(session, invoice_id)
    _state(invoice, (InvoiceStatus.DRAFT,), "finalized")
    await invoices.finalize(
        session, invoice, clock=await test_clocks.clock_of(session, invoice.customer_id, clock)
    )
    await session.commit()
    return invoice


async def pay_invoice(
    session: AsyncSession,
    *,
    psps: PspRegistry,
    clock: Clock,
    caller: Caller,
    invoice_id: uuid.UUID,
    payment_method_id: uuid.UUID | None,
) -> Invoice:
    """Collect an open invoice now, with the customer present (a 3DS step is possible)."""
    invoice = await _invoice(session, invoice_id)
    _state(invoice, (InvoiceStatus.OPEN, InvoiceStatus.PAID), "paid")
    try:
        await live_customer(session, invoice.customer_id, "invoiceId")
    except UserInputError:
        await session.rollback()
        raise
    customer_clock = await test_clocks.clock_of(session, invoice.customer_id, clock)
    method = payment_method_id
    if method is None and invoice.subscription_id is not None:
        subscription = await session.get(Subscription, invoice.subscription_id)
        assert subscription is not None
        method = await invoices.default_method(session, subscription)
    await session.commit()
    attempt = await invoices.collect(
        session, psps=psps, clock=customer_clock, invoice_id=invoice_id,
        payment_method_id=method, off_session=False,
        caller=Caller(caller.principal, f"pay-invoice:{caller.idempotency_key}"),
    )  # fmt: skip
    if attempt.refused in _NETWORK_RULES:
        raise UserInputError(
            Problem(
                ErrorCode.RETRY_NOT_ALLOWED,
                f"{_NETWORK_RULES[attempt.refused]} Pay with another payment method.",
                ("paymentMethodId",),
            )
        )
    paid = await session.get(Invoice, invoice_id, populate_existing=True)  # no lock to hold
    assert paid is not None
    return paid


# A card the networks' rules forbid charging again for an invoice (``retry_guard``).
_NETWORK_RULES = {
    CollectionStopReason.PAYMENT_METHOD_REFUSED: (
        "This payment method was declined for this invoice with a decline that must not be "
        "retried, and is not charged again."
    ),
    CollectionStopReason.RETRY_LIMIT_REACHED: (
        "This card was tried for this invoice as often as the card networks allow."
    ),
}


async def void_invoice(session: AsyncSession, *, clock: Clock, invoice_id: uuid.UUID) -> Invoice:
    """Cancel an open invoice that nobody will pay (a mistake): it keeps its number."""
    invoice = await _invoice(session, invoice_id)
    _state(invoice, (InvoiceStatus.OPEN, InvoiceStatus.DRAFT), "voided")
    if invoice.amount_paid_minor:
        raise UserInputError(
            Problem(
                ErrorCode.INVALID_STATE,
                "Part of it is paid: refund the payment instead.",
                ("invoiceId",),
            )
        )
    now = (await test_clocks.clock_of(session, invoice.customer_id, clock)).now()
    invoice.status, invoice.voided_at, invoice.updated_at = InvoiceStatus.VOID, now, now
    await session.commit()
    return invoice


async def mark_uncollectible(
    session: AsyncSession, *, clock: Clock, invoice_id: uuid.UUID
) -> Invoice:
    """Write an open invoice off as a bad debt (it may still be paid later)."""
    invoice = await _invoice(session, invoice_id)
    _state(invoice, (InvoiceStatus.OPEN,), "marked uncollectible")
    invoice.status = InvoiceStatus.UNCOLLECTIBLE
    invoice.updated_at = (await test_clocks.clock_of(session, invoice.customer_id, clock)).now()
    await session.commit()
    return invoice
