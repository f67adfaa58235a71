"""Settlement of a paid invoice: what billing does when a payment of an invoice succeeds.

Payments state ``InvoicePaymentSucceeded`` (``app.services.payments.ledger``) in the
transaction that records the success, with the payment's row locked; this handler, wired by
``app.wiring``, runs in that same transaction. Nothing in billing imports this module.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from app.domain.billing import InvoiceStatus, SubscriptionStatus
from app.domain.clock import Clock
from app.domain.events import InvoicePaymentSucceeded
from app.models import Invoice, Payment, Subscription
from app.services.billing import dunning
from app.services.billing.invoices import amount_due

# What a paid invoice makes current again (an active subscription stays as it is).
SETTLED_BY_PAYMENT = (
    SubscriptionStatus.INCOMPLETE,
    SubscriptionStatus.PAST_DUE,
    SubscriptionStatus.UNPAID,
)


async def invoice_paid(session: AsyncSession, paid: InvoicePaymentSucceeded, clock: Clock) -> None:
    """A payment of an invoice succeeded (payment row locked by the caller): the invoice
    counts it, and once paid in full, its subscription is active again."""
    payment = await session.get(Payment, paid.payment_id)  # the caller's, locked
    assert payment is not None
    invoice = await session.get(Invoice, paid.invoice_id, with_for_update=True,
                                populate_existing=True)  # fmt: skip
    if invoice is None or not record_payment(invoice, payment, clock):
        return
    if invoice.status is not InvoiceStatus.PAID or invoice.subscription_id is None:
        return
    dunning.resume(invoice)
    subscription = await session.get(Subscription, invoice.subscription_id,
                                     with_for_update=True, populate_existing=True)  # fmt: skip
    assert subscription is not None
    if subscription.status in SETTLED_BY_PAYMENT:
        dunning.paid_up(subscription)
        subscription.updated_at = clock.now()


def record_payment(invoice: Invoice, payment: Payment, clock: Clock) -> bool:
    """A payment of ``invoice`` succeeded (both rows locked by the caller): mark it paid.
    Returns whether the invoice changed."""
    if invoice.status is not InvoiceStatus.OPEN:
        return False
    invoice.amount_paid_minor = min(
        invoice.total_minor, invoice.amount_paid_minor + payment.amount_received_minor
    )
    # credit notes and the credit balance paid the rest
    if amount_due(invoice) <= 0:
        invoice.status = InvoiceStatus.PAID
        invoice.paid_at = clock.now()
    invoice.updated_at = clock.now()
    return True
