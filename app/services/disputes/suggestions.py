"""Evidence suggested from what paygate knows of a disputed payment: its invoice (number,
lines, amounts, billed usage), its subscription (plan, start, current period) and its
customer (name, email, only when the caller may read them). paygate keeps no sign-in
history, so no access log is suggested. A suggestion is text for the merchant to review
and pass to ``updateDisputeEvidence``; nothing is stored.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from app.domain.errors import ErrorCode, Problem, UserInputError
from app.domain.money import Money
from app.models import (
    Customer,
    Dispute,
    Invoice,
    InvoiceLine,
    Payment,
    Price,
    Product,
    Subscription,
    SubscriptionItem,
)


@dataclass(frozen=True, slots=True)
class Suggestion:
    product_description: str | None
    uncategorized_text: str | None
    service_date: str | None
    customer_name: str | None
    customer_email_address: str | None


def _money(minor: int, currency: str) -> str:
    return f"{Money(minor, currency).decimal_string()} {currency}"


def _day(moment: object) -> str:
    return moment.date().isoformat() if hasattr(moment, "date") else str(moment)


async def suggest(
    session: AsyncSession, *, dispute_id: uuid.UUID, personal_data: bool
) -> Suggestion:
    dispute = await session.get(Dispute, dispute_id)
    if dispute is None:
        raise UserInputError(Problem(ErrorCode.NOT_FOUND, "No such dispute.", ("disputeId",)))
    payment = await session.get(Payment, dispute.payment_id)
    assert payment is not None
    customer = await session.get(Customer, payment.customer_id)
    facts: list[str] = [
        f"Payment of {_money(payment.amount_minor, payment.currency)} on "
        f"{_day(payment.created_at)} (PSP reference {payment.psp_reference or 'none'})."
    ]
    products: list[str] = []
    service_date: str | None = None
    invoice = await session.get(Invoice, payment.invoice_id) if payment.invoice_id else None
    if invoice is not None:
        facts.append(
            f"Invoice {invoice.number or '(draft)'} for {_day(invoice.period_start)} to "
            f"{_day(invoice.period_end)}, status {invoice.status.value}:"
        )
        lines = await session.scalars(
            sa.select(InvoiceLine)
            .where(InvoiceLine.invoice_id == invoice.id)
            .order_by(InvoiceLine.id)
        )
        for line in lines:
            usage = f", usage {line.usage_quantity}" if line.usage_quantity else ""
            facts.append(
                f"- {line.description}: {line.quantity} x "
                f"{_money(line.unit_amount_minor, line.currency)} = "
                f"{_money(line.amount_minor, line.currency)}{usage}"
            )
        service_date = _day(invoice.period_start)
        if invoice.subscription_id is not None:
            subscription = await session.get(Subscription, invoice.subscription_id)
            if subscription is not None:
                products = await _plan(session, subscription.id)
                facts.append(
                    f"Subscription since {_day(subscription.created_at)}, status "
                    f"{subscription.status.value}, current period "
                    f"{_day(subscription.current_period_start)} to "
                    f"{_day(subscription.current_period_end)}."
                )
    elif payment.description:
        products = [payment.description]
    show = personal_data and customer is not None and customer.erased_at is None
    return Suggestion(
        product_description="; ".join(products) or payment.description,
        uncategorized_text="\n".join(facts),
        service_date=service_date,
        customer_name=customer.name if show and customer else None,
        customer_email_address=customer.email if show and customer else None,
    )


async def _plan(session: AsyncSession, subscription_id: uuid.UUID) -> list[str]:
    rows = await session.execute(
        sa.select(Product.name, Price.nickname, SubscriptionItem.quantity)
        .join(Price, Price.id == SubscriptionItem.price_id)
        .join(Product, Product.id == Price.product_id)
        .where(SubscriptionItem.subscription_id == subscription_id)
        .order_by(SubscriptionItem.id)
    )
    return [
        f"{name}{f' ({nickname})' if nickname else ''} x {quantity}"
        for name, nickname, quantity in rows
    ]
