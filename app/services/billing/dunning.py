"""Dunning: what a failed collection attempt of a subscription's invoice leads to, and the
retry at once when the customer gives a new default payment method.

The decline's advice decides (``app.domain.declines``, following the card networks):
- ``RETRY_LATER``: the next retry of the policy's schedule (never sooner than a network's
  advice code asks), within the networks' caps (``retry_guard`` refuses beyond them);
- ``DO_NOT_RETRY``, or the caps reached: the schedule stops at once; the subscription is
  ``PAST_DUE`` waiting for a new payment method (renewals are invoiced, not charged);
- ``CUSTOMER_ACTION_REQUIRED``: nothing is retried; the customer acts (pays the invoice
  while present, updates the card, calls their bank).
Why collection stopped and what the customer must do is kept on the subscription and on
the invoice (``collection_stop_*``), cleared when the invoice is paid or retries resume.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app.domain.billing import DunningPolicy, InvoiceStatus, SubscriptionStatus
from app.domain.clock import Clock, FrozenClock
from app.domain.declines import RetryAdvice
from app.domain.dunning import WAITS_FOR_NEW_METHOD, CollectionStopReason, CustomerAction
from app.domain.subscription_states import DUNNABLE, Reason, transition
from app.models import Invoice, InvoiceMethodRetry, Subscription
from app.models.billing import CollectionStopped
from app.psp.registry import PspRegistry
from app.services import test_clocks
from app.services.billing import invoices
from app.services.payments.outcomes import Caller

DEFAULT_POLICY = DunningPolicy()
# Subscriptions whose open invoices a new default payment method retries (as Stripe does).
DUNNED = (SubscriptionStatus.PAST_DUE, SubscriptionStatus.UNPAID)


def stop(
    row: CollectionStopped, reason: CollectionStopReason, action: CustomerAction, at: datetime
) -> None:
    row.collection_stop_reason = reason
    row.collection_stop_action = action
    row.collection_stopped_at = at


def resume(row: CollectionStopped) -> None:
    row.collection_stop_reason = None
    row.collection_stop_action = None
    row.collection_stopped_at = None


def paid_up(subscription: Subscription) -> None:
    """Its invoice is paid: active again, its retry schedule and collection stop cleared."""
    subscription.status = transition(
        subscription.status, SubscriptionStatus.ACTIVE, Reason.INVOICE_PAID
    )
    subscription.retry_count = 0
    subscription.next_retry_at = None
    resume(subscription)


async def after_attempt(
    session: AsyncSession,
    subscription_id: uuid.UUID,
    attempt: invoices.Attempt,
    at: FrozenClock,
    *,
    first: bool,
    policy: DunningPolicy = DEFAULT_POLICY,
) -> None:
    """Move the subscription on after an attempt to collect its invoice: ``first`` for a
    renewal's first charge (or a new payment method's), which starts the schedule."""
    # invoice, then subscription: the order in which a settling payment locks them
    invoice = await session.get(Invoice, attempt.invoice_id, with_for_update=True,
                                populate_existing=True)  # fmt: skip
    subscription = await session.get(Subscription, subscription_id, with_for_update=True,
                                     populate_existing=True)  # fmt: skip
    assert invoice is not None and subscription is not None
    now = at.now()
    if subscription.status not in DUNNABLE:  # paused or canceled since: that decided
        await session.commit()
        return
    if attempt.paid:
        paid_up(subscription)
    elif invoice.status is not InvoiceStatus.OPEN:
        pass  # paid, voided or written off meanwhile: that decided already
    elif attempt.pending:  # the PSP's answer settles it
        subscription.status = _dunned(subscription, Reason.PAYMENT_PENDING)
        subscription.next_retry_at = None
    elif attempt.refused is None and attempt.advice is RetryAdvice.RETRY_LATER:
        _schedule(subscription, invoice, attempt, now, first=first, policy=policy)
    else:
        reason = attempt.refused or (
            CollectionStopReason.PAYMENT_METHOD_REFUSED
            if attempt.advice is RetryAdvice.DO_NOT_RETRY
            else CollectionStopReason.CUSTOMER_ACTION_REQUIRED
        )
        action = attempt.action or CustomerAction.ADD_PAYMENT_METHOD
        subscription.status = _dunned(subscription, Reason.COLLECTION_STOPPED)
        subscription.next_retry_at = None
        stop(subscription, reason, action, now)
        stop(invoice, reason, action, now)
        invoice.updated_at = now
    subscription.updated_at = now
    await session.commit()


def _dunned(subscription: Subscription, reason: Reason) -> SubscriptionStatus:
    """Past due, or still unpaid when dunning had already given up."""
    if subscription.status is SubscriptionStatus.UNPAID:
        return transition(subscription.status, SubscriptionStatus.UNPAID, reason)
    return transition(subscription.status, SubscriptionStatus.PAST_DUE, reason)


def _schedule(
    subscription: Subscription,
    invoice: Invoice,
    attempt: invoices.Attempt,
    now: datetime,
    *,
    first: bool,
    policy: DunningPolicy,
) -> None:
    """The next retry of the policy's schedule (days after the first failure), or its end."""
    retries = 0 if first else subscription.retry_count + 1
    subscription.retry_count = retries
    days = policy.retry_days
    if retries < len(days):
        waited = days[retries - 1] if retries else 0
        due = now + timedelta(days=days[retries] - waited)
        if attempt.wait is not None:  # a network's advice code: not sooner than asked
            due = max(due, now + attempt.wait)
        subscription.status = transition(
            subscription.status, SubscriptionStatus.PAST_DUE, Reason.RETRY_SCHEDULED
        )
        subscription.next_retry_at = due
        resume(subscription)
        resume(invoice)
        return
    subscription.status = transition(
        subscription.status, policy.final_status, Reason.RETRIES_EXHAUSTED
    )
    subscription.next_retry_at = None
    if policy.final_status is SubscriptionStatus.CANCELED:
        subscription.ended_at = now
    reason, action = CollectionStopReason.RETRIES_EXHAUSTED, CustomerAction.ADD_PAYMENT_METHOD
    stop(subscription, reason, action, now)
    stop(invoice, reason, action, now)
    invoice.updated_at = now


async def retry_with_new_default(
    session: AsyncSession,
    *,
    psps: PspRegistry,
    clock: Clock,
    customer_id: uuid.UUID,
    payment_method_id: uuid.UUID,
    policy: DunningPolicy = DEFAULT_POLICY,
) -> int:
    """The customer made ``payment_method_id`` their default: retry each open invoice of
    their past-due and unpaid subscriptions with it at once (off session, as a renewal),
    once per invoice and method however many times it is set (a row keyed by both,
    committed before the charge). Subscriptions that waited for a new payment method bill
    the customer's default from now on. Returns how many invoices were retried."""
    now = FrozenClock((await test_clocks.clock_of(session, customer_id, clock)).now())
    dunned = sa.and_(Subscription.customer_id == customer_id, Subscription.status.in_(DUNNED))
    for waiting in await session.scalars(
        sa.select(Subscription)
        .where(
            dunned,
            Subscription.collection_stop_reason.in_(WAITS_FOR_NEW_METHOD),
            Subscription.default_payment_method_id.is_not(None),
        )
        .with_for_update()
    ):  # row by row, so that each change states its event
        waiting.default_payment_method_id = None
        waiting.updated_at = now.now()
    open_invoices = (
        await session.execute(
            sa.select(Invoice.id, Invoice.subscription_id)
            .join(Subscription, Subscription.id == Invoice.subscription_id)
            .where(dunned, Invoice.status == InvoiceStatus.OPEN)
            .order_by(Invoice.period_start, Invoice.id)
        )
    ).all()
    await session.commit()
    retried = 0
    for invoice_id, subscription_id in open_invoices:
        session.add(InvoiceMethodRetry(invoice_id=invoice_id, payment_method_id=payment_method_id,
                                       created_at=now.now()))  # fmt: skip
        try:
            await session.commit()
        except IntegrityError:  # retried with this method before (or right now, elsewhere)
            await session.rollback()
            continue
        attempt = await invoices.collect(
            session, psps=psps, clock=now, invoice_id=invoice_id,
            payment_method_id=payment_method_id, off_session=True,
            caller=Caller("billing", f"invoice-{invoice_id}-method-{payment_method_id}"),
        )  # fmt: skip
        assert subscription_id is not None
        await after_attempt(session, subscription_id, attempt, now, first=True, policy=policy)
        retried += 1
    await _nothing_left_to_wait_for(session, customer_id, now.now())
    return retried


async def _nothing_left_to_wait_for(
    session: AsyncSession, customer_id: uuid.UUID, now: datetime
) -> None:
    """A subscription that waited for a new payment method with no open invoice left (it
    was voided, say) charges the new one at its next renewal."""
    has_open = (
        sa.select(Invoice.id)
        .where(Invoice.subscription_id == Subscription.id, Invoice.status == InvoiceStatus.OPEN)
        .exists()
    )
    for waiting in await session.scalars(
        sa.select(Subscription)
        .where(
            Subscription.customer_id == customer_id,
            Subscription.collection_stop_reason.in_(WAITS_FOR_NEW_METHOD),
            ~has_open,
        )
        .with_for_update()
    ):  # row by row, so that each change states its event
        waiting.collection_stop_reason = None
        waiting.collection_stop_action = None
        waiting.collection_stopped_at = None
        waiting.updated_at = now
    await session.commit()
